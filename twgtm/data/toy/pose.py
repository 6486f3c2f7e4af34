"""Procedural posed bodies for the toy wardrobe: a skeleton sampled per person, and its silhouette.

A pose lives in design units (96 × 128 canvas). The torso is a rigid `Frame` whose origin is the
hip centre (local body units: x across, y down, shoulders at y = -36); arms and legs are chains of
joints placed at sampled angles.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .geometry import DESIGN_H, DESIGN_W, Frame, limb_edges, quads_from_edges, rotate

SHOULDER_Y = -36.0  # local torso y of the shoulder line (hip line is 0)
WAIST_Y = -6.5  # local torso y where lower garments sit

SKIN_TONES = [(255, 224, 196), (241, 194, 160), (224, 172, 138), (198, 140, 104), (160, 108, 76),
              (122, 80, 56), (92, 60, 42), (232, 190, 172)]
HAIR_COLOURS = [(20, 16, 14), (58, 38, 26), (96, 64, 40), (160, 120, 70), (214, 180, 120),
                (140, 60, 30), (150, 150, 150), (40, 30, 40)]


@dataclass
class Pose:
    """One person's skeleton (design units) and looks."""

    torso: Frame
    shoulder_half: float
    waist_half: float
    hip_half: float
    arms: dict = field(default_factory=dict)  # side (+1 right, -1 left) -> (joints [3], half widths [3])
    legs: dict = field(default_factory=dict)  # side -> (joints [3], half widths [3])
    head_centre: np.ndarray = None
    head_radius: float = 7.0
    skin: tuple = (224, 172, 138)
    hair: tuple = (20, 16, 14)
    hair_long: bool = False
    shoe: tuple = (30, 30, 30)

    def local(self, x: float, y: float) -> np.ndarray:
        """Canvas point of torso-local (x, y)."""
        return self.torso.point(x, y)

    def legs_half_span(self, depth: float) -> float:
        """Half width (body units, along the torso's across axis) the legs occupy `depth` below the hips."""
        centre = self.torso.origin
        widest = self.hip_half
        for joints, half_widths in self.legs.values():
            for (a, wa), (b, wb) in zip(zip(joints[:-1], half_widths[:-1]), zip(joints[1:], half_widths[1:])):
                da = float(np.dot(a - centre, self.torso.down)) / self.torso.scale
                db = float(np.dot(b - centre, self.torso.down)) / self.torso.scale
                if min(da, db) <= depth <= max(da, db) and abs(db - da) > 1e-6:
                    t = (depth - da) / (db - da)
                    point = a + t * (b - a)
                    across = abs(float(np.dot(point - centre, self.torso.right))) / self.torso.scale
                    widest = max(widest, across + (wa + t * (wb - wa)) / self.torso.scale)
        return widest


def sample_pose(rng: np.random.Generator) -> Pose:
    """A random standing pose: lean, shoulder/hip widths, arm and leg angles, skin and hair."""
    scale = rng.uniform(0.88, 1.0)
    lean = rng.uniform(-4.0, 4.0)
    torso = Frame((DESIGN_W / 2 + rng.uniform(-5, 5), 0.0), scale, lean)
    pose = Pose(torso=torso, shoulder_half=rng.uniform(10.0, 12.5), waist_half=rng.uniform(7.2, 9.2),
                hip_half=rng.uniform(8.5, 10.8))
    down = torso.down
    hands_on_hips = rng.random() < 0.15
    for side in (+1, -1):
        shoulder = torso.point(side * (pose.shoulder_half - 2.5), SHOULDER_Y + 2.0)
        if hands_on_hips:
            upper_angle, bend = rng.uniform(25, 40), -rng.uniform(95, 120)
        elif rng.random() < 0.15:
            upper_angle, bend = rng.uniform(45, 80), rng.uniform(-20, 30)
        else:
            upper_angle, bend = rng.uniform(4, 38), rng.uniform(-35, 25)
        upper_dir = rotate(down, side * upper_angle)
        fore_dir = rotate(down, side * (upper_angle + bend))
        elbow = shoulder + scale * rng.uniform(18.0, 20.0) * upper_dir
        wrist = elbow + scale * rng.uniform(16.0, 18.0) * fore_dir
        pose.arms[side] = ([shoulder, elbow, wrist], [scale * 3.4, scale * 2.7, scale * 2.1])
        hip_joint = torso.point(side * rng.uniform(4.8, 6.0), 1.0)
        thigh_angle = rng.uniform(0, 10)
        thigh_dir = rotate(down, side * thigh_angle)
        shin_dir = rotate(down, side * (thigh_angle + rng.uniform(-8, 6)))
        knee = hip_joint + scale * 26.0 * thigh_dir
        ankle = knee + scale * 25.0 * shin_dir
        pose.legs[side] = ([hip_joint, knee, ankle], [scale * 5.2, scale * 3.6, scale * 2.6])
    # Stand the figure on the ground: shift everything so the lower ankle sits near the bottom.
    ground = rng.uniform(115.0, 120.0)
    shift = np.array([0.0, ground - max(pose.legs[s][0][2][1] for s in (+1, -1))])
    torso.origin = torso.origin + shift
    for limbs in (pose.arms, pose.legs):
        for side, (joints, widths) in limbs.items():
            limbs[side] = ([j + shift for j in joints], widths)
    pose.head_radius = scale * rng.uniform(6.5, 7.5)
    pose.head_centre = torso.point(rng.uniform(-0.8, 0.8), SHOULDER_Y - 5.5) - down * pose.head_radius * 1.05
    pose.skin = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    pose.hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    pose.hair_long = bool(rng.random() < 0.4)
    pose.shoe = tuple(int(c) for c in rng.integers(10, 120, size=3))
    return pose


class _Pen:
    """Draws design-unit shapes onto an 'L' mask at pixel resolution."""

    def __init__(self, height: int, width: int):
        self.image = Image.new("L", (width, height), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.sx, self.sy = width / DESIGN_W, height / DESIGN_H

    def polygon(self, points) -> None:
        """Fill a polygon given in design units."""
        self.draw.polygon([(float(x) * self.sx, float(y) * self.sy) for x, y in points], fill=255)

    def ellipse(self, centre, rx: float, ry: float) -> None:
        """Fill an axis-aligned ellipse given in design units."""
        cx, cy = centre
        self.draw.ellipse([(cx - rx) * self.sx, (cy - ry) * self.sy, (cx + rx) * self.sx, (cy + ry) * self.sy],
                          fill=255)

    def limb(self, joints, half_widths, side: int) -> None:
        """Fill a limb: quads between joints plus round joints."""
        for quad in quads_from_edges(limb_edges(joints, half_widths, side)):
            self.polygon(quad)
        for joint, half_width in zip(joints, half_widths):
            self.ellipse(joint, half_width, half_width)

    def array(self) -> np.ndarray:
        """The mask drawn so far as an H×W float array in [0, 1]."""
        return np.asarray(self.image, dtype=np.float32) / 255.0


def body_masks(pose: Pose, height: int, width: int) -> dict[str, np.ndarray]:
    """Silhouette masks (H×W float in [0, 1]) of the body parts: head, hair, hair_back, torso, arms, hands, legs, shoes.

    `masks["sides"][part][side]` holds arms, hands, legs and shoes drawn one side (+1, -1) at a time.
    """
    masks = {}
    pen = _Pen(height, width)
    r = pose.head_radius
    pen.ellipse(pose.head_centre, r * 0.82, r)
    neck_top = pose.head_centre + pose.torso.down * r * 0.6
    neck_half = pose.torso.right * 2.8 * pose.torso.scale
    pen.polygon([neck_top - neck_half, neck_top + neck_half,
                 pose.local(3.2, SHOULDER_Y + 1.0), pose.local(-3.2, SHOULDER_Y + 1.0)])
    masks["head"] = pen.array()
    pen = _Pen(height, width)
    hair_centre = pose.head_centre - pose.torso.down * r * 0.18
    pen.draw.chord([(hair_centre[0] - r * 0.92) * pen.sx, (hair_centre[1] - r * 1.02) * pen.sy,
                    (hair_centre[0] + r * 0.92) * pen.sx, (hair_centre[1] + r * 0.9) * pen.sy], 180, 360, fill=255)
    masks["hair"] = pen.array()
    pen = _Pen(height, width)
    if pose.hair_long:
        top = pose.head_centre - pose.torso.down * r * 0.5
        pen.polygon([top - pose.torso.right * r * 0.95, top + pose.torso.right * r * 0.95,
                     pose.local(r * 1.1, SHOULDER_Y + 6.0), pose.local(-r * 1.1, SHOULDER_Y + 6.0)])
    masks["hair_back"] = pen.array()
    pen = _Pen(height, width)
    s, w, h = pose.shoulder_half, pose.waist_half, pose.hip_half
    outline = [(-s + 1.5, SHOULDER_Y), (s - 1.5, SHOULDER_Y), (s, SHOULDER_Y + 2.5), (s - 2.0, SHOULDER_Y + 8.0),
               (w, -10.0), (h, -1.0), (h - 1.0, 3.0), (0.0, 4.0), (-h + 1.0, 3.0), (-h, -1.0), (-w, -10.0),
               (-s + 2.0, SHOULDER_Y + 8.0), (-s, SHOULDER_Y + 2.5)]
    pen.polygon([pose.local(x, y) for x, y in outline])
    masks["torso"] = pen.array()
    limbs = ("arms", "hands", "legs", "shoes")
    pens = {name: _Pen(height, width) for name in limbs}
    masks["sides"] = {name: {} for name in limbs}  # the same parts drawn one side at a time (parse map)
    for side in (+1, -1):
        side_pens = {name: _Pen(height, width) for name in limbs}
        for pen_set in (pens, side_pens):
            joints, widths = pose.arms[side]
            pen_set["arms"].limb(joints, widths, side)
            wrist, elbow = joints[2], joints[1]
            hand_centre = wrist + (wrist - elbow) / max(np.hypot(*(wrist - elbow)), 1e-6) * widths[2] * 1.1
            pen_set["hands"].ellipse(hand_centre, widths[2] * 1.35, widths[2] * 1.35)
            joints, widths = pose.legs[side]
            pen_set["legs"].limb(joints, widths, side)
            ankle = joints[2]
            pen_set["shoes"].ellipse(ankle + np.array([side * 1.6, 1.6]) * pose.torso.scale, 4.2 * pose.torso.scale,
                                     2.4 * pose.torso.scale)
        for name in limbs:
            masks["sides"][name][side] = side_pens[name].array()
    masks.update({name: pens[name].array() for name in limbs})
    return masks
