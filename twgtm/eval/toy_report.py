"""The toy evaluation's rows, baselines and markdown table (see `twgtm.eval.toy`)."""
from __future__ import annotations

COPY, MEAN, VAE = "copy_input", "mean", "vae_round_trip"
COLUMNS = ("model", COPY, MEAN, VAE)

# (task, metric, label, higher is better) of every row of the report, in table order.
ROWS = [
    ("tryon", "ssim", "VTON SSIM vs true person", True),
    ("tryon", "colour_error", "VTON colour error in mask (0-255)", False),
    ("tryon", "garment_ssim", "VTON SSIM in garment region", True),
    ("tryon", "garment_colour_error", "VTON colour error in garment region (0-255)", False),
    ("tryon", "sensitivity_slope", "VTON garment sensitivity: slope (0 ignored, 1 worn)", True),
    ("tryon", "colours_recognised", "VTON solid colours recognised (fraction)", True),
    ("tryoff", "ssim", "VTOFF SSIM vs true garment", True),
    ("tryoff", "mean_colour_error", "VTOFF garment mean-colour error (0-255)", False),
    ("tryoff", "mask_iou", "VTOFF garment-mask IoU", True),
    ("tryoff", "sensitivity_slope", "VTOFF garment sensitivity: slope (0 ignored, 1 taken off)", True),
    ("tryoff", "colours_recognised", "VTOFF solid colours recognised (fraction)", True),
]
BASELINES = {
    ("tryon", COPY): "the masked person (inpaint region mid grey, as the model sees it)",
    ("tryon", MEAN): "the inpaint region filled with the flat garment's mean colour",
    ("tryoff", COPY): "the person image returned as the garment",
    ("tryoff", MEAN): "the pixel mean of the train-split garments; IoU: their mean cloth mask >= 0.5",
    ("tryon", VAE): "the true dressed person through the model's VAE (its try-on canvas encoded and decoded, "
                    "the true pixels kept outside the mask when repainting): the best its latents allow",
    ("tryoff", VAE): "the true flat garment through the model's VAE (its try-off canvas encoded and decoded)",
}
# Scores a column has no baseline for, and why.
NO_BASELINE = {("tryoff", "mask_iou", COPY): "no copy baseline for a flat-garment mask",
               ("tryoff", "mask_iou", VAE): "the VAE makes no mask"}
LABELS = {"model": "model", COPY: "copy input", MEAN: "mean baseline", VAE: "VAE round trip"}


def _cell(entry: dict) -> str:
    """'value ± std' or '–' for a skipped score."""
    if entry.get("status") != "ok":
        return "–"
    return f"{entry['value']:.4f} ± {entry['std']:.4f}"


def toy_table(report: dict) -> str:
    """A markdown table: one row per score, columns model / copy input / mean baseline, and a legend."""
    lines = ["| score | " + " | ".join(LABELS[name] for name in COLUMNS) + " | |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for task, metric, label, higher in ROWS:
        entry = report[task][metric]
        lines.append(f"| {label} | {' | '.join(_cell(entry[name]) for name in COLUMNS)} | {'↑' if higher else '↓'} |")
    lines.append("")
    probe = report["sensitivity"]
    lines.append(f"{report['n']} paired test pairs at {report['size'][0]}x{report['size'][1]}, "
                 f"{report['steps']} steps, guidance {report['guidance']}, VTON repaint "
                 f"{'on' if report['repaint'] else 'off'}, VTOFF mask {report['tryoff_mask_mode']}; "
                 f"sensitivity on {probe['persons']} persons x {len(probe['colours'])} colours "
                 f"({', '.join(probe['colours'])}).")
    lines.append("Garment region: where the garment is visible on the true person (the parse map's garment label).")
    for (task, name), text in BASELINES.items():
        lines.append(f"{'VTON' if task == 'tryon' else 'VTOFF'} {LABELS[name]}: {text}.")
    return "\n".join(lines)
