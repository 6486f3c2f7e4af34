"""Metrics and the evaluation CLI: real computations on small images, offline, weights made in tmp_path."""
from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg
from scipy.ndimage import gaussian_filter
from safetensors.torch import save_file

from twgtm.errors import CheckpointError, DataError, InputError
from twgtm.metrics import (
    FIDInceptionV3, build_dists, build_lpips, cw_ssim, evaluate_pairs, frechet_distance,
    kernel_inception_distance, ms_ssim, ssim,
)
from twgtm.metrics import weights as W
from twgtm.metrics.convert import convert_packaged_weights, convert_to_safetensors

SIDE = 176  # MS-SSIM's five scales need sides >= 176


def _texture(seed: int, batch: int = 2, height: int = SIDE, width: int = SIDE,
             scales=((4, 0.5), (12, 0.35), (40, 0.25))) -> torch.Tensor:
    """Smooth random RGB images in [-1, 1] with structure at several scales ((cell px, amplitude), ...)."""
    gen = torch.Generator().manual_seed(seed)
    out = 0
    for cell, amp in scales:
        coarse = torch.randn(batch, 3, height // cell + 2, width // cell + 2, generator=gen)
        out = out + amp * F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (out / out.abs().amax() * 0.9).clamp(-1, 1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma) + 1
    taps = torch.exp(-torch.arange(-radius, radius + 1).float() ** 2 / (2 * sigma**2))
    taps = taps / taps.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), taps.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), taps.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


def _noise(x: torch.Tensor, std: float, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def _shift(x: torch.Tensor, pixels: int) -> torch.Tensor:
    return torch.roll(x, shifts=(pixels, pixels), dims=(-2, -1))


@pytest.fixture(scope="module")
def images():
    return _texture(0)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """A weights folder: packaged LPIPS/ST-LPIPS/DISTS weights converted, random backbones and Inception."""
    import torchvision

    folder = tmp_path_factory.mktemp("weights")
    written = {p.name for p in convert_packaged_weights(folder)}
    assert {W.STLPIPS_ALEX_FILE, W.LPIPS_ALEX_FILE, W.DISTS_FILE} <= written
    torch.manual_seed(0)
    inception = FIDInceptionV3()
    for module in inception.modules():  # variance-preserving init, so random pool3 features are not ~0
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    for name, model in ((W.ALEXNET_FILE, torchvision.models.alexnet(weights=None)),
                        (W.VGG16_FILE, torchvision.models.vgg16(weights=None)),
                        (W.INCEPTION_FILE, inception)):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / name))
    return folder


# --------------------------------------------------------------------------- SSIM / MS-SSIM

def _reference_ssim_terms(a: np.ndarray, b: np.ndarray):
    """SSIM and contrast-structure maps (Wang et al.) with scipy's Gaussian (σ 1.5, 11 taps).

    Border convention of torchmetrics: mirror padding, SSIM averaged over the whole image, the
    contrast-structure term (MS-SSIM) over the interior only.
    """
    blur = lambda img: gaussian_filter(img, 1.5, truncate=3.5, mode="mirror")  # noqa: E731
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return lum * cs, cs[..., 5:-5, 5:-5]


def _reference_ssim(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    xs, ys = ((t + 1).double().numpy() / 2 for t in (x, y))
    return np.array([np.mean([_reference_ssim_terms(xs[i, c], ys[i, c])[0].mean() for c in range(3)])
                     for i in range(len(xs))])


def _reference_ms_ssim(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    betas = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    xs, ys = ((t + 1).double().numpy() / 2 for t in (x, y))
    out = []
    for i in range(len(xs)):
        a, b, values = xs[i], ys[i], []  # (3, H, W)
        for scale in range(5):
            full, cs = zip(*(_reference_ssim_terms(a[c], b[c]) for c in range(3)))
            values.append(max(np.mean(full) if scale == 4 else np.mean(cs), 0.0))  # mean over channels and pixels
            h, w = a.shape[1] // 2 * 2, a.shape[2] // 2 * 2
            a = a[:, :h, :w].reshape(3, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
            b = b[:, :h, :w].reshape(3, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        out.append(np.prod(np.array(values) ** betas))
    return np.array(out)


def test_ssim_identity_distortions_and_reference(images):
    assert torch.allclose(ssim(images, images), torch.ones(2), atol=1e-6)
    blurred, noisy = _blur(images, 1.5), _noise(images, 0.2)
    s_blur, s_noise = ssim(images, blurred), ssim(images, noisy)
    assert (s_blur < 0.999).all() and (s_noise < 0.9).all()
    assert (ssim(images, _blur(images, 3.0)) < s_blur).all()  # more blur, lower SSIM
    assert (ssim(images, _noise(images, 0.4)) < s_noise).all()
    assert (ssim(images, _shift(images, 3)) < 0.99).all()
    for other in (blurred, noisy):
        np.testing.assert_allclose(ssim(images, other).numpy(), _reference_ssim(images, other), atol=1e-5)


def test_ms_ssim_identity_distortions_and_reference(images):
    assert torch.allclose(ms_ssim(images, images), torch.ones(2), atol=1e-5)
    noisy = _noise(images, 0.2)
    ours = ms_ssim(images, noisy)
    assert (ours < 0.99).all() and (ms_ssim(images, _noise(images, 0.4)) < ours).all()
    np.testing.assert_allclose(ours.numpy(), _reference_ms_ssim(images, noisy), atol=1e-5)
    with pytest.raises(InputError, match="176"):
        ms_ssim(images[..., :170, :170], images[..., :170, :170])


# --------------------------------------------------------------------------- CW-SSIM

def test_cw_ssim_identity_shift_and_noise():
    images = _texture(0, scales=((3, 0.5), (40, 0.5)))  # fine detail: a shift costs many pixel errors
    assert torch.allclose(cw_ssim(images, images), torch.ones(2), atol=1e-5)
    shifted = _shift(images, 1)
    energy = (shifted - images).pow(2).mean().sqrt().item()
    gen = torch.Generator().manual_seed(3)
    noisy = (images + energy * torch.randn(images.shape, generator=gen)).clamp(-1, 1)  # same pixel error energy
    s_shift, s_noise = cw_ssim(images, shifted), cw_ssim(images, noisy)
    assert (s_shift < 0.9999).all()
    assert ((1 - s_noise) > 2 * (1 - s_shift)).all(), (s_shift, s_noise)
    assert (cw_ssim(images, _shift(images, 4)) < s_shift).all()  # larger shift, lower score
    assert (ssim(images, shifted) < s_shift - 0.05).all()  # plain SSIM is far less shift-tolerant
    # phase matters: a shift comparable to the band's wavelength decorrelates local phases
    # (a magnitude-only "CW-SSIM" would stay above 0.9 here)
    assert (cw_ssim(images, _shift(images, 16)) < 0.85).all()
    # a pure grating shifted circularly only rotates every coefficient's phase by the same angle: index 1
    cols = torch.arange(SIDE, dtype=torch.float32)
    grating = (0.8 * torch.cos(2 * math.pi * cols * 4 / SIDE)).expand(1, 3, SIDE, SIDE).contiguous()
    moved = torch.roll(grating, 7, dims=-1)
    assert cw_ssim(grating, moved).item() == pytest.approx(1.0, abs=1e-4)
    assert ssim(grating, moved).item() < 0.5


# --------------------------------------------------------------------------- LPIPS / DISTS

def test_stlpips_packaged_weights_identity_and_distortions(weights_dir, images):
    images = images[..., :96, :96]  # ST-LPIPS-VGG runs stride-1 convolutions: keep it small
    for net in ("alex", "vgg"):
        model = build_lpips(weights_dir, net=net, shift_tolerant=True)
        assert torch.allclose(model(images, images), torch.zeros(2), atol=1e-7)
        d_blur, d_blur2 = model(images, _blur(images, 1.0)), model(images, _blur(images, 3.0))
        d_noise, d_noise2 = model(images, _noise(images, 0.1)), model(images, _noise(images, 0.3))
        assert (d_blur > 1e-3).all() and (d_blur2 > d_blur).all()
        assert (d_noise > 1e-3).all() and (d_noise2 > d_noise).all()
        assert (model(images, _shift(images, 4)) > model(images, _shift(images, 1))).all()
        assert (model(images, _shift(images, 1)) < d_noise2).all()  # tolerant to a 1-px shift


def _import_stlpips_reference():
    for name in ("torchsummary", "IPython"):  # imported but unused by the package
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.summary = stub.embed = None
            sys.modules[name] = stub
    return pytest.importorskip("stlpips_pytorch.stlpips")


def test_stlpips_matches_the_published_package(weights_dir, images):
    reference = _import_stlpips_reference()
    x, y = images[:, :, :96, :128], _noise(images, 0.2)[:, :, :96, :128]
    for net in ("alex", "vgg"):
        expected = reference.LPIPS(net=net, variant="shift_tolerant", verbose=False)(x, y).flatten()
        ours = build_lpips(weights_dir, net=net, shift_tolerant=True)(x, y)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-4)


def test_lpips_and_dists_match_torchmetrics(weights_dir, images, monkeypatch):
    import torchvision
    from safetensors.torch import load_file
    import torchmetrics.functional.image.dists as tm_dists
    import torchmetrics.functional.image.lpips as tm_lpips

    x, y = images[:, :, :96, :128], _blur(images, 2.0)[:, :, :96, :128]
    nets = {}
    for key, file, ctor in (("alexnet", W.ALEXNET_FILE, torchvision.models.alexnet),
                            ("vgg16", W.VGG16_FILE, torchvision.models.vgg16)):
        nets[key] = ctor(weights=None)
        nets[key].load_state_dict(load_file(str(weights_dir / file)))
    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", lambda name, pretrained=False: nets[name].features)
    monkeypatch.setattr(tm_dists, "vgg16", lambda weights=None: nets["vgg16"])
    for net in ("alex", "vgg"):
        expected = tm_lpips._LPIPS(pretrained=True, net=net).eval()(x, y).flatten()
        torch.testing.assert_close(build_lpips(weights_dir, net=net)(x, y), expected, atol=1e-6, rtol=1e-5)
    expected = tm_dists.DISTSNetwork(load_weights=True).eval()((x + 1) / 2, (y + 1) / 2).flatten()
    dists = build_dists(weights_dir)
    torch.testing.assert_close(dists(x, y), expected, atol=1e-6, rtol=1e-5)
    assert torch.allclose(dists(x, x), torch.zeros(2), atol=1e-6)
    assert (dists(x, _blur(images, 4.0)[:, :, :96, :128]) > dists(x, y)).all()


# --------------------------------------------------------------------------- FID / KID

def test_inception_matches_torchvision_layout():
    import torchvision

    ours = {k: v.shape for k, v in FIDInceptionV3().state_dict().items()}
    tv = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    assert ours == {k: v.shape for k, v in tv.state_dict().items()}


def test_frechet_and_kid_match_scipy_and_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 32, generator=gen, dtype=torch.float64)
    fake = 0.8 * torch.randn(300, 32, generator=gen, dtype=torch.float64) @ torch.eye(32, dtype=torch.float64).roll(1, 0) + 0.3
    mu1, mu2 = fake.mean(0).numpy(), real.mean(0).numpy()
    s1, s2 = np.cov(fake.numpy(), rowvar=False), np.cov(real.numpy(), rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    ours = frechet_distance(fake, real)
    assert ours == pytest.approx(expected, abs=1e-4)

    class Identity(torch.nn.Module):
        num_features = 32

        def forward(self, x):
            return x

    tm_fid = FrechetInceptionDistance(feature=Identity()).double()
    tm_fid.update(real, real=True)
    tm_fid.update(fake, real=False)
    assert ours == pytest.approx(float(tm_fid.compute()), abs=1e-4)

    tm_kid = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=300)
    tm_kid.update(real, real=True)
    tm_kid.update(fake, real=False)
    kid, _ = kernel_inception_distance(fake, real, subsets=1, subset_size=300)
    assert kid == pytest.approx(float(tm_kid.compute()[0]), abs=1e-4)
    assert kid > 1e-3


def test_fid_kid_on_images_with_random_inception(weights_dir):
    images = _texture(5, batch=4, height=64, width=64)
    kid_args = dict(kid_subsets=10, kid_subset_size=4)
    same = evaluate_pairs(images, images.clone(), metrics="fid,kid", weights_dir=weights_dir, batch_size=3, **kid_args)
    assert same["fid"]["status"] == "ok" and same["fid"]["n"] == 4
    noisy = evaluate_pairs(_noise(images, 0.3), images, metrics="fid,kid", weights_dir=weights_dir, batch_size=4,
                           **kid_args)
    blurred = evaluate_pairs(_blur(images, 3.0), images, metrics="fid,kid", weights_dir=weights_dir, batch_size=4,
                             **kid_args)
    for other in (noisy, blurred):
        assert other["fid"]["value"] > 0
        assert same["fid"]["value"] < 1e-4 * other["fid"]["value"]  # identical sets: FID ≈ 0
        assert abs(same["kid"]["value"]) < 0.05 * other["kid"]["value"]


# --------------------------------------------------------------------------- DINO / CLIP-FID

def test_dino_and_clip_fid_with_tiny_transformers_models(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    dino = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    patch_size=8, image_size=32))
    dino.save_pretrained(tmp_path / W.DINO_DIR)
    (tmp_path / W.DINO_DIR / "preprocessor_config.json").write_text(json.dumps({"crop_size": {"height": 32, "width": 32}}))
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                          intermediate_size=64, patch_size=8, image_size=32,
                                                          projection_dim=16))
    clip.save_pretrained(tmp_path / W.CLIP_DIR)

    images = _texture(7, batch=4, height=64, width=64)
    different = _texture(8, batch=4, height=64, width=64)
    same = evaluate_pairs(images, images.clone(), metrics="dino,clip_fid", weights_dir=tmp_path)
    assert same["dino"]["value"] == pytest.approx(1.0, abs=1e-5)
    assert same["clip_fid"]["value"] == pytest.approx(0.0, abs=1e-6)
    diff = evaluate_pairs(different, images, metrics="dino,clip_fid", weights_dir=tmp_path, batch_size=3)
    assert diff["dino"]["value"] < 0.999 and diff["dino"]["n"] == 4
    assert diff["clip_fid"]["value"] > 1e-4


# --------------------------------------------------------------------------- missing weights, converter, CLI

def test_missing_weights_are_reported_as_skipped(tmp_path, images):
    small = images[:, :, :64, :64]
    results = evaluate_pairs(small, small, metrics="ssim,lpips,stlpips,dists,fid,kid,dino,clip_fid", weights_dir=tmp_path)
    assert results["ssim"]["status"] == "ok"
    for name in ("lpips", "stlpips", "dists", "fid", "kid", "dino", "clip_fid"):
        assert results[name]["status"] == "skipped", name
        assert str(tmp_path) in results[name]["reason"]
    assert "no weights folder" in evaluate_pairs(small, small, metrics="fid")["fid"]["reason"]
    # a metric that cannot run on these images is skipped too, with the reason
    assert "176" in evaluate_pairs(small, small, metrics="ms_ssim")["ms_ssim"]["reason"]


def test_converter_roundtrip_and_safetensors_only(tmp_path):
    state = {"a.weight": torch.randn(3, 2), "nested": {"b": torch.arange(4)}}
    torch.save(state, tmp_path / "w.pth")
    keys = convert_to_safetensors(tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert keys == ["a.weight", "nested.b"]
    loaded = W.load_safetensors(tmp_path / "w.safetensors", metric="test")
    assert torch.equal(loaded["a.weight"], state["a.weight"]) and torch.equal(loaded["nested.b"], state["nested"]["b"])
    with pytest.raises(CheckpointError, match="convert"):
        W.load_safetensors(tmp_path / "w.pth", metric="test")
    save_file({"features.0.weight": torch.zeros(1)}, str(tmp_path / W.ALEXNET_FILE))
    save_file({"lin0.model.1.weight": torch.zeros(1)}, str(tmp_path / W.LPIPS_ALEX_FILE))
    with pytest.raises(CheckpointError, match="missing"):
        build_lpips(tmp_path, net="alex")


def test_inputs_outside_minus_one_one_are_refused(images):
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        ssim(images * 200, images)


def _write_folder(folder, tensors, suffix, size=None):
    from PIL import Image

    folder.mkdir()
    for index, image in enumerate(tensors):
        array = ((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        picture = Image.fromarray(array)
        picture = picture.resize(size) if size else picture
        picture.save(folder / f"{index:04d}{suffix}")


def test_cli_pairs_by_name_resizes_and_writes_json(tmp_path, capsys):
    from twgtm.eval import pair_folders
    from twgtm.eval.__main__ import main

    gt = _texture(9, batch=3, height=96, width=72)
    _write_folder(tmp_path / "gt", gt, ".png")
    _write_folder(tmp_path / "pred", _noise(gt, 0.1), ".jpg", size=(36, 48))  # half size, other format
    out = tmp_path / "out" / "metrics.json"
    code = main(["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--metrics", "ssim,cw_ssim,fid",
                 "--json", str(out), "--no-progress", "--batch-size", "2"])
    assert code == 0
    table = capsys.readouterr().out
    assert "| ssim |" in table and "skipped" in table  # fid has no weights folder
    report = json.loads(out.read_text())
    assert report["n_pairs"] == 3 and report["metrics"]["ssim"]["n"] == 3
    assert 0.2 < report["metrics"]["ssim"]["value"] < 0.99
    assert report["metrics"]["fid"]["status"] == "skipped"

    (tmp_path / "pred" / "0001.jpg").rename(tmp_path / "pred" / "extra.jpg")
    with pytest.raises(DataError, match=r"extra.*0001|0001.*extra"):
        pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert main(["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--metrics", "ssim"]) == 2
    assert "extra" in capsys.readouterr().err
