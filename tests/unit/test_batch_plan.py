"""Batch jobs without a model: manifests (CSV, JSONL), folder pairing, seeds, batches, the output store."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twgtm.batch.manifest import RowDefaults, Settings, id_seed, make_items, pair_folders, parse_value, read_manifest
from twgtm.batch.plan import plan_batches
from twgtm.batch.store import FileHashes, OutputStore, item_fingerprint
from twgtm.errors import ConfigError, InputError

TWGTM_TASKS = ("tryon", "tryoff", "roundtrip")


def _image(path: Path, size=(45, 33)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(path)
    return path


def _items(tmp_path, text: str, name: str = "job.csv", **flags):
    path = tmp_path / name
    path.write_text(text)
    rows, failures = read_manifest(path)
    items, bad = make_items(rows, RowDefaults("twgtm", flags, 0), path.parent)
    return items, failures + bad


def test_csv_columns_by_name_paths_relative_to_the_manifest_and_flags_under_columns(tmp_path):
    items, failures = _items(tmp_path, "garment,id,person,task,steps,size,repaint,scheduler\n"
                                       "g.png,a,img/p.png,tryon,,,,\n"
                                       "g.png,b,/abs/p.png,TRY-ON,7,64x48,yes,dpm++\n",
                             steps=20, scheduler="ddim")
    assert not failures
    a, b = items
    assert a.images == {"person": tmp_path / "img/p.png", "garment": tmp_path / "g.png"}
    assert b.images["person"] == Path("/abs/p.png") and b.task == "tryon"
    assert a.settings == Settings(steps=20, scheduler="ddim")
    assert b.settings == Settings(steps=7, scheduler="dpmpp_2m", size=(64, 48), repaint=True)
    assert a.prompt == "upper" and a.seed == id_seed("a", 0)


def test_seeds_come_from_the_id_never_the_position(tmp_path):
    text = "id,task,person\nx,tryoff,p.png\ny,tryoff,p.png\nz,tryoff,p.png\n"
    forward, _ = _items(tmp_path, text)
    backward, _ = _items(tmp_path, "id,task,person\n" + "\n".join(reversed(text.splitlines()[1:])) + "\n")
    assert {i.id: i.seed for i in forward} == {i.id: i.seed for i in backward}
    assert len({i.seed for i in forward}) == 3
    assert id_seed("x", 5) == (id_seed("x", 0) + 5) % 2 ** 64
    assert id_seed("x") == 0x2D711642B726B044  # the first 8 bytes of sha256(b"x"): the contract, on every machine


def test_bad_rows_become_failures_with_reasons(tmp_path):
    items, failures = _items(tmp_path, "id,task,person,garment,seed,category,size\n"
                                       "ok,tryon,p.png,g.png,,,\n"
                                       ",tryon,p.png,g.png,,,\n"
                                       "nogarment,tryon,p.png,,,,\n"
                                       "badseed,tryoff,p.png,,x,,\n"
                                       "badcat,tryoff,p.png,,,shoes,\n"
                                       "badsize,tryoff,p.png,,,,64\n"
                                       "../up,tryoff,p.png,,,,\n"
                                       "a2a,modelfree,,g.png,,,\n"
                                       "ok,tryoff,p.png,,,,\n"
                                       "extra,tryoff,p.png,,,,,too many\n")
    assert [i.id for i in items] == ["ok"]
    reasons = {f.row: f.reason for f in failures}
    assert "no id" in reasons[3] and "needs garment" in reasons[4] and "seed 'x' is not an integer" in reasons[5]
    assert "unknown garment category 'shoes'" in reasons[6] and "expected HxW" in reasons[7]
    assert "cannot name an output file" in reasons[8] and "need --family a2a" in reasons[9]
    assert "already used on line 2" in reasons[10] and "more cell(s) than the header" in reasons[11]


def test_unknown_column_stops_the_job_but_a_jsonl_line_fails_alone(tmp_path):
    with pytest.raises(ConfigError, match="unknown column.*'stpes'"):
        _items(tmp_path, "id,task,person,stpes\na,tryoff,p.png,3\n")
    with pytest.raises(ConfigError, match="header row"):
        _items(tmp_path, "a,tryoff,p.png\n")
    items, failures = _items(tmp_path, '{"id": "a", "task": "tryoff", "person": "p.png", "steps": 3, "size": [64, 48]}\n'
                                       '\n{"id": "b", "task": "tryoff", "person": "p.png", "stpes": 3}\n'
                                       'not json\n[1, 2]\n', name="job.jsonl")
    assert [i.id for i in items] == ["a"] and items[0].settings.size == (64, 48) and items[0].settings.steps == 3
    assert sorted(f.row for f in failures) == [3, 4, 5]


def test_row_prompt_or_category_beats_the_flags(tmp_path):
    items, _ = _items(tmp_path, "id,task,person,category,prompt\na,tryoff,p.png,,\nb,tryoff,p.png,dress,\n"
                                "c,tryoff,p.png,,a red coat\n", prompt="a blue coat", category="lower")
    assert [(i.prompt, i.category) for i in items] == [("a blue coat", "lower"), ("dress", "dress"),
                                                       ("a red coat", "lower")]


def test_folder_pairing_all_zip_file_and_masks(tmp_path):
    for name in ("a", "b"):
        _image(tmp_path / "persons" / f"{name}.png")
        _image(tmp_path / "garments" / f"g{name}.jpg")
    _image(tmp_path / "masks" / "a_mask.png")
    every = pair_folders("tryon", "twgtm", tmp_path / "persons", tmp_path / "garments", "all", masks=tmp_path / "masks")
    assert [r.values["id"] for r in every] == ["a__ga", "a__gb", "b__ga", "b__gb"]
    assert every[0].values["mask"] == str(tmp_path / "masks" / "a_mask.png") and "mask" not in every[2].values
    zipped = pair_folders("tryon", "twgtm", tmp_path / "persons", tmp_path / "garments", "zip")
    assert [r.values["id"] for r in zipped] == ["a__ga", "b__gb"]
    (tmp_path / "pairs.txt").write_text("# person garment\nb.png gb.jpg\n")
    listed = pair_folders("tryon", "twgtm", tmp_path / "persons", tmp_path / "garments", "file", tmp_path / "pairs.txt")
    assert [r.values["id"] for r in listed] == ["b__gb"]
    alone = pair_folders("tryoff", "twgtm", tmp_path / "persons")
    assert [r.values for r in alone][0] == {"id": "a", "task": "tryoff", "person": str(tmp_path / "persons" / "a.png")}
    garments_only = pair_folders("modelfree", "a2a", None, tmp_path / "garments")
    assert [r.values["garment"] for r in garments_only] == [str(tmp_path / "garments" / "ga.jpg"),
                                                            str(tmp_path / "garments" / "gb.jpg")]
    _image(tmp_path / "garments" / "gc.png")
    with pytest.raises(ConfigError, match="2 images .* 3"):
        pair_folders("tryon", "twgtm", tmp_path / "persons", tmp_path / "garments", "zip")
    with pytest.raises(ConfigError, match="--pairs-file"):
        pair_folders("tryon", "twgtm", tmp_path / "persons", tmp_path / "garments", "file")


def test_batches_share_task_settings_and_sizes_in_manifest_order(tmp_path):
    for name, size in (("p", (45, 33)), ("q", (40, 30))):
        _image(tmp_path / f"{name}.png", size)
    _image(tmp_path / "g.png", (20, 30))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    rows = ["id,task,person,garment,steps,mask"]
    rows += [f"on{i},tryon,p.png,g.png,," for i in range(5)]
    rows += ["small,tryon,q.png,g.png,,", "fast,tryon,p.png,g.png,3,", "masked,tryoff,p.png,,,p.png",
             "off,tryoff,p.png,,,", "trip,roundtrip,p.png,,,", "gone,tryoff,nobody.png,,,", "broken,tryoff,broken.png,,,"]
    items, _ = _items(tmp_path, "\n".join(rows) + "\n")
    store = OutputStore(tmp_path / "out")
    batches, failures = plan_batches(items, 2, ("tryon", "tryoff"), "profile x", store.files_of)
    assert [b.ids for b in batches] == [["on0", "on1"], ["on2", "on3"], ["on4"], ["small"], ["fast"], ["masked"], ["off"]]
    assert batches[3].sizes == (("garment", (20, 30)), ("person", (40, 30)))
    assert [b.index for b in batches] == list(range(7))
    reasons = {f.id: f.reason for f in failures}
    assert "not one profile x does" in reasons["trip"] and "not found" in reasons["gone"]
    assert "not a readable image" in reasons["broken"]


def test_output_names_that_clash_fail(tmp_path):
    _image(tmp_path / "p.png")
    items, _ = _items(tmp_path, "id,task,person\na,tryoff,p.png\na_mask,tryoff,p.png\n")
    store = OutputStore(tmp_path / "out")
    batches, failures = plan_batches(items, 4, TWGTM_TASKS, "m", store.files_of)
    assert [b.ids for b in batches] == [["a"]] and "overwrite item 'a'" in failures[0].reason


def test_store_atomic_writes_sidecars_and_the_done_check(tmp_path):
    person = _image(tmp_path / "p.png")
    items, _ = _items(tmp_path, "id,task,person\nsub/a,tryoff,p.png\n")
    item = items[0]
    store = OutputStore(tmp_path / "out")
    store.prepare()
    hashes = FileHashes(store.state / "file-hashes.json")
    made_from, fingerprint = item_fingerprint(item, {"files": {"checkpoint": "abc"}}, hashes)
    assert not store.is_done(item, fingerprint)
    picture = Image.new("RGB", (4, 4), "red")
    store.write_item(item, {"image": picture, "mask": picture.convert("L")}, {**made_from, "fingerprint": fingerprint})
    assert sorted(p.name for p in (tmp_path / "out" / "sub").iterdir()) == ["a.json", "a.png", "a_mask.png"]
    assert not any(store.tmp.iterdir())
    assert store.is_done(item, fingerprint)
    assert not store.is_done(item, item_fingerprint(item, {"files": {"checkpoint": "abd"}}, hashes)[1])  # new model
    (tmp_path / "out" / "sub" / "a_mask.png").write_bytes(b"cut short")
    assert not store.is_done(item, fingerprint)
    # inputs by content: the same bytes written again keep the fingerprint, other bytes change it
    hashes.save(store.write_bytes)
    cached = json.loads((store.state / "file-hashes.json").read_text())
    assert cached[str(person.resolve())][2] == hashes(person)
    person.write_bytes(person.read_bytes())
    assert item_fingerprint(item, {"files": {"checkpoint": "abc"}}, FileHashes(store.state / "file-hashes.json"))[1] \
        == fingerprint
    _image(person, (46, 33))
    assert item_fingerprint(item, {"files": {"checkpoint": "abc"}}, hashes)[1] != fingerprint


def test_value_parsers():
    assert parse_value("size", "512 384") == (512, 384) and parse_value("size", "512,384") == (512, 384)
    assert parse_value("repaint", "No") is False and parse_value("raw", True) is True
    assert parse_value("mask_mode", "FULL") == "full" and parse_value("category", "upper_body") == "upper"
    assert parse_value("prompt", "  a coat ") == "a coat" and parse_value("guidance", "2.5") == 2.5
    for column, value, message in (("steps", 3.5, "is not an integer"), ("steps", "0", "at least 1"),
                                   ("seed", str(2 ** 64), "must be in 0..18446744073709551615"),
                                   ("guidance", "high", "is not a number"), ("repaint", "maybe", "yes/no")):
        with pytest.raises(InputError, match=message):
            parse_value(column, value)
    assert parse_value("steps", 3.0) == 3 and parse_value("seed", " 7 ") == 7
