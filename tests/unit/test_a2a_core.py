"""Any2AnyTryon core (twgtm.families.a2a): position ids, canvas and size rules, packing, prompts, schedule, costs."""
import math

import pytest
import torch
import torch.nn.functional as F

from twgtm.errors import ConfigError, InputError
from twgtm.families.a2a import TASKS, get_task, plan_panels
from twgtm.families.a2a.layout import Box, check_size, default_size, fit_height, letterbox
from twgtm.families.a2a.memory import FLUX_DEV, GIB, MemoryOptions, check_budget, peak_bytes, step_flops
from twgtm.families.a2a.packing import pack, unpack
from twgtm.families.a2a.position_ids import canvas_ids, grids_from_index_ids, part_ids, rewrite_index_ids
from twgtm.families.a2a.prompts import build_prompt, resolve_prompt
from twgtm.families.a2a.schedule import comfy_shift_size, shift_mu, shifted_sigmas

pytestmark = pytest.mark.usefixtures("one_thread")


def _pixels(b, h, w, value=0.0):
    return torch.full((b, 3, h, w), value)


# ----- position ids ----------------------------------------------------------------------------------
def test_tryon_ids_model_aligned_garment_after_target():
    ids = canvas_ids(TASKS["tryon"], (2, 3), [(2, 3), (2, 2)])
    target, model, garment = ids[:6], ids[6:12], ids[12:]
    assert target.tolist() == [[0, y, x] for y in range(2) for x in range(3)]
    assert model.tolist() == [[1, y, x] for y in range(2) for x in range(3)]  # x restarts at 0
    assert garment.tolist() == [[2, y, 3 + x] for y in range(2) for x in range(2)]  # continues after the target


@pytest.mark.parametrize("task", ["modelfree", "reconstruct"])
def test_single_condition_ids_continue_after_target(task):
    ids = canvas_ids(TASKS[task], (2, 3), [(2, 4)])
    assert ids[6:].tolist() == [[1, y, 3 + x] for y in range(2) for x in range(4)]
    assert ids.dtype == torch.float32 and ids.shape == (6 + 8, 3)


def test_layered_has_tryon_geometry():
    assert torch.equal(canvas_ids(TASKS["layered"], (3, 2), [(3, 2), (3, 1)]),
                       canvas_ids(TASKS["tryon"], (3, 2), [(3, 2), (3, 1)]))


def test_ids_errors():
    with pytest.raises(InputError, match="model image must have the target's token grid"):
        canvas_ids(TASKS["tryon"], (2, 3), [(2, 2), (2, 2)])
    with pytest.raises(InputError, match="takes 1 condition"):
        canvas_ids(TASKS["modelfree"], (2, 3), [(2, 2), (2, 2)])
    with pytest.raises(ConfigError, match="unknown Any2AnyTryon task 'tryoff'"):
        get_task("tryoff")


def _comfy_index_ids(grids):
    """Ids as ComfyUI's Flux lays out the target and 'index'-method references (its process_img)."""
    return torch.cat([part_ids(k, g) for k, g in enumerate(grids)])[None].repeat(2, 1, 1)


def test_rewrite_of_comfy_index_ids_gives_the_task_ids():
    grids = [(2, 3), (2, 3), (2, 2)]
    rewritten = rewrite_index_ids(_comfy_index_ids(grids), TASKS["tryon"])
    assert rewritten.shape == (2, 16, 3)
    assert torch.equal(rewritten[1], canvas_ids(TASKS["tryon"], grids[0], grids[1:]))
    single = rewrite_index_ids(_comfy_index_ids(grids[:1] + [(2, 5)]), TASKS["reconstruct"])
    assert single[0, 6:, 2].tolist() == [3 + x for _ in range(2) for x in range(5)]
    assert grids_from_index_ids(_comfy_index_ids(grids)[0])[0] == grids


def test_rewrite_rejects_wrong_reference_count_and_method():
    with pytest.raises(InputError, match="got 2 reference latent"):
        rewrite_index_ids(_comfy_index_ids([(2, 3), (2, 3), (2, 2)]), TASKS["modelfree"])
    offset_method = torch.cat([part_ids(0, (2, 3)), part_ids(1, (2, 3)), part_ids(1, (2, 2), 3)])[None]
    with pytest.raises(InputError, match="got 1 reference latent"):  # the default 'offset' method: one index for all
        rewrite_index_ids(offset_method, TASKS["tryon"])


# ----- sizes and canvas ------------------------------------------------------------------------------
def test_size_rules():
    assert check_size(517, 390) == (512, 384)
    assert default_size(2000, 1500) == (1024, 768)  # long side at most 1024
    assert default_size(128, 96) == (512, 384)  # short side at least 384
    assert default_size(600, 450) == (592, 448)
    for bad in ((255, 512), (512, 200), (2064, 512)):
        with pytest.raises(InputError, match=r"outside 256\.\.2048 px per side"):
            check_size(*bad)


def test_letterbox_centres_on_white_and_crop_back_restores_the_size():
    person = _pixels(1, 300, 100, -0.5)
    panel, box = letterbox(person, 256, 256)
    assert box == Box(left=85, top=0, width=85, height=256)  # 300x100 -> 256x85, centred
    assert panel[..., :, :85].eq(1.0).all() and panel[..., :, 170:].eq(1.0).all()
    assert torch.allclose(panel[..., :, 85:170], torch.tensor(-0.5), atol=1e-5)
    wide, box = letterbox(_pixels(1, 100, 400, 0.0), 256, 256)
    assert box == Box(left=0, top=96, width=256, height=64) and wide[..., :96, :].eq(1).all()


def test_fit_height_keeps_aspect_and_crops_to_16():
    out = fit_height(_pixels(2, 100, 75, 0.2), 256, "garment")  # 192 px wide at 256 high
    assert out.shape == (2, 3, 256, 192)
    out = fit_height(_pixels(1, 100, 80, 0.2), 256, "garment")  # 204.8 -> 204 -> centre-cropped to 192
    assert out.shape[-1] == 192
    with pytest.raises(InputError, match="under one 16 px token"):
        fit_height(_pixels(1, 1000, 20, 0.0), 256, "garment")


def test_plan_canvas_per_task():
    model, garment = _pixels(1, 600, 400, 0.1), _pixels(2, 300, 200, -0.1)
    canvas = plan_panels(TASKS["tryon"], model, garment, (512, 384))
    assert canvas.batch == 2 and canvas.widths == [384, 384, 336] and canvas.size == (512, 1104)
    assert canvas.grids() == [(32, 24), (32, 24), (32, 21)] and canvas.token_count() == 32 * 69
    assert canvas.crop_back(torch.zeros(2, 3, 512, 384)).shape == (2, 3, 600, 400)
    rec = plan_panels(TASKS["reconstruct"], model=model)  # size from the model image: 592x384 -> x16
    assert rec.target_size == default_size(600, 400) and rec.box is None
    assert rec.crop_back(torch.zeros(1, 3, *rec.target_size)).shape[-2:] == rec.target_size
    free = plan_panels(TASKS["modelfree"], garment=garment, size=(256, 256))
    assert free.widths == [256, 160]


def test_plan_canvas_errors_name_the_missing_or_extra_input():
    with pytest.raises(InputError, match="task 'tryon' needs a garment image"):
        plan_panels(TASKS["tryon"], model=_pixels(1, 256, 256))
    with pytest.raises(InputError, match="task 'modelfree' takes no model image"):
        plan_panels(TASKS["modelfree"], model=_pixels(1, 256, 256), garment=_pixels(1, 256, 256))
    with pytest.raises(InputError, match="batch sizes"):
        plan_panels(TASKS["tryon"], _pixels(2, 256, 256), _pixels(3, 256, 256), (256, 256))
    with pytest.raises(InputError, match=r"expected pixels of shape \(B, 3, H, W\)"):
        plan_panels(TASKS["reconstruct"], model=torch.zeros(256, 256, 3))


# ----- packing ---------------------------------------------------------------------------------------
def test_pack_matches_pixel_unshuffle_and_round_trips():
    latent = torch.randn(2, 16, 6, 8)
    tokens = pack(latent)
    assert tokens.shape == (2, 12, 64)
    reference = F.pixel_unshuffle(latent, 2).flatten(2).transpose(1, 2)  # (B, h/2*w/2, 4C), channel (c, dy, dx)
    assert torch.equal(tokens, reference)
    assert torch.equal(unpack(tokens, (3, 4)), latent)
    with pytest.raises(InputError, match="even sides"):
        pack(torch.zeros(1, 16, 5, 8))
    with pytest.raises(InputError, match="do not form a 3x3 grid"):
        unpack(tokens, (3, 3))


# ----- prompts and schedule --------------------------------------------------------------------------
def test_prompts_tag_the_parts():
    assert build_prompt(TASKS["tryon"], model="a man", garment="a blue tee") == \
        "<MODEL> a man <GARMENT> a blue tee <TARGET> model with fashion garment"
    assert resolve_prompt(TASKS["reconstruct"]) == "<MODEL> a person with fashion garment. <TARGET> the same garment laid flat."
    assert resolve_prompt(TASKS["modelfree"], "a woman on a beach").endswith("<TARGET> a woman on a beach")
    tagged = "<GARMENT> a coat <TARGET> a man in the coat"
    assert resolve_prompt(TASKS["modelfree"], tagged) == tagged
    assert "<GARMENT>" in resolve_prompt(TASKS["layered"]) and "over" in resolve_prompt(TASKS["layered"])


def test_schedule_matches_diffusers_flux_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler
    import numpy as np

    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    for steps, tokens in ((30, 32 * 69), (4, 256), (7, 5000)):
        mu = shift_mu(tokens)
        scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
        assert torch.allclose(shifted_sigmas(steps, mu), scheduler.sigmas, atol=1e-6, rtol=0)
    assert shift_mu(256) == pytest.approx(0.5) and shift_mu(4096) == pytest.approx(1.15)
    width, height = comfy_shift_size(32 * 69, 512)
    assert width * height / (8 * 8 * 2 * 2) == 32 * 69  # what core ModelSamplingFlux counts


# ----- cost model ------------------------------------------------------------------------------------
def test_cost_model_orders_the_memory_options():
    canvas, target, tokens = (1024, 2304), (1024, 768), 64 * 144
    options = {name: MemoryOptions(**kw) for name, kw in {
        "none": {}, "model": {"offload": "model"}, "model_fp8": {"offload": "model", "transformer_fp8": True, "t5_fp8": True},
        "group": {"offload": "group"}, "group_fp8": {"offload": "group", "t5_fp8": True}}.items()}
    peaks = {name: peak_bytes(FLUX_DEV, canvas, target, tokens, o)["peak"] / GIB for name, o in options.items()}
    assert peaks["none"] > 30 > peaks["model"] > 24 > peaks["model_fp8"] > 12  # bf16 model offload: OOM on 24 GB
    assert peaks["group_fp8"] < peaks["group"] < 12
    assert step_flops(FLUX_DEV, tokens) > 100e12 and step_flops(FLUX_DEV, 2 * tokens) > 2 * step_flops(FLUX_DEV, tokens)
    estimate = peak_bytes(FLUX_DEV, canvas, target, tokens, options["model"])
    with pytest.raises(InputError, match=r"exceeds the 16\.0 GiB available; use --offload group"):
        check_budget(estimate, 16 * GIB, "tryon at 1024x768")
    check_budget(estimate, 80 * GIB, "tryon at 1024x768")
    with pytest.raises(InputError, match="offload 'disk'"):
        peak_bytes(FLUX_DEV, canvas, target, tokens, MemoryOptions(offload="disk"))
    assert math.isclose(peaks["model"] - peaks["model_fp8"], (FLUX_DEV.transformer_params) / GIB, rel_tol=0.1)
