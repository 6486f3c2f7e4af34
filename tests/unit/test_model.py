"""Model core: shapes, ZLL identity, stage gradients, masked attention, K'/V' cache, sizes."""
import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel

from twgtm import canvas
from twgtm.model.network import PARTS, TWGTM, build_model, part_of
from twgtm.model.taskformer import MultiHeadAttention, attention_mask_from_probs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny").eval()


def _inputs(model, task, axis, batch, h=48, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    person = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    garment = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    mask = (torch.rand(batch, 1, h, w, generator=g) > 0.5).float()
    if task == "tryon":
        cv, reference = canvas.tryon_canvas(person, garment, mask, axis), garment
    else:
        cv, reference = canvas.tryoff_canvas(person, mask, axis, garment=garment), person
    with torch.no_grad():
        z = model.encode(cv.image)
        zm = model.encode(cv.masked)
    ml = canvas.latent_mask(cv.mask, z.shape[-2:])
    x = canvas.unet_input(torch.randn(z.shape, generator=g), ml, zm)
    ids, am = model.tokenize(["upper"] * batch)
    return x, reference, ids, am, z


@pytest.mark.parametrize("task", ["tryon", "tryoff"])
@pytest.mark.parametrize("axis", ["width", "height"])
@pytest.mark.parametrize("batch", [1, 3])
def test_shapes(model, task, axis, batch):
    model.set_stage(2)
    x, ref, ids, am, z = _inputs(model, task, axis, batch)
    assert x.shape[1] == 9
    expect = (batch, 4, 6, 8) if axis == "width" else (batch, 4, 12, 4)
    assert z.shape == expect
    with torch.no_grad():
        out = model(x, torch.full((batch,), 500), ref, ids, am)
    assert out.noise_pred.shape == expect
    h1 = model.config.srm_image_size[0] // 4
    assert out.garment_mask_logits.shape == (batch, 1, h1, h1)
    assert torch.isfinite(out.noise_pred).all()


@pytest.mark.parametrize("axis", ["width", "height"])
def test_odd_latent_sizes(model, axis):
    """Person 40×24 px -> latent 5×3 per half: odd sizes run through the UNet."""
    model.set_stage(2)
    x, ref, ids, am, z = _inputs(model, "tryon", axis, 2, h=40, w=24)
    assert z.shape[-2:] == ((5, 6) if axis == "width" else (10, 3))
    with torch.no_grad():
        out = model(x, torch.tensor([1, 999]), ref, ids, am)
    assert out.noise_pred.shape == z.shape


def test_canvas_split_and_null():
    a, b = torch.randn(2, 3, 8, 6), torch.randn(2, 3, 8, 6)
    m = torch.zeros(2, 1, 8, 6)
    m[:, :, 2:5, 1:4] = 1
    for axis in ("width", "height"):
        cv = canvas.tryon_canvas(a, b, m, axis)
        t, r = canvas.split(cv.image, axis)
        assert torch.equal(t, a) and torch.equal(r, b)
        mt, mr = canvas.split(cv.mask, axis)
        assert torch.equal(mt, m) and mr.abs().sum() == 0
        assert torch.equal(canvas.split(cv.masked, axis)[0], a * (1 - m))
        nt, nr = canvas.split(canvas.null_reference(cv.image, axis), axis)
        assert torch.equal(nt, a) and nr.abs().sum() == 0
    cv = canvas.tryoff_canvas(a, m, "width")
    assert torch.equal(canvas.split(cv.image, "width")[1], a)
    lm = canvas.latent_mask(torch.rand(1, 1, 16, 16), (4, 4))
    assert set(lm.unique().tolist()) <= {0.0, 1.0}


def _bare_unet(model):
    bare = UNet2DConditionModel(**model.config.unet)
    bare.load_state_dict(model.unet.state_dict())
    return bare.eval()


def test_zll_zero_equals_backbone_then_one_step_departs():
    torch.manual_seed(1)
    model = build_model("tiny").eval()
    model.set_stage(2)
    bare = _bare_unet(model)
    x, ref, ids, am, _ = _inputs(model, "tryon", "width", 2)
    t = torch.tensor([300, 700])
    with torch.no_grad():
        feats = model.encode_reference(ref, ids, am)
        assert feats.srm_tokens is not None
        model.set_reference(feats.srm_tokens)
        ours = model.unet_step(x, t, feats.sam_tokens)
        theirs = bare(x, t, encoder_hidden_states=feats.sam_tokens).sample
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0), (ours - theirs).abs().max()
    # One optimiser step on the ZLLs only: the output must change.
    zll = [p for n, p in model.named_parameters() if ".zll." in n]
    opt = torch.optim.SGD(zll, lr=1.0)
    target = torch.randn_like(ours)
    model.set_reference(feats.srm_tokens.detach())
    loss = F.mse_loss(model.unet_step(x, t, feats.sam_tokens.detach()), target)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in zll)
    opt.step()
    with torch.no_grad():
        model.set_reference(feats.srm_tokens)
        after = model.unet_step(x, t, feats.sam_tokens)
    assert (after - theirs).abs().max() > 1e-4


def _grads_by_part(model, stage, perturb_zll=False):
    model.set_stage(stage)
    model.zero_grad(set_to_none=True)
    if perturb_zll:
        with torch.no_grad():
            for n, p in model.named_parameters():
                if ".zll." in n:
                    p.normal_(0, 0.05)
    x, ref, ids, am, _ = _inputs(model, "tryoff", "width", 2)
    out = model(x, torch.tensor([100, 800]), ref, ids, am)
    mask_target = (torch.rand_like(out.garment_mask_logits) > 0.5).float()
    loss = out.noise_pred.pow(2).mean()
    if stage == 1:
        loss = loss + F.binary_cross_entropy_with_logits(out.garment_mask_logits, mask_target)
    loss.backward()
    got = {part: False for part in PARTS}
    for n, p in model.named_parameters():
        if p.grad is not None and p.grad.abs().sum() > 0:
            got[part_of(n)] = True
    return got


def test_stage_gradients():
    torch.manual_seed(2)
    model = build_model("tiny")
    g1 = _grads_by_part(model, 1)
    assert g1["unet"] and g1["qformer"] and g1["taskformer"]
    assert not any(g1[p] for p in ("vae", "clip", "swin", "srm_decoder", "extended_attention"))
    g2 = _grads_by_part(model, 2, perturb_zll=True)
    assert g2["unet"] and g2["qformer"] and g2["taskformer"] and g2["srm_decoder"] and g2["extended_attention"]
    assert not any(g2[p] for p in ("vae", "clip", "swin"))
    # ZLL itself gets a gradient even at its zero initialisation
    model = build_model("tiny")
    model.set_stage(2)
    x, ref, ids, am, _ = _inputs(model, "tryon", "width", 1)
    model(x, torch.tensor([10]), ref, ids, am).noise_pred.sum().backward()
    zll_grads = [p.grad for n, p in model.named_parameters() if n.endswith(".zll.weight")]
    assert zll_grads and all(g is not None and g.abs().sum() > 0 for g in zll_grads)
    # encoders train only when asked (from-scratch presets)
    names = model.set_stage(1, train_encoders=True)
    assert any(n.startswith("sam.clip.") for n in names) and any(n.startswith("srm.backbone.") for n in names)


def test_masked_attention_empty_mask_is_full_attention():
    torch.manual_seed(3)
    attn = MultiHeadAttention(16, 2)
    q, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = attention_mask_from_probs(torch.zeros(2, 5, 7))  # every query's mask empty
    assert mask.all()
    out = attn(q, kv, kv, mask)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, attn(q, kv, kv, None), atol=1e-6)
    partly = torch.zeros(2, 5, 7)
    partly[:, 0, :3] = 1  # query 0 sees 3 keys, the others are empty -> full
    m = attention_mask_from_probs(partly)
    assert m[:, 0].sum() == 6 and m[:, 1:].all()
    assert torch.isfinite(attn(q, kv, kv, m)).all()


def test_garment_mask_head_knows_positions(model):
    """TFQ_0 lies in the flat garment's frame: on a uniform image (the same features everywhere) the
    mask logits still vary over the image, through the position code on H1."""
    image = torch.full((1, 3, 64, 48), 0.3)
    ids, am = model.tokenize(["upper"])
    with torch.no_grad():
        sam = model.sam(image, ids, am)
        out = model.srm(image, sam.qformer_tokens, with_tokens=False)
        h1 = model.srm.proj[0](model.srm.backbone(image)[0])
    assert h1.std(dim=(2, 3)).max() < 1e-4  # the Swin features alone are the same at every position
    assert out.garment_mask_logits.std() > 1e-3


def test_kv_cache_matches_recompute():
    torch.manual_seed(4)
    model = build_model("tiny").eval()
    model.set_stage(2)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.1)
    x, ref, ids, am, _ = _inputs(model, "tryon", "width", 2)
    blocks = len(model.extended_attention)
    with torch.no_grad():
        feats = model.encode_reference(ref, ids, am)
        outs = {}
        for cached in (True, False):
            model.context.cache_enabled = cached
            model.context.kv_computations = 0
            model.set_reference(feats.srm_tokens)
            outs[cached] = [model.unet_step(x, torch.tensor([t, t]), feats.sam_tokens) for t in (900, 500, 100)]
            outs[(cached, "count")] = model.context.kv_computations
    model.context.cache_enabled = True
    for a, b in zip(outs[True], outs[False]):
        assert torch.equal(a, b)
    assert outs[(True, "count")] == blocks
    assert outs[(False, "count")] == 3 * blocks


def test_cfg_null_weight_removes_srm():
    """An item with SRM weight 0 gets exactly the output it gets with no SRM at all."""
    torch.manual_seed(5)
    model = build_model("tiny").eval()
    model.set_stage(2)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.1)
    x, ref, ids, am, _ = _inputs(model, "tryon", "width", 2)
    t = torch.tensor([400, 400])
    with torch.no_grad():
        feats = model.encode_reference(ref, ids, am)
        model.set_reference(feats.srm_tokens, torch.tensor([0.0, 1.0]))
        mixed = model.unet_step(x, t, feats.sam_tokens)
        model.set_reference(None)
        plain = model.unet_step(x, t, feats.sam_tokens)
    assert torch.allclose(mixed[0], plain[0], atol=1e-6)
    assert not torch.allclose(mixed[1], plain[1], atol=1e-4)


def test_sd15_unet_size_on_meta():
    model = build_model("sd15", device="meta")
    counts = model.parameter_counts()
    assert round(counts["unet"] / 1e6, 1) == 859.5
    assert model.unet.config.in_channels == 9
    assert next(model.parameters()).device.type == "meta"
    assert len(model.srm.backbone.channels) == 3 and model.sam.qformer.config.num_hidden_layers == 12


@pytest.mark.slow  # a Python process of its own
def test_info_cli_prints_counts():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "twgtm", "info", "--preset", "sd15", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)["parameters"]
    assert counts["unet"] == 859_535_364
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")


def test_nothing_is_downloaded():
    """Building every part works with the network refused (the autouse guard) and the hub offline."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(Exception):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    model = build_model("tiny")
    assert isinstance(model, TWGTM)
