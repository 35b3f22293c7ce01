"""Straighten a crop cut at the upright box of a turned plate, so the recogniser sees a level plate.

Labelled datasets, and many cameras' own plate crops, cut a plate at its upright (axis-aligned) box.
A plate turned by θ then lies across that box as a rectangle on its side, its four corners touching
the box's four sides, and a recogniser that reads level lines reads it as garbage. Some crop sets are
also squeezed to a fixed size (CN crops at 94×24): that changes the box's shape, but not where the
corners touch its sides as shares of them, so the same straightening holds.

A plate of aspect r (length over height) turned by θ (clockwise on screen) touches its box's top
side at a = sin θ / (r cos θ + sin θ) of the box's width and its right side at
b = r sin θ / (r sin θ + cos θ) of its height; the other two corners sit opposite. Two families of
r are tried for each θ: the plate shapes of the layouts read here (a squeezed crop's box says
nothing of its plate), and the one r that gives the box its own shape (a crop that kept its shape),
r = (A cos θ − sin θ) / (cos θ − A sin θ) for a box of aspect A.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.plate.prep import ONE_ROW_ABOVE

#: Turns tried, degrees either way. Past 45° a plate's long side stands more upright than level.
ANGLES = tuple(range(5, 50, 5))
#: Plate shapes (length over height) tried in every box: one-row CN 440×140 mm and VN 520×110 mm;
#: two-row VN 330×165 mm (cars, trucks) and 190×140 mm (motorbikes).
ONE_ROW_ASPECTS = (3.2, 4.7)
#: A plate shape outside these bounds is no plate: the box's own shape gave no usable r at that θ.
MIN_ASPECT, MAX_ASPECT = 1.2, 6.0
#: Height of a straightened view in pixels per row: enough for the recogniser's 32 px line.
VIEW_H = 40


def corners(aspect: float, angle: float) -> np.ndarray:
    """The plate's corners (top-left, top-right, bottom-right, bottom-left) as shares of its upright
    box's width and height, for a plate of ``aspect`` turned by ``angle`` degrees (clockwise on screen:
    its right end lower)."""
    t = math.radians(abs(angle))
    s, c = math.sin(t), math.cos(t)
    a = s / (aspect * c + s)
    b = aspect * s / (aspect * s + c)
    if angle >= 0:
        quad = [(a, 0.0), (1.0, b), (1.0 - a, 1.0), (0.0, 1.0 - b)]
    else:
        quad = [(0.0, b), (1.0 - a, 0.0), (1.0, 1.0 - b), (a, 1.0)]
    return np.float32(quad)


def kept_shape_aspect(box_aspect: float, angle: float) -> float | None:
    """The plate aspect that gives a box of ``box_aspect`` when turned by ``angle`` degrees, or None
    when none in [MIN_ASPECT, MAX_ASPECT] does."""
    t = math.radians(abs(angle))
    s, c = math.sin(t), math.cos(t)
    den = c - box_aspect * s
    if den <= 1e-6:
        return None
    r = (box_aspect * c - s) / den
    return r if MIN_ASPECT <= r <= MAX_ASPECT else None


def may_be_squeezed(box_aspect: float, rows: int | None) -> bool:
    """Whether a box may be a one-row plate's squeezed to a fixed size (CN crops at 94×24 look
    one-row whatever the plate's turn); other boxes are taken to have kept their shape."""
    return box_aspect > ONE_ROW_ABOVE and rows != 2


def shapes(box_aspect: float, rows: int | None) -> list[tuple[float, float]]:
    """(angle, plate aspect) pairs worth trying for a box of ``box_aspect`` holding ``rows`` rows
    (None: either)."""
    fixed = ONE_ROW_ASPECTS if may_be_squeezed(box_aspect, rows) else ()
    out: list[tuple[float, float]] = []
    for k in ANGLES:
        for angle in (k, -k):
            own = kept_shape_aspect(box_aspect, angle)
            for r in ((own,) if own is not None else ()) + fixed:
                if rows == 1 and r < 2.0 or rows == 2 and r > 3.0:
                    continue  # the box's own shape at this turn fits the other row count
                out.append((angle, r))
    return out


def views(crop: np.ndarray, rows: int | None = None) -> list[np.ndarray]:
    """The crop straightened for each (turn, plate shape) of :func:`shapes`, each view level and of the
    plate's own shape (so the recogniser tells its rows as for any crop)."""
    h, w = crop.shape[:2]
    if h < 4 or w < 4:
        return []
    out = []
    for angle, r in shapes(w / h, rows):
        oh = VIEW_H * (2 if r < 2.5 else 1)
        ow = max(8, int(round(oh * r)))
        src = corners(r, angle) * np.float32([w, h])
        dst = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
        m = cv2.getPerspectiveTransform(src, dst)
        out.append(cv2.warpPerspective(crop, m, (ow, oh), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE))
    return out
