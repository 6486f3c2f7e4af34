"""twgtm.vocab: each list once, its parser, and the CLI choices built from it."""
import pytest
import torch

from twgtm.cli import COMMANDS
from twgtm.errors import ConfigError
from twgtm.model.prompts import prompt_for
from twgtm.vocab import (CANVAS_TASKS, CATEGORY_PROMPTS, DTYPE_CHOICES, GARMENT_CATEGORIES, TASKS, TRYOFF_MASK_MODES,
                         dtype_name, is_category, parse_category, parse_device, parse_dtype, parse_mask_mode, parse_task)


def test_dtypes_every_spelling():
    for spelling, dtype in [("fp32", torch.float32), ("float32", torch.float32), ("torch.float32", torch.float32),
                            ("FP16", torch.float16), ("half", torch.float16), ("bf16", torch.bfloat16),
                            ("bfloat16", torch.bfloat16), (torch.bfloat16, torch.bfloat16)]:
        assert parse_dtype(spelling) is dtype
    assert [dtype_name(parse_dtype(c)) for c in DTYPE_CHOICES] == ["fp32", "fp16", "bf16", "fp32", "fp16", "bf16"]
    with pytest.raises(ConfigError, match="fp32, fp16, bf16, float32"):
        parse_dtype("fp8")


def test_devices():
    assert parse_device("CPU") == torch.device("cpu") and parse_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ConfigError, match="cpu, cuda, mps"):
        parse_device("gpu")
    with pytest.raises(ConfigError, match="cuda:99"):
        parse_device("cuda:99")


def test_categories_prompts_and_aliases():
    assert GARMENT_CATEGORIES == tuple(CATEGORY_PROMPTS) == ("upper", "lower", "dress")
    assert [parse_category(s) for s in ("Upper", "upper_body", "0", "bottoms", "dresses", "2")] == \
        ["upper", "upper", "upper", "lower", "dress", "dress"]
    assert is_category("lower_body") and not is_category("a striped tee")
    assert [prompt_for(c) for c in GARMENT_CATEGORIES] == ["upper garment", "lower garment", "dress"]
    with pytest.raises(ConfigError, match="upper, lower, dress"):
        parse_category("hat")


def test_tasks_and_mask_modes():
    assert TASKS == ("tryon", "tryoff", "roundtrip") and set(CANVAS_TASKS) < set(TASKS)
    assert parse_task("Try-On") == "tryon" and parse_task("round_trip") == "roundtrip"
    with pytest.raises(ConfigError, match="tryon, tryoff$"):
        parse_task("roundtrip", CANVAS_TASKS)
    assert TRYOFF_MASK_MODES == ("bbox", "full") and parse_mask_mode(" BBox ") == "bbox"
    with pytest.raises(ConfigError, match="bbox, full"):
        parse_mask_mode("square")


def test_cli_choices_come_from_the_vocabulary():
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    COMMANDS["tryoff"][1](sub.add_parser("tryoff"))
    actions = {a.dest: a for a in sub.choices["tryoff"]._actions}
    assert tuple(actions["category"].choices) == GARMENT_CATEGORIES
    assert tuple(actions["mask_mode"].choices) == TRYOFF_MASK_MODES
    assert tuple(actions["dtype"].choices) == DTYPE_CHOICES


def test_the_scheduler_vocabulary_is_what_the_sampler_builds():
    from twgtm.sampling import schedulers
    from twgtm.vocab import MAX_STEPS, SCHEDULERS, parse_scheduler

    assert tuple(schedulers._BUILDERS) == SCHEDULERS
    assert MAX_STEPS == schedulers.SD15_NOISE["num_train_timesteps"] - 1
    assert parse_scheduler(" DPM++ ") == "dpmpp_2m" and parse_scheduler("euler") == "euler"
    with pytest.raises(ConfigError, match="unknown scheduler 'plms'"):
        parse_scheduler("plms")
