"""Score a checkpoint on held-out toy-wardrobe pairs, beside trivial baselines.

``python -m twgtm.eval.toy --checkpoint C --data DIR [--n N] [--steps S] [--guidance G] [--json OUT]``

The test split is read in PAIRED mode, so every person wears the garment being put on or taken
off and the truth of both tasks is known:

* VTON: input = the person with the inpaint (agnostic) region masked + their own flat garment;
  truth = the person. Scores: SSIM against the person and the mean colour error inside the inpaint
  mask (mean |output - truth| over RGB, 0–255 units); then both again on the *garment region*
  only, the pixels where the garment is visible on the true person (the parse map's garment
  label, `image-parse-v3/`): the inpaint mask is mostly arms, neck and background, which a model
  that ignores the garment still gets right.
* Garment sensitivity (`twgtm.eval.sensitivity`): the first `--sensitivity-persons` test persons,
  each dressed in K solid-colour garments cut in their own garment's silhouette; the slope of the
  output's mean colour in the garment region on the reference colour (0 = the garment is ignored,
  1 = worn exactly) and the fraction of colours recognised. The try-off probe paints the same
  persons' visible garment in each colour and regresses the try-off's mean colour over the true
  cloth mask on it (0 = the person's garment is ignored, 1 = taken off in its own colour).
* VTOFF: input = the person; truth = the flat garment and its cloth mask. Scores: SSIM against
  the garment, the garment's mean-colour error (the mean colour of the output over the true cloth
  mask against the true garment's, |difference| averaged over RGB, 0–255 units), and the IoU of
  the predicted flat-garment mask (sigmoid TFQ_0 >= 0.5) with the true cloth mask.

Baselines, scored the same way:

* copy input. VTON: the *masked* person (inpaint region mid grey, exactly what the model sees).
  Copying the unmasked person would be the answer itself in paired mode (SSIM 1, error 0), so
  it measures nothing; the masked copy is perfect outside the mask and uninformative inside,
  which is what a model that ignores the garment could reach (sensitivity slope 0). VTOFF: the
  person image returned as the "garment" (no copy baseline for the IoU).
* mean colour (VTON): the inpaint region filled with the flat garment's mean colour (over its
  cloth-mask pixels), the person kept outside; on the solid-colour probe it wears each colour
  exactly (slope 1).
* mean garment (VTOFF): the pixel mean of the train-split flat garments; for the IoU, the
  train-split mean cloth mask thresholded at 0.5.

Both VTON baselines keep the true pixels outside the mask, so the model's try-on is scored with
``repaint`` on (the person pasted back outside the mask, as the pipeline offers), the same footing;
``--no-repaint`` scores the raw output, whose outside has passed through the VAE.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from ..cli_args import add_part_arguments, part_options
from ..data import build_dataset
from ..errors import DataError, TWGTMError
from ..metrics.ssim import ssim
from .baselines import masked_person, mean_colour_fill, mean_image, vae_round_trip
from .folders import parse_size
from .region_scores import colour_error, mask_iou, mean_colour_error, region_ssim, summarize
from .report import write_json
from .sampling import batches, dataset_seeds, limited, load_for_eval
from ..validate import check_writable
from ..vocab import DTYPE_CHOICES, TRYOFF_MASK_MODES, parse_device, parse_dtype, parse_mask_mode
from .sensitivity import SOLID_COLOURS, colour_table, probe_person, probe_tryoff, solid_garments, solid_persons
from .toy_report import BASELINES, COLUMNS, COPY, MEAN, NO_BASELINE, ROWS, VAE, toy_table

log = logging.getLogger("twgtm")


def native_size(root: str | Path, split: str = "test") -> tuple[int, int]:
    """(H, W) of the first person image of a toy wardrobe split (upright, as the data set reads it)."""
    from ..data.io import read_image

    folder = Path(root) / split / "image"
    files = sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if not files:
        raise DataError(f"no person images in {folder}: expected a toy wardrobe written by "
                        "`python -m twgtm.data.toy --out DIR` (VITON-HD layout with a test split).")
    image = read_image(files[0], "person image")
    return image.height, image.width


def train_means(root: str | Path, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel mean (1,3,H,W) of the train-split garments and mean (1,1,H,W) of their cloth masks."""
    train = build_dataset("toy", root, split="train", size=size, mode="paired")
    if len(train) == 0:
        raise DataError(f"the train split of {root} is empty: the mean-garment baseline needs train garments; "
                        "generate the wardrobe with --test-fraction below 1.")
    garments, masks = zip(*((s["garment"], s["garment_mask"]) for s in train))
    return mean_image(garments), mean_image(masks)


def _tryon_scores(scores: dict, name: str, output: torch.Tensor, batch: dict, region: torch.Tensor) -> None:
    """Append the VTON scores of one output batch (model or baseline `name`) to `scores`."""
    person, inpaint = batch["person"], batch["inpaint_mask"]
    scores[("tryon", "ssim", name)].append(ssim(output, person))
    scores[("tryon", "colour_error", name)].append(colour_error(output, person, inpaint))
    scores[("tryon", "garment_ssim", name)].append(region_ssim(output, person, region))
    scores[("tryon", "garment_colour_error", name)].append(colour_error(output, person, region))


def _sensitivity(pipe, test, persons: int, colours: list[str] | None, seed: int, sampler: dict, repaint: bool,
                 mask_mode: str, mean_garment: torch.Tensor, scores: dict) -> dict:
    """Run the solid-colour probes (try-on and try-off) on the first `persons` test items, model and baselines.

    Every colour of one person uses the same noise seed (seed + the person's index), so the outputs
    differ only by the garment given.
    """
    names, table = colour_table(colours)
    detail = {"colours": {n: list(SOLID_COLOURS[n]) for n in names}, "persons": 0, "mean_colours": {},
              "tryoff_mean_colours": {}}
    for index in range(min(persons, len(test))):
        item = test[index]
        person, garment = item["person"][None], item["garment"][None]  # (1,3,H,W)
        inpaint, cloth = item["inpaint_mask"][None], item["garment_mask"][None]  # (1,1,H,W)
        region = item["garment_region"][None]
        k = len(names)
        people, masks = person.expand(k, -1, -1, -1), inpaint.expand(k, -1, -1, -1)
        dressers = {
            "model": lambda garments: pipe.tryon(people, garments, masks, prompt=item["category"], repaint=repaint,
                                                 seed=[seed + index] * k, **sampler).images,
            COPY: lambda garments: masked_person(people, masks),
            MEAN: lambda garments: mean_colour_fill(people, masks, garments, cloth.expand(k, -1, -1, -1)),
            VAE: lambda garments: vae_round_trip(pipe.model, solid_persons(person, region, table), garments,
                                                 masks if repaint else None),
        }
        for column, dress in dressers.items():
            probe = probe_person(dress, garment, cloth, region, table)
            scores[("tryon", "sensitivity_slope", column)].append(torch.tensor([probe["slope"]]))
            scores[("tryon", "colours_recognised", column)].append(probe["recognised"].float().mean().view(1))
            if column == "model":
                detail["mean_colours"][item["name"]] = dict(zip(names, probe["mean_colours"].round().tolist()))
        undressers = {
            "model": lambda persons: pipe.tryoff(persons, prompt=item["category"], mask_mode=mask_mode,
                                                 seed=[seed + index] * k, **sampler).images,
            COPY: lambda persons: persons,
            MEAN: lambda persons: mean_garment.expand(k, -1, -1, -1),
            VAE: lambda persons: vae_round_trip(pipe.model, solid_garments(garment, cloth, table), persons),
        }
        for column, undress in undressers.items():
            probe = probe_tryoff(undress, person, region, cloth, table)
            scores[("tryoff", "sensitivity_slope", column)].append(torch.tensor([probe["slope"]]))
            scores[("tryoff", "colours_recognised", column)].append(probe["recognised"].float().mean().view(1))
            if column == "model":
                detail["tryoff_mean_colours"][item["name"]] = dict(zip(names, probe["mean_colours"].round().tolist()))
        detail["persons"] += 1
    return detail


def evaluate_toy(
    checkpoint: str | Path,
    data: str | Path,
    *,
    n: int | None = None,
    steps: int = 30,
    guidance: float = 2.5,
    seed: int = 0,
    scheduler: str = "ddim",
    mask_mode: str = "bbox",
    repaint: bool = True,
    size: tuple[int, int] | None = None,
    batch_size: int = 4,
    sensitivity_persons: int = 8,
    colours: list[str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    model_options: dict | None = None,
) -> dict:
    """Run VTON, the sensitivity probe and VTOFF on the paired test split; score model and baselines (a JSON-ready dict).

    `model_options` go to `twgtm.load_model` (base, clip, swin, profile, preset, option_names).
    """
    mask_mode = parse_mask_mode(mask_mode)
    size = tuple(size) if size is not None else native_size(data)
    test = limited(build_dataset("toy", data, split="test", size=size, mode="paired", garment_region=True), n)
    if len(test) == 0:
        raise DataError(f"the test split of {data} is empty; generate the wardrobe with a test fraction above 0.")
    mean_garment, mean_mask = train_means(data, size)
    log.info("toy eval: %d paired test pairs of %s at %dx%d", len(test), data, *size)
    pipe = load_for_eval(checkpoint, device, dtype, model_options)
    scores = {(task, metric, name): [] for task, metric, _, _ in ROWS for name in COLUMNS
              if (task, metric, name) not in NO_BASELINE}
    no_mask_reason = None
    batch_iter = batches(test, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batch_iter = tqdm(batch_iter, total=-(-len(test) // batch_size), desc="toy eval", unit="batch")
    for start, batch in batch_iter:
        person, garment = batch["person"], batch["garment"]  # (B,3,H,W)
        inpaint, cloth_mask = batch["inpaint_mask"], batch["garment_mask"]  # (B,1,H,W)
        region = batch["garment_region"]  # (B,1,H,W)
        b, seeds, prompts = person.shape[0], dataset_seeds(seed, start, person.shape[0]), list(batch["category"])
        common = dict(prompt=prompts, seed=seeds, steps=steps, guidance=guidance, scheduler=scheduler)
        dressed = pipe.tryon(person, garment, inpaint, repaint=repaint, **common).images.float().cpu()
        for name, output in (("model", dressed), (COPY, masked_person(person, inpaint)),
                             (MEAN, mean_colour_fill(person, inpaint, garment, cloth_mask)),
                             (VAE, vae_round_trip(pipe.model, person, garment, inpaint if repaint else None))):
            _tryon_scores(scores, name, output, batch, region)
        off = pipe.tryoff(person, mask_mode=mask_mode, **common)
        for name, output in (("model", off.images.float().cpu()), (COPY, person),
                             (MEAN, mean_garment.expand(b, -1, -1, -1)), (VAE, vae_round_trip(pipe.model, garment, person))):
            scores[("tryoff", "ssim", name)].append(ssim(output, garment))
            scores[("tryoff", "mean_colour_error", name)].append(mean_colour_error(output, garment, cloth_mask))
        if off.garment_masks is None:
            no_mask_reason = "this checkpoint's profile has no SRM garment-mask head (TFQ_0)"
        else:
            scores[("tryoff", "mask_iou", "model")].append(mask_iou(off.garment_masks.float().cpu(), cloth_mask))
        scores[("tryoff", "mask_iou", MEAN)].append(mask_iou(mean_mask.expand(b, -1, -1, -1), cloth_mask))
    sampler = dict(steps=steps, guidance=guidance, scheduler=scheduler)
    detail = _sensitivity(pipe, test, sensitivity_persons, colours, seed, sampler, repaint, mask_mode, mean_garment,
                          scores)
    results: dict = {"tryon": {}, "tryoff": {}}
    for task, metric, _, higher in ROWS:
        entry = {"higher_is_better": higher}
        for name in COLUMNS:
            key = (task, metric, name)
            if key in NO_BASELINE:
                entry[name] = {"status": "skipped", "reason": NO_BASELINE[key]}
            elif name == "model" and metric == "mask_iou" and no_mask_reason:
                entry[name] = {"status": "skipped", "reason": no_mask_reason}
            elif not scores[key]:
                entry[name] = {"status": "skipped", "reason": "no sensitivity persons (--sensitivity-persons 0)"}
            else:
                entry[name] = summarize(scores[key])
        results[task][metric] = entry
    return {
        "checkpoint": str(checkpoint), "data": str(data), "split": "test", "mode": "paired", "n": len(test),
        "size": list(size), "steps": steps, "guidance": guidance, "seed": seed, "scheduler": scheduler,
        "tryoff_mask_mode": mask_mode, "repaint": repaint, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
        "baselines": {f"{task}.{name}": text for (task, name), text in BASELINES.items()},
        "sensitivity": detail,
        **results,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m twgtm.eval.toy``."""
    parser = argparse.ArgumentParser(prog="python -m twgtm.eval.toy",
                                     description="Score a TWGTM checkpoint on held-out toy-wardrobe pairs "
                                                 "(paired test split) beside copy and mean baselines.")
    parser.add_argument("--checkpoint", required=True, help="TWGTM .safetensors checkpoint")
    parser.add_argument("--data", required=True, help="toy wardrobe folder (python -m twgtm.data.toy --out DIR)")
    parser.add_argument("--n", type=int, help="score only the first N test pairs (default: all)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance (default 2.5)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the first pair; pair i uses seed + i")
    parser.add_argument("--scheduler", default="ddim", help="sampler scheduler (default ddim)")
    parser.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox",
                        help="VTOFF generation region: box of the predicted garment mask (default) or the whole half")
    parser.add_argument("--no-repaint", dest="repaint", action="store_false",
                        help="VTON: score the raw output instead of pasting the person back outside the mask "
                             "(the baselines keep the true pixels there)")
    parser.add_argument("--size", help="HxW to read the images at (default: the wardrobe's own size)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sensitivity-persons", type=int, default=8,
                        help="test persons dressed in every solid colour for the sensitivity probe (default 8; 0 = off)")
    parser.add_argument("--colours", help=f"comma-separated probe colours (default all: {','.join(SOLID_COLOURS)})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=DTYPE_CHOICES, help="weights precision (default float32)")
    add_part_arguments(parser.add_argument_group("model files"))
    parser.add_argument("--json", help="also write the JSON report to this file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the toy evaluation; print the table and the JSON report; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.json:
            check_writable(args.json, "--json")
        report = evaluate_toy(args.checkpoint, args.data, n=args.n, steps=args.steps, guidance=args.guidance,
                              seed=args.seed, scheduler=args.scheduler, mask_mode=args.mask_mode,
                              repaint=args.repaint, size=parse_size(args.size), batch_size=args.batch_size,
                              sensitivity_persons=args.sensitivity_persons,
                              colours=args.colours.split(",") if args.colours else None,
                              device=parse_device(args.device), dtype=parse_dtype(args.dtype), progress=not args.no_progress,
                              model_options=part_options(args))
    except TWGTMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(toy_table(report))
    print()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        write_json(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
