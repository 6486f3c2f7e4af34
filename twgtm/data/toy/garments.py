"""Flat garment templates of the toy wardrobe and how each part maps onto a posed body.

A template is drawn in garment space (design units, the flat product image). Each garment is
cut into parts (torso, sleeves, skirt, trouser legs); a part is a garment-space quad, the
matching quad on the person (from the pose), and a garment-space region predicate saying
which flat-garment pixels belong to it. The renderer maps every part by the homography between
its two quads, so the garment follows the pose's limb placement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import ConfigError
from .geometry import DESIGN_W, limb_edges, quads_from_edges, side_of
from .pose import SHOULDER_Y, WAIST_Y, Pose

TEMPLATES = ("tee", "long_sleeve", "tank", "dress", "skirt", "trousers")
CATEGORY_OF = {"tee": "upper", "long_sleeve": "upper", "tank": "upper", "dress": "dress",
               "skirt": "lower", "trousers": "lower"}
SCALE = 1.7  # garment-space units per body unit (a flat garment fills its product photo)
CX = DESIGN_W / 2


@dataclass
class Part:
    """One garment piece: garment quad → person quad, its garment-space region, and its layer."""

    garment_quad: np.ndarray  # 4×2, garment space
    person_quad: np.ndarray  # 4×2, person canvas
    region: Callable[[np.ndarray, np.ndarray], np.ndarray]
    layer: str = "base"  # "base" (under the arms) or "sleeve" (over the arms)


@dataclass
class GarmentShape:
    """A sampled flat garment: its outline polygons and where lettering goes (garment space)."""

    kind: str
    polygons: list
    chest: tuple  # (x, y) centre for lettering / prints
    chest_half_width: float
    parts_for: Callable[[Pose], list] = field(repr=False, default=None)

    @property
    def category(self) -> str:
        """"upper" | "lower" | "dress"."""
        return CATEGORY_OF[self.kind]


def _mirror(points):
    return [(2 * CX - x, y) for x, y in points]


def _neckline(rng, half_width: float, depth: float, y0: float):
    """Points of a round or V neckline from the right neck point to the left one."""
    if rng.random() < 0.35:
        return [(CX + half_width, y0), (CX, y0 + depth), (CX - half_width, y0)]
    angles = np.linspace(0.0, np.pi, 9)
    return [(CX + half_width * np.cos(a), y0 + depth * np.sin(a)) for a in angles]


def _everywhere(u, v):
    return np.ones_like(u, dtype=bool)


def _sleeve(rng, side: int, shoulder, armpit, angle: float, length: float, end_half: float, long: bool):
    """Garment-space sleeve: outline polygon, mapping edges (start, [elbow,] end) and the armhole edge.

    The outline starts at the armhole (shoulder → armpit); the mapping edges are cross-sections
    perpendicular to the sleeve's axis, so every quad is a tidy trapezoid even when the sleeve
    hangs almost parallel to the armhole.
    """
    direction = np.array([side * np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    shoulder, armpit = np.asarray(shoulder, float), np.asarray(armpit, float)
    start_mid = (shoulder + armpit) / 2
    normal = limb_edges([start_mid, start_mid + direction], [1.0, 1.0], side)[1][0] - (start_mid + direction)
    start_half = max(abs(float(np.dot(shoulder - armpit, normal))) / 2, 4.0)
    fractions = (0.0, 0.53, 1.0) if long else (0.0, 1.0)
    edges = []
    for fraction in fractions:
        centre = start_mid + direction * length * fraction
        half = start_half + (end_half - start_half) * fraction
        edges.append((centre + normal * half, centre - normal * half))
    outline = [shoulder] + [e[0] for e in edges[1:]] + [e[1] for e in edges[1:]][::-1] + [armpit]
    return outline, edges, (shoulder, armpit)


def _sleeve_parts(pose: Pose, side: int, edges, armhole, long: bool, length: float) -> list:
    """Sleeve parts mapping garment edges onto the pose's arm (to the elbow-ish end, or the wrist)."""
    joints, arm_widths = pose.arms[side]
    shoulder, elbow, wrist = joints
    s = pose.torso.scale
    half = [max(np.hypot(*(e[0] - e[1])) / 2 / SCALE * s, w + 0.8 * s) for e, w in zip(edges, arm_widths)]
    if long:
        person_points = [shoulder, elbow, wrist]
    else:
        reach = length / SCALE * s / max(np.hypot(*(elbow - shoulder)), 1e-6)
        person_points = [shoulder, shoulder + (elbow - shoulder) * min(reach, 1.2)]
    person_edges = limb_edges(person_points, half[:len(person_points)], side)
    outward = (CX + side * 40.0, armhole[0][1] + 10.0)
    # Reach a little past the armhole into the torso, so no skin shows between sleeve and body.
    overlap = np.array([side * 5.0, 0.0])
    armhole = (armhole[0] - overlap, armhole[1] - overlap)
    parts = []
    for index, (g_quad, p_quad) in enumerate(zip(quads_from_edges(edges), quads_from_edges(person_edges))):
        cut = edges[1] if long else None

        def region(u, v, cut=cut, upper=index == 0):
            inside = side_of(armhole[0], armhole[1], u, v) * side_of(armhole[0], armhole[1], *outward) > 0
            if cut is not None:
                beyond = side_of(cut[0], cut[1], u, v) * side_of(cut[0], cut[1], *armhole[0]) < 0
                inside &= ~beyond if upper else beyond
            return inside
        parts.append(Part(g_quad, np.array(p_quad), region, "sleeve"))
    return parts


def _torso_part(pose: Pose, shoulder_half: float, shoulder_y: float, hip_half: float, hip_y: float,
                region) -> Part:
    """The torso part: garment shoulder/hip line quad → the pose's shoulders and hips."""
    garment = np.array([(CX - shoulder_half, shoulder_y), (CX + shoulder_half, shoulder_y),
                        (CX + hip_half, hip_y), (CX - hip_half, hip_y)])
    ps = max(shoulder_half / SCALE, pose.shoulder_half + 0.3)
    ph = max(hip_half / SCALE, pose.hip_half + 0.6)
    person = np.array([pose.local(-ps, SHOULDER_Y + 1.0), pose.local(ps, SHOULDER_Y + 1.0),
                       pose.local(ph, 0.0), pose.local(-ph, 0.0)])
    return Part(garment, person, region, "base")


def _hanging_part(pose: Pose, top_half: float, top_y: float, top_local_y: float, hem_half: float, hem_y: float,
                  hip_y: float, region) -> Part:
    """A part hanging from a body line to a hem (skirt, dress skirt), wide enough for the legs."""
    garment = np.array([(CX - top_half, top_y), (CX + top_half, top_y), (CX + hem_half, hem_y), (CX - hem_half, hem_y)])
    depth = (hem_y - hip_y) / SCALE
    top = max(top_half / SCALE, (pose.waist_half if top_local_y < 0 else pose.hip_half) + 0.5)
    hem = max(hem_half / SCALE, pose.legs_half_span(depth) + 0.8)
    person = np.array([pose.local(-top, top_local_y), pose.local(top, top_local_y),
                       pose.local(hem, depth), pose.local(-hem, depth)])
    return Part(garment, person, region, "base")


def _bodice(rng, kind: str, y0: float) -> dict:
    """The top of a tee / long sleeve / tank / dress: right outline down to the armpit, neckline, sleeves."""
    neck_half = rng.uniform(6.5, 10.0)
    armpit_half = rng.uniform(17.0, 21.5)
    sleeves = {}
    if kind == "tank":
        strap = rng.uniform(3.0, 6.5)
        armpit = (CX + armpit_half, y0 + rng.uniform(18, 25))
        shoulder_half = neck_half + strap + 6
        neck = _neckline(rng, neck_half, rng.uniform(8, 18), y0)
        control = np.array((CX + neck_half + strap, armpit[1]))
        start = np.array((CX + neck_half + strap, y0))
        end = np.array(armpit)
        curve = [tuple((1 - t) ** 2 * start + 2 * t * (1 - t) * control + t ** 2 * end) for t in np.linspace(0, 1, 7)]
        right = [(CX + neck_half, y0)] + curve
    else:
        long = kind == "long_sleeve"
        shoulder_half = rng.uniform(17.5, 21.0)
        shoulder = (CX + shoulder_half, y0 + rng.uniform(2.0, 4.0))
        armpit_half = min(armpit_half, shoulder_half - 0.5)
        armpit = (CX + armpit_half, shoulder[1] + rng.uniform(14, 19))
        neck = _neckline(rng, neck_half, rng.uniform(3, 10), y0)
        angle = rng.uniform(70, 82) if long else rng.uniform(22, 42)
        length = rng.uniform(44, 52) if long else rng.uniform(10, 17)
        end_half = rng.uniform(3.8, 5.2) if long else rng.uniform(6.0, 8.5)
        for side in (+1, -1):
            s_pt = shoulder if side > 0 else _mirror([shoulder])[0]
            a_pt = armpit if side > 0 else _mirror([armpit])[0]
            sleeves[side] = _sleeve(rng, side, s_pt, a_pt, angle, length, end_half, long) + (length, long)
        right = [(CX + neck_half, y0), shoulder, armpit]
    return {"right": right, "neck": neck, "sleeves": sleeves, "shoulder_half": shoulder_half,
            "armpit": armpit, "armpit_half": armpit_half}


def _bodice_parts(pose: Pose, bodice: dict, y0: float, hip_half: float, hip_y: float, below_hip: bool) -> list:
    """Torso part (clipped at the hip line when a skirt part follows) and sleeve parts of a bodice."""
    sleeves = bodice["sleeves"]

    def torso_region(u, v):
        inside = np.ones_like(u, dtype=bool) if below_hip else v < hip_y
        for sleeve in sleeves.values():
            top, low = sleeve[2]
            inside &= side_of(top, low, u, v) * side_of(top, low, CX, top[1] + 10) >= 0
        return inside
    parts = [_torso_part(pose, bodice["shoulder_half"], y0 + 2.0, hip_half, hip_y, torso_region)]
    for side, (_, edges, armhole, length, long) in sleeves.items():
        parts += _sleeve_parts(pose, side, edges, armhole, long, length)
    return parts


def _outline(right: list, neck: list) -> list:
    """Closed outline: right side, mirrored left side, then the neckline back to the start."""
    return right + _mirror(right)[::-1] + neck[1:-1][::-1]


def _upper(rng, kind: str) -> GarmentShape:
    """Tee, long sleeve or tank."""
    y0 = rng.uniform(13, 17)
    hip_y = y0 + (-SHOULDER_Y) * SCALE
    bodice = _bodice(rng, kind, y0)
    armpit, armpit_half = bodice["armpit"], bodice["armpit_half"]
    hem_half = armpit_half + rng.uniform(-1.5, 3.0)
    hem_y = y0 + rng.uniform(56, 76)
    right = bodice["right"] + [(CX + hem_half, hem_y)]
    polygons = [_outline(right, bodice["neck"])] + [sleeve[0] for sleeve in bodice["sleeves"].values()]
    hip_half = armpit_half + (hem_half - armpit_half) * (hip_y - armpit[1]) / max(hem_y - armpit[1], 1e-6)

    def parts_for(pose: Pose) -> list:
        return _bodice_parts(pose, bodice, y0, hip_half, hip_y, below_hip=True)
    return GarmentShape(kind, polygons, (CX, y0 + rng.uniform(16, 26)), armpit_half - 4, parts_for)


def _dress(rng) -> GarmentShape:
    """A dress: tank-like or short-sleeved bodice and a flared skirt from the hip line."""
    y0 = rng.uniform(6, 9)
    hip_y = y0 + (-SHOULDER_Y) * SCALE
    bodice = _bodice(rng, "tee" if rng.random() < 0.35 else "tank", y0)
    waist_half = min(rng.uniform(13.5, 17.0), bodice["armpit_half"])
    hip_half = rng.uniform(17.0, 21.0)
    hem_y = min(hip_y + rng.uniform(20, 52), 124.0)
    hem_half = hip_half + rng.uniform(2, 17)
    waist_y = y0 + 0.78 * (hip_y - y0)
    right = bodice["right"] + [(CX + waist_half, waist_y), (CX + hip_half, hip_y), (CX + hem_half, hem_y)]
    polygons = [_outline(right, bodice["neck"])] + [sleeve[0] for sleeve in bodice["sleeves"].values()]

    def parts_for(pose: Pose) -> list:
        parts = _bodice_parts(pose, bodice, y0, hip_half, hip_y, below_hip=False)
        parts.insert(1, _hanging_part(pose, hip_half, hip_y, 0.0, hem_half, hem_y, hip_y, lambda u, v: v >= hip_y))
        return parts
    return GarmentShape("dress", polygons, (CX, y0 + rng.uniform(16, 24)), 11.0, parts_for)


def _skirt(rng) -> GarmentShape:
    """A skirt from the waist to a mini-to-midi hem."""
    y_top = rng.uniform(10, 16)
    hip_y = y_top + (-WAIST_Y) * SCALE
    waist_half, hip_half = rng.uniform(14.5, 17.5), rng.uniform(17.0, 20.5)
    hem_y = min(y_top + rng.uniform(32, 80), 122.0)
    hem_half = hip_half + rng.uniform(1, 16)
    right = [(CX + waist_half, y_top), (CX + hip_half, hip_y), (CX + hem_half, hem_y)]
    outline = right + _mirror(right)[::-1]

    def parts_for(pose: Pose) -> list:
        return [_hanging_part(pose, waist_half, y_top, WAIST_Y, hem_half, hem_y, hip_y, _everywhere)]
    return GarmentShape("skirt", [outline], (CX + rng.uniform(-6, 6), y_top + rng.uniform(14, 22)), 10.0, parts_for)


def _trousers(rng) -> GarmentShape:
    """Trousers (or shorts): two legs from the waist, split at the crotch."""
    y_top = rng.uniform(5, 9)
    hip_y = y_top + (-WAIST_Y) * SCALE
    waist_half = rng.uniform(15.0, 18.0)
    crotch_y = y_top + rng.uniform(22, 28)
    shorts = rng.random() < 0.3
    hem_y = y_top + (rng.uniform(30, 42) if shorts else rng.uniform(90, 100))
    leg_centre = waist_half / 2 + rng.uniform(1, 7)
    hem_half = rng.uniform(8, 11) if shorts else rng.uniform(6, 10)
    outer_hem, inner_hem = leg_centre + hem_half, max(leg_centre - hem_half, 1.0)
    right = [(CX + waist_half, y_top), (CX + outer_hem, hem_y), (CX + inner_hem, hem_y), (CX, crotch_y)]
    outline = [(CX - waist_half, y_top)] + right + [(CX - inner_hem, hem_y), (CX - outer_hem, hem_y)]
    knee_y, ankle_y = hip_y + 26.0 * SCALE, hip_y + 51.0 * SCALE

    def along(y, start, end):
        t = (y - start[1]) / (end[1] - start[1])
        return start[0] + t * (end[0] - start[0])

    def parts_for(pose: Pose) -> list:
        parts = []
        s = pose.torso.scale
        for side in (+1, -1):
            outer = lambda y: CX + side * along(y, (waist_half, y_top), (outer_hem, hem_y))  # noqa: E731
            inner = lambda y: CX + side * along(y, (0.0, crotch_y), (inner_hem, hem_y))  # noqa: E731
            g_edges = [(np.array((CX + side * waist_half, y_top)), np.array((CX, y_top))),
                       (np.array((outer(knee_y), knee_y)), np.array((inner(knee_y), knee_y))),
                       (np.array((outer(ankle_y), ankle_y)), np.array((inner(ankle_y), ankle_y)))]
            joints, widths = pose.legs[side]
            top_half = max(waist_half / SCALE, pose.waist_half + 0.4)
            halves = [max(abs(e[0][0] - e[1][0]) / 2 / SCALE * s, w + 0.7 * s) for e, w in zip(g_edges[1:], widths[1:])]
            p_edges = [(pose.local(side * top_half, WAIST_Y), pose.local(0.0, WAIST_Y))]
            p_edges += limb_edges(joints, [widths[0]] + halves, side)[1:]
            for index, (g_quad, p_quad) in enumerate(zip(quads_from_edges(g_edges), quads_from_edges(p_edges))):
                def region(u, v, index=index, side=side):
                    inside = (u - CX) * side >= 0
                    return inside & ((v < knee_y) if index == 0 else (v >= knee_y))
                parts.append(Part(g_quad, p_quad, region, "base"))
        return parts
    return GarmentShape("trousers", [outline], (CX + rng.choice([-1, 1]) * 8, y_top + rng.uniform(14, 24)), 5.0,
                        parts_for)


def sample_shape(rng: np.random.Generator, kind: str) -> GarmentShape:
    """A random flat garment of template `kind` (one of TEMPLATES)."""
    if kind in ("tee", "long_sleeve", "tank"):
        return _upper(rng, kind)
    if kind == "dress":
        return _dress(rng)
    if kind == "skirt":
        return _skirt(rng)
    if kind == "trousers":
        return _trousers(rng)
    raise ConfigError(f"unknown toy garment template {kind!r}; expected one of {TEMPLATES}")
