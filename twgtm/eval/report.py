"""Formatting evaluation results: a markdown table and a JSON file."""
from __future__ import annotations

import json
from pathlib import Path

from ..metrics.suite import METRICS

DISPLAY_SCALE = {"kid": 1000.0}  # the papers print KID × 10³


def markdown_table(results: dict[str, dict]) -> str:
    """A markdown table with one row per metric (value, std, n, direction or skip reason)."""
    lines = ["| metric | value | std | n | |", "|---|---|---|---|---|"]
    for name, entry in results.items():
        scale = DISPLAY_SCALE.get(name, 1.0)
        label = name + (f" (×{scale:g})" if scale != 1.0 else "")
        if entry.get("status") != "ok":
            lines.append(f"| {label} | skipped | | | {entry.get('reason', '')} |")
            continue
        std = entry.get("std")
        direction = "↑ higher is better" if METRICS[name].higher_is_better else "↓ lower is better"
        lines.append(f"| {label} | {entry['value'] * scale:.4f} | "
                     f"{'' if std is None else f'{std * scale:.4f}'} | {entry['n']} | {direction} |")
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> None:
    """Write the report as indented JSON, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
