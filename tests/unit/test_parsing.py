"""Automatic masks: the rules on hand-made ATR parse maps, and a tiny random SegFormer parser read from a folder."""
import pytest
import torch

from twgtm.errors import CheckpointError, ConfigError, InputError
from twgtm.parsing import ATR_LABELS, AutoMask, auto_mask, label_ids, load_parser, tryoff_garment_mask, tryon_agnostic_mask
from twgtm.parsing.rules import far_ends

from ..support.profile_files import write_tiny_parser

pytestmark = pytest.mark.usefixtures("one_thread")
L = {name: i for i, name in enumerate(ATR_LABELS)}
H, W = 200, 120


def person_parse(sleeves: bool = False, dress: bool = False) -> torch.Tensor:
    """A standing person (1,H,W): hair, face, a top, arms hanging beside it, trousers, legs and shoes."""
    p = torch.full((H, W), L["Background"])
    p[4:14, 44:76] = L["Hair"]
    p[14:36, 46:74] = L["Face"]
    p[36:112, 34:86] = L["Dress"] if dress else L["Upper-clothes"]
    for x0 in (20, 89):  # arms: a background gap of 3 px to the torso
        p[40:132, x0:x0 + 11] = L["Upper-clothes"] if sleeves else L["Left-arm" if x0 < 60 else "Right-arm"]
        if sleeves:
            p[118:132, x0:x0 + 11] = L["Left-arm" if x0 < 60 else "Right-arm"]  # only the hands show
    p[112:170, 38:58] = L["Pants"]
    p[112:170, 62:82] = L["Pants"]
    p[170:192, 42:54] = L["Left-leg"]  # cropped trousers: the shins show
    p[170:192, 66:78] = L["Right-leg"]
    p[192:200, 38:58] = L["Left-shoe"]
    p[192:200, 62:82] = L["Right-shoe"]
    return p[None]


def test_tryoff_masks_are_tryoffanyones_tops_and_bottoms():
    parse = person_parse()
    parse[0, 60:80, 40:60] = L["Dress"]
    upper = tryoff_garment_mask(parse, L, "upper")[0, 0].bool()
    assert torch.equal(upper, (parse[0] == L["Upper-clothes"]) | (parse[0] == L["Dress"]))
    lower = tryoff_garment_mask(parse, L, "lower")[0, 0].bool()
    assert torch.equal(lower, (parse[0] == L["Pants"]) | (parse[0] == L["Skirt"]))
    assert tryoff_garment_mask(parse, L, "bottoms").shape == (1, 1, H, W)  # DressCode / TryOffAnyone spellings


def test_tryon_upper_covers_top_arms_and_gaps_and_keeps_face_hands_and_lower_body():
    parse = person_parse()
    mask = tryon_agnostic_mask(parse, L, "upper")[0, 0].bool()
    p = parse[0]
    assert mask[p == L["Upper-clothes"]].all()
    assert not mask[(p == L["Face"]) | (p == L["Hair"]) | (p == L["Pants"]) | (p == L["Left-shoe"])].any()
    assert mask[50:100, 31:34].all() and mask[50:100, 86:89].all()  # the gaps between arms and torso
    arm = p == L["Left-arm"]
    hand_rows = int(0.09 * (200 - 4))  # the hand: the far end of the arm, 9 % of the person's height
    assert mask[40:132 - hand_rows - 1][arm[40:132 - hand_rows - 1]].all()  # the arm above the hand is redrawn
    assert not mask[132 - hand_rows + 1:132][arm[132 - hand_rows + 1:132]].any()  # the hand is kept
    assert mask[36:112, 30:34].any() and not mask[:, :10].any()  # dilated a little beyond the silhouette, not far


def test_tryon_lower_and_dress_regions():
    parse = person_parse()
    p = parse[0]
    lower = tryon_agnostic_mask(parse, L, "lower")[0, 0].bool()
    assert lower[p == L["Pants"]].all() and lower[112:170, 58:62].all()  # the trousers and the gap between the legs
    assert not lower[(p == L["Upper-clothes"]) | (p == L["Left-arm"]) | (p == L["Face"]) | (p == L["Right-shoe"])].any()
    feet = int(0.05 * 196)
    leg = p == L["Left-leg"]
    assert not lower[192 - feet + 1:192][leg[192 - feet + 1:192]].any()  # the feet above the shoes kept
    assert lower[170:192 - feet - 1][leg[170:192 - feet - 1]].all()  # the legs above them redrawn
    dress = tryon_agnostic_mask(person_parse(dress=True), L, "dress")[0, 0].bool()
    assert dress[p == L["Pants"]].all() and dress[36:112, 34:86].all() and not dress[p == L["Face"]].any()


def test_a_hand_below_a_long_sleeve_is_kept_whole():
    parse = person_parse(sleeves=True)
    mask = tryon_agnostic_mask(parse, L, "upper")[0, 0].bool()
    hands = (parse[0] == L["Left-arm"]) | (parse[0] == L["Right-arm"])
    assert hands.sum() > 200 and not mask[hands].any()
    assert mask[(parse[0] == L["Upper-clothes"])].all()


def test_far_ends_lie_along_each_piece_away_from_the_face():
    limb = torch.zeros(60, 60, dtype=torch.bool)
    limb[5:45, 10:16] = True  # a vertical arm below the face: its end is at the bottom
    limb[20:26, 25:55] = True  # a horizontal arm to the right of it: its end is at the right
    limb[50:54, 40:44] = True  # a small piece (a hand below a sleeve): whole
    ends = far_ends(limb, torch.tensor([0.0, 20.0]), length=6)
    assert ends[40:45, 10:16].all() and not ends[5:38, 10:16].any()
    assert ends[20:26, 50:55].all() and not ends[20:26, 25:47].any()
    assert ends[50:54, 40:44].all()


def test_label_ids_by_name_and_a_foreign_parser():
    reordered = {i: name.lower().replace("-", "_") for i, name in enumerate(reversed(ATR_LABELS))}
    ids = label_ids(reordered)
    assert ids["Background"] == len(ATR_LABELS) - 1 and ids["Scarf"] == 0
    with pytest.raises(CheckpointError, match="lacks .*Upper-clothes.*segformer_b3_clothes"):
        label_ids({0: "background", 1: "person"}, "parser X")


def test_rules_reject_unknown_categories():
    with pytest.raises(ConfigError, match="upper, lower, dress"):
        tryon_agnostic_mask(person_parse(), L, "hat")


@pytest.fixture(scope="module")
def parsers(tmp_path_factory):
    d = tmp_path_factory.mktemp("parsers")
    return {"random": write_tiny_parser(d / "random"), "top": write_tiny_parser(d / "top", "Upper-clothes"),
            "face": write_tiny_parser(d / "face", "Face"), "dir": d}


def test_parser_folder_parses_at_the_image_size(parsers):
    parser = load_parser(parsers["random"])
    person = torch.rand(2, 3, 50, 37) * 2 - 1
    labels = parser.parse(person)
    assert labels.shape == (2, 50, 37) and labels.dtype == torch.long and int(labels.max()) < len(ATR_LABELS)
    top = load_parser(parsers["top"])
    assert (top.parse(person) == top.labels["Upper-clothes"]).all()
    mask = auto_mask(top, person, "tryoff", "upper")
    assert mask.shape == (2, 1, 50, 37) and mask.all()
    assert AutoMask(top, "tryon", "dress")(person).all()  # all garment, nothing kept


def test_empty_automatic_mask_and_bad_parser_folders(parsers, tmp_path):
    face = load_parser(parsers["face"])
    with pytest.raises(InputError, match="automatic tryon mask of item.*empty.*draw the mask by hand"):
        auto_mask(face, torch.zeros(1, 3, 32, 32), "tryon", "upper")
    with pytest.raises(CheckpointError, match="not found.*segformer_b3_clothes"):
        load_parser(tmp_path / "nowhere")
    (tmp_path / "pickle").mkdir()
    (tmp_path / "pickle" / "config.json").write_text("{}")
    (tmp_path / "pickle" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="lacks \\['model.safetensors'\\].*pickle"):
        load_parser(tmp_path / "pickle")
