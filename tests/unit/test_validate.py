"""twgtm.validate: the one validation layer behind the nodes, the CLI, the batch path and the Python API."""
from __future__ import annotations

import pytest

from twgtm.errors import InputError
from twgtm.validate import check_image_path, check_writable


def test_output_paths_are_checked_without_creating_anything(tmp_path):
    nested = tmp_path / "new" / "deeper" / "out.png"
    assert check_writable(nested) == nested and not (tmp_path / "new").exists()
    assert check_writable(tmp_path / "outputs", folder=True) == tmp_path / "outputs"
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="file.txt is a file, not a folder"):
        check_writable(tmp_path / "file.txt" / "out.png", "--out")
    with pytest.raises(InputError, match="is a file, not a folder; give a folder"):
        check_writable(tmp_path / "file.txt", "--out", folder=True)
    with pytest.raises(InputError, match="is a folder; give a file path inside it"):
        check_writable(tmp_path, "--out")
    with pytest.raises(InputError, match=r"suffix '\.safetensors' names no image format"):
        check_image_path(tmp_path / "out.safetensors")
    assert check_image_path(tmp_path / "out.webp").suffix == ".webp"


def test_model_file_names_stay_inside_the_model_folders():
    from twgtm.validate import check_model_name

    for good in ("twgtm-demo.safetensors", "catvton/mix-48k-1024/attention/model.safetensors", "a..b.safetensors"):
        assert check_model_name(good, "input 'ckpt_name'") == good
    for bad, fragment in (("../secret.safetensors", "leads out of the model folder"), ("a/../../b", "leads out"),
                          ("..\\\\x.safetensors", "leads out"), ("/etc/passwd", "is an absolute path"),
                          ("C:\\\\models\\\\x.safetensors", "is an absolute path"), ("\\\\\\\\server\\\\x", "absolute"),
                          ("", "is empty"), ("a\x00b", "absolute"), (7, "must be a file name")):
        with pytest.raises(InputError, match=fragment):
            check_model_name(bad, "input 'ckpt_name'")


def test_node_inputs_are_checked_against_their_schema():
    import torch

    from twgtm.errors import ConfigError
    from twgtm.validate import InputSpec, check_node_inputs

    specs = [InputSpec("scheduler", "combo", ("ddim", "euler")), InputSpec("steps", "int", low=1, high=999),
             InputSpec("guidance", "float", low=1.0, high=20.0), InputSpec("repaint", "boolean"),
             InputSpec("prompt", "string"), InputSpec("person", "image"), InputSpec("mask", "mask"),
             InputSpec("ckpt_name", "file"), InputSpec("model", "other")]
    good = dict(scheduler="ddim", steps=30, guidance=2.5, repaint=False, prompt="", person=torch.rand(1, 16, 12, 3),
                mask=torch.rand(16, 12), ckpt_name="x.safetensors", model=object())
    check_node_inputs("TWGTM Try-On", specs, good)
    check_node_inputs("TWGTM Try-On", specs, {"person": torch.rand(1, 16, 12, 2), "mask": None})  # grey + alpha
    bad = [("scheduler", "plms", "not one of ddim, euler"), ("steps", 2.5, "whole number"),
           ("steps", 0, "between 1 and 999"), ("guidance", float("nan"), "not a finite number"),
           ("guidance", "2", "must be a number"), ("repaint", "yes", "true or false"), ("prompt", 5, "must be text"),
           ("person", torch.rand(1, 16, 12, 5), "1 to 4 channels"),
           ("person", torch.rand(16, 12), "must be a ComfyUI IMAGE"), ("person", torch.rand(1, 4, 4, 3), "too small"),
           ("person", torch.rand(1, 16, 12, 3) * 255, "[0, 1]"),
           ("mask", torch.full((16, 12), float("inf")), "NaN or infinite"),
           ("mask", torch.rand(1, 2, 16, 12), "MASK is"),
           ("ckpt_name", "../x.safetensors", "leads out")]
    for name, value, fragment in bad:
        with pytest.raises((InputError, ConfigError)) as caught:
            check_node_inputs("TWGTM Try-On", specs, {**good, name: value})
        assert f"TWGTM Try-On: input '{name}'" in str(caught.value) and fragment in str(caught.value), str(caught.value)


def test_a_profile_reads_no_text_prompt_and_a_twgtm_model_no_longer_prompt_than_it_reads():
    import torch

    from twgtm.families.profile_pipeline import ProfilePipeline
    from twgtm.model.config import get_preset
    from twgtm.model.network import build_model
    from twgtm.sampling.pipeline import TWGTMPipeline

    person = torch.rand(1, 3, 32, 24) * 2 - 1
    mask = torch.zeros(1, 1, 32, 24)
    mask[..., 8:24, 4:20] = 1
    catvton = ProfilePipeline(build_model(get_preset("tiny").replace(profile="catvton")))
    with pytest.raises(InputError, match="reads no text prompt"):
        catvton.tryon(person, person, mask, prompt="red shirt", steps=1)
    twgtm = TWGTMPipeline(build_model("tiny"))
    with pytest.raises(InputError, match="this model reads at most 14"):
        twgtm.tryon(person, person, mask, prompt="a long red striped shirt", steps=1)
    assert twgtm.tryon(person, person, mask, prompt="Upper_Body", steps=1).images.shape == person.shape  # an alias


def test_every_rule_the_cli_uses_exists():
    from twgtm.validate import CLI_PATHS, CLI_UNCHECKED, RULES, cli_rule

    assert cli_rule("steps") == "rule" and cli_rule("person") == "path" and cli_rule("raw") == "switch"
    assert cli_rule("checkpoint") == "model file" and cli_rule("vae", a2a=True) == "path"  # see MODEL_FILES
    assert cli_rule("tryoff_profile") == "profile" and cli_rule("lora_scale", a2a=True) == "rule"
    assert cli_rule("no_such_flag") is None and cli_rule("lora_scale") == "rule" and cli_rule("task") == "task"
    assert not set(CLI_PATHS) & set(RULES) and not set(CLI_UNCHECKED) & set(RULES)
