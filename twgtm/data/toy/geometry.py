"""Small 2-D geometry for the toy wardrobe: frames, limb quads, homographies (numpy only).

Coordinates are design units: x in [0, 96] to the right, y in [0, 128] downwards, whatever the
output size; images scale them by (W / 96, H / 128).
"""
from __future__ import annotations

import numpy as np

DESIGN_W, DESIGN_H = 96.0, 128.0


def rotate(vector, angle_deg: float) -> np.ndarray:
    """Rotate a 2-vector by `angle_deg` (counter-clockwise on screen, y pointing down)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    x, y = vector
    return np.array([c * x + s * y, -s * x + c * y])


def unit(vector) -> np.ndarray:
    """The vector scaled to length 1."""
    vector = np.asarray(vector, dtype=np.float64)
    return vector / max(float(np.hypot(*vector)), 1e-9)


def outer_normal(direction, side: int) -> np.ndarray:
    """Unit normal of a limb direction on its outer side; side = +1 for the figure's right (screen right)."""
    dx, dy = unit(direction)
    return np.array([dy, -dx]) if side > 0 else np.array([-dy, dx])


class Frame:
    """A rigid body frame: local body units → canvas design units (origin, scale, rotation)."""

    def __init__(self, origin, scale: float, angle_deg: float = 0.0):
        self.origin = np.asarray(origin, dtype=np.float64)
        self.scale = float(scale)
        self.right = rotate((1.0, 0.0), angle_deg)  # local +x
        self.down = rotate((0.0, 1.0), angle_deg)  # local +y

    def point(self, x: float, y: float) -> np.ndarray:
        """The canvas position of local point (x, y)."""
        return self.origin + self.scale * (x * self.right + y * self.down)


def limb_edges(points, half_widths, side: int, start_across=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross edges (outer point, inner point) at each joint of a polyline limb.

    Interior joints use the mean normal of their two segments so neighbouring quads share an
    edge; `start_across` (unit, pointing outwards) overrides the first edge's direction.
    """
    points = [np.asarray(p, dtype=np.float64) for p in points]
    edges = []
    for index, (point, half_width) in enumerate(zip(points, half_widths)):
        before = points[index] - points[index - 1] if index > 0 else None
        after = points[index + 1] - points[index] if index + 1 < len(points) else None
        if before is None:
            normal = outer_normal(after, side) if start_across is None else unit(start_across)
        elif after is None:
            normal = outer_normal(before, side)
        else:
            normal = unit(outer_normal(before, side) + outer_normal(after, side))
        edges.append((point + normal * half_width, point - normal * half_width))
    return edges


def quads_from_edges(edges) -> list[np.ndarray]:
    """Quads [outer-start, inner-start, inner-end, outer-end] (each 4×2) between consecutive edges."""
    return [np.array([edges[i][0], edges[i][1], edges[i + 1][1], edges[i + 1][0]])
            for i in range(len(edges) - 1)]


def fit_homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """3×3 projective map sending the 4 `source` points onto the 4 `target` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, target):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    solution = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.append(solution, 1.0).reshape(3, 3)


def apply_homography(matrix: np.ndarray, x: np.ndarray, y: np.ndarray, reference=None):
    """Map arrays x, y through `matrix`: returns (u, v, valid); valid drops points past the horizon.

    `reference` (a point inside the source quad) fixes which sign of w is in front.
    """
    w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    sign = 1.0
    if reference is not None:
        sign = np.sign(matrix[2, 0] * reference[0] + matrix[2, 1] * reference[1] + matrix[2, 2]) or 1.0
    valid = w * sign > 1e-6
    safe_w = np.where(valid, w, 1.0)
    u = (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / safe_w
    v = (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / safe_w
    return u, v, valid


def side_of(point_a, point_b, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed side of points (u, v) with respect to the line a→b (positive on the right of a→b on screen)."""
    ax, ay = point_a
    bx, by = point_b
    return (bx - ax) * (v - ay) - (by - ay) * (u - ax)
