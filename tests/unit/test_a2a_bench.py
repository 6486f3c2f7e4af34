"""`python -m twgtm.bench --family a2a`: tokens, FLOPs (formula = meta-device count) and what fits each GPU size."""
import json

import pytest

from twgtm.bench.__main__ import main
from twgtm.bench.a2a import OPTIONS, canvas_of
from twgtm.families.a2a import TASKS, plan_panels

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_a2a_prints_the_cost_table(tmp_path, capsys):
    out = tmp_path / "a2a.json"
    assert main(["--family", "a2a", "--sizes", "512x384", "1024x768", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    small, large = result["rows"]
    assert small["image_tokens"] == 32 * (24 + 24 + 24) and large["canvas"] == "1024x2304"
    for row in result["rows"]:
        assert row["tflops_counted"] == pytest.approx(row["tflops_per_step"], rel=0.01)  # formula = FlopCounterMode
        assert set(row["peak_gib"]) == set(OPTIONS)
    assert large["tflops_per_step"] > 4 * small["tflops_per_step"]  # attention grows with the square of the tokens
    assert "model offload" not in large["fits"]["24 GB"]  # bf16 FLUX.1-dev with model offload: the reported OOM
    assert "model offload + fp8 transformer/T5" in large["fits"]["16 GB"] and "group offload" in large["fits"]["12 GB"]
    printed = capsys.readouterr().out
    assert "| 1024x768 | 1024x2304 | 9,216 |" in printed and "fits 12 GB" in printed


def test_bench_canvas_matches_the_layout_rules():
    import torch

    canvas = plan_panels(TASKS["tryon"], torch.zeros(1, 3, 600, 400), torch.zeros(1, 3, 400, 300), (768, 576))
    assert canvas_of(768, 576, 0.75) == (canvas.size, canvas.token_count())
