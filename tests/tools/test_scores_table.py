"""The scores table of docs/evaluation.md is what `python -m twgtm.eval.toy` prints for the shipped demo model."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from twgtm.data.toy import generate_toy_wardrobe
from twgtm.eval.toy import evaluate_toy
from twgtm.eval.toy_report import ROWS, toy_table

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "evaluation.md"
SHIPPED = ROOT / "weights" / "twgtm-demo.safetensors"
# The rerun noise the page states: float sums in another order (another CPU, thread count) move a
# 20-step sample slightly.
NOISE = {"colour": 0.5, "other": 0.01}


def table_rows(text: str) -> dict[str, list[float | None]]:
    """{row label: the mean of each column (None for '–')} of every score row of a markdown table in `text`."""
    labels = {label for _, _, label, _ in ROWS}
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in labels:
            rows[cells[0]] = [None if c == "–" else float(c.split("±")[0]) for c in cells[1:-1]]
    return rows


def section(text: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same level."""
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading):], flags=re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def test_table_parser_reads_every_row_and_the_dashes():
    printed = ("| score | model | copy input | mean baseline | VAE round trip | |\n|---|---|---|---|---|---|\n"
               "| VTOFF garment-mask IoU | **0.7202** ± 0.1019 | – | 0.6399 ± 0.1465 | – | ↑ |\n"
               "| VTON SSIM vs true person | 0.8479 ± 0.0415 | 0.8200 ± 0.0518 | 0.8079 ± 0.0558 | 0.8989 ± 0.0313 | ↑ |")
    assert table_rows(printed) == {"VTOFF garment-mask IoU": [0.7202, None, 0.6399, None],
                                   "VTON SSIM vs true person": [0.8479, 0.82, 0.8079, 0.8989]}


@pytest.mark.slow  # the whole eval: 40 pairs, 20 steps, 8 persons x 6 colours in both directions (minutes)
def test_the_pages_scores_are_the_eval_commands_for_the_shipped_file(tmp_path):
    documented = table_rows(section(PAGE.read_text(encoding="utf-8"), "## Toy scores of the shipped demo model"))
    assert set(documented) == {label for _, _, label, _ in ROWS}, "the page's table lacks rows the eval prints"
    data = tmp_path / "heldout"
    generate_toy_wardrobe(data, n=400, seed=1)  # the page's command: python -m twgtm.data.toy --n 400 --seed 1
    measured = table_rows(toy_table(evaluate_toy(SHIPPED, data, steps=20)))
    for label, cells in documented.items():
        noise = NOISE["colour" if "colour error" in label else "other"]
        for column, (page, now) in enumerate(zip(cells, measured[label])):
            assert (page is None) == (now is None), (label, column, page, now)
            if page is not None:
                assert abs(page - now) <= noise, f"{label}, column {column}: the page says {page}, the eval {now}"
