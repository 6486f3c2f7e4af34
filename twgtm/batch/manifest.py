"""A job's items: a manifest (CSV with a header row, or JSONL) or two folders and a pairing rule.

Columns are read by name, in any order; only `id`, `task` (or `--task`) and the task's images are
required. Image and mask paths are relative to the manifest's folder. An empty cell means "not given":
the command's flag applies. An item's seed is its row's `seed`, else `--seed` plus a hash of its id
(`id_seed`): never its position or its process. A row that cannot run (a missing column value, a bad number, an unknown
task) becomes a `Failure`; the other rows go on. A column the job does not know stops the job before
anything runs (a misspelt `stpes` would otherwise be ignored on every row).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, InputError
from ..vocab import parse_category, parse_mask_mode

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MANIFEST_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
PAIRINGS = ("all", "zip", "file")
SEED_RANGE = 2 ** 64  # what torch.Generator.manual_seed takes


@dataclass(frozen=True)
class TaskSpec:
    """What a task reads from a row and what it writes."""

    images: tuple[str, ...]  # required image columns
    optional: tuple[str, ...] = ()  # image columns it may read
    masks: tuple[str, ...] = ()  # mask columns it reads (a file or 'auto')
    outputs: tuple[str, ...] = ("image",)  # output kinds: 'image' -> <id>.png, 'mask' -> <id>_mask.png, ...


# Task names per model family: the same word may mean another task in another family ('tryon').
TASKS = {
    "twgtm": {
        "tryon": TaskSpec(("person", "garment"), masks=("mask",)),
        "tryoff": TaskSpec(("person",), masks=("mask",), outputs=("image", "mask")),
        "roundtrip": TaskSpec(("person",), ("target",), ("target_mask", "person_mask"), ("image", "garment")),
    },
    "a2a": {
        "tryon": TaskSpec(("person", "garment")),
        "modelfree": TaskSpec(("garment",)),
        "reconstruct": TaskSpec(("person",)),
        "layered": TaskSpec(("person", "garment")),
    },
}


@dataclass(frozen=True)
class Settings:
    """The sampling settings one item runs with (None: the model's default); items of a batch share them."""

    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    size: tuple[int, int] | None = None  # working size (H, W) of the person half
    repaint: bool = False
    mask_mode: str = "bbox"
    raw: bool = False


SETTING_COLUMNS = tuple(Settings.__dataclass_fields__)


@dataclass
class Item:
    """One row of the job, checked and with every path resolved."""

    id: str
    task: str
    row: int  # manifest line (CSV: line of the file, JSONL: line number; folders: pair number)
    images: dict[str, Path]  # 'person' / 'garment' / 'target' -> file
    masks: dict[str, Path | str]  # 'mask' / 'person_mask' / 'target_mask' -> file or 'auto'
    prompt: str | None  # TWGTM: the category or free text; Any2AnyTryon: the prompt (None: the task's template)
    category: str  # garment category (automatic masks, the default try-on box)
    seed: int
    settings: Settings = field(default_factory=Settings)


@dataclass
class Failure:
    """A row that did not run, and why."""

    id: str
    task: str
    row: int
    reason: str


class RowError(InputError):
    """A row that cannot run: it goes to failures.csv and the job goes on."""


@dataclass
class Row:
    """One raw row: its line and its values by column (strings from a CSV, JSON values from JSONL)."""

    line: int
    values: dict


def id_seed(item_id: str, base_seed: int = 0) -> int:
    """`base_seed` plus the first 8 bytes of sha256(id), modulo 2^64: the same on every machine and run."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return (int(base_seed) + int.from_bytes(digest[:8], "big")) % SEED_RANGE


# ----- values -------------------------------------------------------------------------------------
_ID_SEGMENT = re.compile(r'[^\\/:*?"<>|\x00-\x1f]+')


def check_id(value) -> str:
    """An item id usable as a file name ('/' makes sub-folders); RowError otherwise."""
    text = str(value).strip()
    segments = text.split("/")
    bad = [s for s in segments if not _ID_SEGMENT.fullmatch(s) or s.startswith(".") or s != s.strip() or s.endswith(".")]
    if not text or len(text) > 200 or bad:
        raise RowError(f"id {text!r} cannot name an output file: use letters, digits, '-', '_', '.' and '/' for "
                       "sub-folders (no part may start or end with '.', none of \\:*?\"<>|, at most 200 characters)")
    return text


def parse_size(value) -> tuple[int, int]:
    """(H, W) from 'HxW', 'H W', 'H,W' or a [H, W] list."""
    parts = value if isinstance(value, (list, tuple)) else re.split(r"[x×, ]+", str(value).strip().lower())
    try:
        height, width = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise RowError(f"size {value!r}: expected HxW such as 512x384") from None
    if height < 1 or width < 1:
        raise RowError(f"size {value!r}: both sides must be positive")
    return height, width


def parse_bool(value) -> bool:
    """true/false, yes/no, 1/0 (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise RowError(f"{value!r} is not a yes/no value: write true or false")


def _number(kind, name: str, low=None, high=None):
    """A parser of int or float values (text or JSON numbers) within [low, high]."""
    def parse(value):
        given = value.strip() if isinstance(value, str) else value
        try:
            number = kind(given)
            if kind is int and isinstance(given, float) and given != number:
                raise ValueError(given)  # 3.5 steps: not silently 3
        except (TypeError, ValueError):
            raise RowError(f"{name} {value!r} is not {'an integer' if kind is int else 'a number'}") from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise RowError(f"{name} {value!r}: must be in {low}..{high}" if high is not None else
                           f"{name} {value!r}: must be at least {low}")
        return number
    return parse


def parse_scheduler(value) -> str:
    """A scheduler's canonical name (so 'dpm++' and 'dpmpp_2m' share a batch)."""
    from ..vocab import SCHEDULERS, parse_scheduler as canonical

    try:
        return canonical(value)
    except ConfigError:
        raise RowError(f"scheduler {value!r}: expected one of {', '.join(SCHEDULERS)}") from None


def _checked(parse, name: str):
    """A vocabulary parser whose ConfigError becomes this row's RowError."""
    def run(value):
        try:
            return parse(value)
        except ConfigError as err:
            raise RowError(f"{name}: {err}") from None
    return run


VALUE_PARSERS = {
    "seed": _number(int, "seed", 0, SEED_RANGE - 1), "steps": _number(int, "steps", 1), "guidance": _number(float, "guidance"),
    "scheduler": parse_scheduler, "size": parse_size, "repaint": parse_bool, "raw": parse_bool,
    "mask_mode": _checked(parse_mask_mode, "mask_mode"), "category": _checked(parse_category, "category"),
}
IMAGE_COLUMNS = ("person", "garment", "target")
MASK_COLUMNS = ("mask", "person_mask", "target_mask")
COLUMNS = ("id", "task", *IMAGE_COLUMNS, *MASK_COLUMNS, "category", "prompt", "seed", *SETTING_COLUMNS)


def _given(value) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _path(value, base: Path) -> Path | str:
    text = str(value).strip()
    if text.lower() == "auto":
        return "auto"
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def parse_value(column: str, value):
    """One typed value of a column (RowError when it does not parse)."""
    parse = VALUE_PARSERS.get(column)
    return parse(value) if parse else str(value).strip()


# ----- rows -> items ------------------------------------------------------------------------------
@dataclass
class RowDefaults:
    """The command's flags that a row's columns override, and what every row shares."""

    family: str = "twgtm"
    values: dict = field(default_factory=dict)  # column -> typed value given by a flag (task, mask, steps, ...)
    base_seed: int = 0


def make_item(row: Row, defaults: RowDefaults, base: Path) -> Item:
    """The Item of one row: columns over flags, paths relative to `base`; RowError says what is wrong."""
    given = {k: v for k, v in row.values.items() if _given(v)}
    if "id" not in given:
        raise RowError("no id: every row needs one (it names the output files)")
    item_id = check_id(given["id"])
    typed = {k: parse_value(k, v) for k, v in given.items() if k != "id"}
    values = {**defaults.values, **typed}
    family_tasks = TASKS[defaults.family]
    task = str(values.get("task", "")).strip().lower().replace("-", "").replace("_", "")
    if task not in family_tasks:
        raise RowError(f"task {values.get('task')!r}: expected one of {', '.join(family_tasks)}"
                       + (" (Any2AnyTryon tasks need --family a2a)" if task in TASKS["a2a"] else ""))
    spec = family_tasks[task]
    missing = [c for c in spec.images if c not in values]
    if missing:
        raise RowError(f"task {task} needs {' and '.join(missing)} (a path relative to the manifest)")
    images = {c: _path(values[c], base) for c in (*spec.images, *spec.optional) if c in values}
    if any(p == "auto" for p in images.values()):
        raise RowError("'auto' is a mask value, not an image: give the image's path")
    masks = {c: _path(values[c], base) for c in spec.masks if c in values}
    row_words = "prompt" in typed or "category" in typed  # a row's prompt or category beats the flags'
    words = typed if row_words else values
    category = values.get("category", "upper")
    if defaults.family == "a2a":
        prompt = words.get("prompt")
    else:
        prompt = words.get("prompt") or words.get("category") or "upper"
    seed = values["seed"] if "seed" in typed else id_seed(item_id, defaults.base_seed)
    settings = Settings(**{k: values[k] for k in SETTING_COLUMNS if k in values})
    return Item(item_id, task, row.line, images, masks, prompt, category, seed, settings)


def make_items(rows: list[Row], defaults: RowDefaults, base: Path) -> tuple[list[Item], list[Failure]]:
    """Items of the rows that parse; a Failure for each other row (and for each repeated id)."""
    items, failures, first = [], [], {}
    for row in rows:
        try:
            item = make_item(row, defaults, base)
        except RowError as err:
            failures.append(Failure(str(row.values.get("id") or ""), str(row.values.get("task") or
                                    defaults.values.get("task", "")), row.line, str(err)))
            continue
        if item.id in first:
            failures.append(Failure(item.id, item.task, row.line, f"id {item.id!r} is already used on line "
                                    f"{first[item.id]}: ids name the output files, give each row its own"))
            continue
        first[item.id] = row.line
        items.append(item)
    return items, failures


# ----- manifest files -----------------------------------------------------------------------------
def _unknown(columns, where: str) -> None:
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ConfigError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; the columns are "
                          f"{', '.join(COLUMNS)} (only id, task and the task's images are needed)")


def read_manifest(path) -> tuple[list[Row], list[Failure]]:
    """The rows of a CSV (header row) or JSONL manifest, and a Failure for each line that cannot be read."""
    path = Path(path)
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    if not path.is_file():
        raise ConfigError(f"manifest not found: {path} (folder {path.parent.resolve()}); give a .csv or .jsonl file")
    if kind is None:
        raise ConfigError(f"manifest {path}: expected a .csv (with a header row) or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheet programs write
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"manifest {path} cannot be read as UTF-8 text ({err})") from err
    return _read_csv(text, path) if kind == "csv" else _read_jsonl(text, path)


def _read_csv(text: str, path: Path) -> tuple[list[Row], list[Failure]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [str(c).strip().lower() for c in (reader.fieldnames or [])]
    if "id" not in header:
        raise ConfigError(f"manifest {path}: the first line must be a header row naming the columns, with an 'id' "
                          f"column (found {header or 'nothing'}); e.g. id,task,person,garment")
    _unknown(header, f"manifest {path}")
    reader.fieldnames = header
    rows, failures = [], []
    for values in reader:
        line = reader.line_num
        extra = values.pop(None, None)
        if extra:
            failures.append(Failure(str(values.get("id") or ""), str(values.get("task") or ""), line,
                                    f"{len(extra)} more cell(s) than the header has columns (quote values with commas)"))
            continue
        rows.append(Row(line, values))
    return rows, failures


def _read_jsonl(text: str, path: Path) -> tuple[list[Row], list[Failure]]:
    rows, failures = [], []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as err:
            failures.append(Failure("", "", line, f"not valid JSON ({err.msg} at column {err.colno})"))
            continue
        if not isinstance(values, dict):
            failures.append(Failure("", "", line, "not a JSON object: each line is one {\"id\": ..., \"task\": ...}"))
            continue
        values = {str(k).strip().lower(): v for k, v in values.items()}
        try:
            _unknown(values, f"line {line}")
        except ConfigError as err:
            failures.append(Failure(str(values.get("id") or ""), str(values.get("task") or ""), line, str(err)))
            continue
        rows.append(Row(line, values))
    return rows, failures


# ----- folders ------------------------------------------------------------------------------------
def list_images(folder) -> list[Path]:
    """The image files directly in `folder`, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"image folder not found: {folder}; give a folder of .png / .jpg files")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _mask_of(person: Path, masks: Path | None) -> Path | None:
    """The file in `masks` named like the person (`<stem>.*` or `<stem>_mask.*`), if any."""
    if masks is None:
        return None
    for candidate in list_images(masks):
        if candidate.stem in (person.stem, person.stem + "_mask"):
            return candidate
    return None


def _pairs_from_file(pairs_file, first: Path, second: Path) -> list[tuple[Path, Path]]:
    path = Path(pairs_file or "")
    if not pairs_file or not path.is_file():
        raise ConfigError(f"--pairs file needs --pairs-file PATH (lines 'person garment', names in the folders); "
                          f"{'not found: ' + str(path) if pairs_file else 'none given'}")
    pairs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        names = [n for n in re.split(r"[\s,]+", raw.split("#", 1)[0].strip()) if n]
        if not names:
            continue
        if len(names) != 2:
            raise ConfigError(f"{path}: line {raw!r} should hold two names: a person and a garment")
        pairs.append((first / names[0], second / names[1]))
    return pairs


def pair_folders(task: str, family: str, persons=None, second=None, pairs: str = "all", pairs_file=None,
                 masks=None) -> list[Row]:
    """Rows from folders: persons alone (try-off, reconstruct), garments alone (model-free), or pairs of the two."""
    spec = TASKS[family].get(task)
    if spec is None:
        raise ConfigError(f"--task {task!r}: expected one of {', '.join(TASKS[family])}")
    roles = [r for r in ("person", "garment", "target") if r in spec.images + spec.optional]
    if task == "roundtrip":
        roles = ["person"] + (["target"] if second else [])
    if "garment" in roles and "person" not in roles:  # model-free: the garments folder alone
        first_role, second_role, first = "garment", None, second
    else:
        first_role, second_role, first = "person", next((r for r in roles if r != "person"), None), persons
    if first is None:
        raise ConfigError(f"task {task} from folders needs --{'garments' if first_role == 'garment' else 'persons'} DIR")
    if second_role is None:
        pairs_of = [(p, None) for p in list_images(first)]
    elif second is None:
        raise ConfigError(f"task {task} from folders needs --persons DIR and --garments DIR"
                          + (" (the persons to dress)" if task == "roundtrip" else ""))
    elif pairs == "all":
        pairs_of = [(p, g) for p in list_images(first) for g in list_images(second)]
    elif pairs == "zip":
        a, b = list_images(first), list_images(second)
        if len(a) != len(b):
            raise ConfigError(f"--pairs zip pairs the n-th files of both folders, but {first} holds {len(a)} images "
                              f"and {second} {len(b)}; use --pairs all or a --pairs-file")
        pairs_of = list(zip(a, b))
    elif pairs == "file":
        pairs_of = _pairs_from_file(pairs_file, Path(first), Path(second))
    else:
        raise ConfigError(f"--pairs {pairs!r}: expected one of {', '.join(PAIRINGS)}")
    mask_column = "person_mask" if task == "roundtrip" else "mask"
    mask_dir = Path(masks) if masks else None
    rows = []
    for number, (a, b) in enumerate(pairs_of, 1):
        values = {"id": a.stem if b is None else f"{a.stem}__{b.stem}", "task": task, first_role: str(a)}
        if b is not None:
            values[second_role] = str(b)
        mask = _mask_of(a, mask_dir) if first_role == "person" and spec.masks else None
        if mask is not None:
            values[mask_column] = str(mask)
        rows.append(Row(number, values))
    return rows
