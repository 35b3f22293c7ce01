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

A plate seen from one side is foreshortened too (one end taller than the other): no parallelogram,
but still a quadrilateral whose corners the turn, the shape and the foreshortening fix
(:func:`corners`); :func:`foreshortened` lists those tried in a second look.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.plate.prep import ONE_ROW_ABOVE, TWO_ROW_BELOW

#: Turns tried, degrees either way. Past 45° a plate's long side stands more upright than level.
ANGLES = tuple(range(5, 50, 5))
#: Foreshortening tried in a second look when no level view reads surely: the share by which the
#: plate's right end is taller than its middle and its left end shorter (negative: the other way), as
#: a camera off to one side sees it (at 0.3 one end is 1.3 times the middle's height, the other 0.7).
YAWS = (-0.3, -0.15, 0.15, 0.3)
#: Plate shapes (length over height) tried in a box that may be squeezed (:func:`may_be_squeezed`):
#: one-row CN 440×140 mm and VN 520×110 mm.
ONE_ROW_ASPECTS = (3.2, 4.7)
#: A plate shape outside these bounds is no plate: the box's own shape gave no usable r at that θ.
MIN_ASPECT, MAX_ASPECT = 1.2, 6.0
#: Height of a straightened view in pixels per row: enough for the recogniser's 32 px line.
VIEW_H = 40


def corners(aspect: float, angle: float, yaw: float = 0.0) -> np.ndarray:
    """The plate's corners (top-left, top-right, bottom-right, bottom-left) as shares of its upright
    box's width and height, for a plate of ``aspect`` turned by ``angle`` degrees (clockwise on screen:
    its right end lower) and foreshortened by ``yaw`` (its right end taller than its middle by that
    share, its left end shorter; negative: the other way), as :func:`edge.plate.synth.render_scene`
    turns one. With no yaw, the corners touch the box's sides at the shares in the module's note."""
    half = np.array([[-aspect, -1.0], [aspect, -1.0], [aspect, 1.0], [-aspect, 1.0]]) / 2
    half[:, 1] *= np.where(half[:, 0] > 0, 1 + yaw, 1 - yaw)
    t = math.radians(angle)
    pts = half @ np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]).T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return ((pts - lo) / (hi - lo)).astype(np.float32)


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


def fits_rows(aspect: float, rows: int | None) -> bool:
    """Whether a plate of ``aspect`` may hold ``rows`` rows (None: either), by the bounds the
    recogniser tells rows by (:func:`edge.plate.prep.row_candidates`)."""
    return not (rows == 1 and aspect < TWO_ROW_BELOW or rows == 2 and aspect > ONE_ROW_ABOVE)


def shapes(box_aspect: float, rows: int | None) -> list[tuple[float, float]]:
    """(angle, plate aspect) pairs worth trying for a box of ``box_aspect`` holding ``rows`` rows
    (None: either)."""
    fixed = ONE_ROW_ASPECTS if may_be_squeezed(box_aspect, rows) else ()
    out: list[tuple[float, float]] = []
    for k in ANGLES:
        for angle in (k, -k):
            own = kept_shape_aspect(box_aspect, angle)
            # the box's own shape at some turns fits only the other row count
            out += [(angle, r) for r in ((own,) if own is not None else ()) + fixed if fits_rows(r, rows)]
    return out


def foreshortened(box_aspect: float, rows: int | None,
                  best: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """(angle, plate aspect, yaw) for a second look when no level view read surely: each of ``YAWS``
    for the ``best`` (angle, aspect) of the first look, and for a plate not turned at all (the plate
    shapes of the layouts in a box that may be squeezed; else the one that gives the box its shape,
    the box as tall as the plate's taller end)."""
    out = []
    for yaw in YAWS:
        level = (ONE_ROW_ASPECTS if may_be_squeezed(box_aspect, rows)
                 else (box_aspect * (1 + abs(yaw)),))
        out += [(angle, r, yaw) for angle, r in best]
        out += [(0.0, r, yaw) for r in level if fits_rows(r, rows)]
    return out


def view(crop: np.ndarray, aspect: float, angle: float, yaw: float = 0.0) -> np.ndarray:
    """The crop straightened as the upright box of a plate of ``aspect`` turned by ``angle`` and
    foreshortened by ``yaw`` (:func:`corners`): level, and of the plate's own shape (so the recogniser
    tells its rows as for any crop)."""
    h, w = crop.shape[:2]
    oh = VIEW_H * (2 if aspect < 2.5 else 1)
    ow = max(8, int(round(oh * aspect)))
    src = corners(aspect, angle, yaw) * np.float32([w, h])
    dst = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(crop, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
