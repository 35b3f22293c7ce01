"""A loose plate crop cut down to the plate itself.

The detector's text lines hug sharp glyphs, but a blurred or small plate's text spreads over the
probability map: its line comes out a third again as wide and tall as the plate, and the line is grown
further for a thin first or last character (:func:`edge.plate.lines._grow`). The recogniser, trained on
crops cut at the plate's edge, reads such a crop poorly: synthetic CN plates ~75 px wide in 720×1160
stills blurred like a hand-held photo read "SZ11702" at 0.18 from the detector's crop, and "浙K79Y91"
from the plate's own rectangle.

The plate's own rectangle is found by its colour: a plate is one flat colour (white, yellow, blue,
green) with text on it, and what lies around it (a bumper, a grille, a car body) is another. The
crop's middle, where the plate is, holds two colours, the plate's and its text's; pixels near the
plate's, closed over the strokes, make one blob around the middle: the plate. The text's make a
smaller one, a line.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The middle of the crop, whose two colours are the plate's and its text's, and which the plate's
#: blob must cover (shares of each side, from either edge).
MIDDLE = 0.3
#: A blob narrower or lower than these shares of the crop is a part of the plate (one character's
#: background between strokes), not the plate.
MIN_WIDTH, MIN_HEIGHT = 0.4, 0.35
#: A blob covering more than this share of the crop leaves nothing worth cutting.
MAX_AREA = 0.85
#: Margin kept round the plate's rectangle, as a share of its size (the recogniser was trained on
#: crops with a little of the surroundings).
PAD = 0.04
#: A crop longer than this (px) is looked at shrunk to it: the colour work on a photo-sized crop would
#: cost more than the read.
MAX_SIDE = 400


def plate_box(crop: np.ndarray) -> tuple[int, int, int, int] | None:
    """The plate's rectangle (x, y, w, h) within a BGR crop, padded by ``PAD``; None when the crop shows
    no plate-coloured blob about its middle, or when the blob fills the crop already."""
    h, w = crop.shape[:2]
    if crop.ndim != 3 or h < 8 or w < 16:
        return None
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        small = plate_box(cv2.resize(crop, (max(16, round(w * s)), max(8, round(h * s))),
                                     interpolation=cv2.INTER_AREA))
        if small is None:
            return None
        x, y, bw, bh = (round(v / s) for v in small)
        return x, y, min(bw, w - x), min(bh, h - y)
    lab = cv2.cvtColor(crop[:, :, :3], cv2.COLOR_BGR2LAB).astype(np.float32)
    y0, y1 = int(h * MIDDLE), int(h * (1 - MIDDLE)) + 1
    x0, x1 = int(w * MIDDLE), int(w * (1 - MIDDLE)) + 1
    middle = lab[y0:y1, x0:x1].reshape(-1, 3)
    # the middle's two colours, the plate's and its text's, split by lightness (dark on light or light
    # on dark on every plate): bold text can cover half of it, so the plate is whichever of them makes
    # the larger blob (the text's closes into a line, not a plate)
    lightness = np.ascontiguousarray(middle[:, 0]).astype(np.uint8)
    split, _ = cv2.threshold(lightness, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = lightness > split
    centres = [middle[side].mean(axis=0) for side in (light, ~light) if side.any()]
    # a blob that fills the crop is the surroundings, as dark as the text (a bumper round a white plate)
    blobs = [b for colour in centres if (b := _blob(lab, colour, (y0, y1, x0, x1))) is not None
             and b[2] >= MIN_WIDTH * w and b[3] >= MIN_HEIGHT * h and b[2] * b[3] <= MAX_AREA * w * h]
    if not blobs:
        return None
    bx, by, bw, bh = max(blobs, key=lambda b: b[2] * b[3])
    px, py = int(PAD * bw) + 1, int(PAD * bh) + 1
    x, y = max(0, bx - px), max(0, by - py)
    return x, y, min(w, bx + bw + px) - x, min(h, by + bh + py) - y


def _blob(lab: np.ndarray, colour: np.ndarray, middle: tuple[int, int, int, int]
          ) -> tuple[int, int, int, int] | None:
    """The bounding rectangle of the largest blob of pixels near ``colour`` (split from the rest by
    Otsu's threshold on the distance), closed over strokes, that covers much of the ``middle`` (y0, y1,
    x0, x1); None when no blob does."""
    h = lab.shape[0]
    distance = np.clip(np.linalg.norm(lab - colour, axis=2) * 2, 0, 255).astype(np.uint8)
    limit, _ = cv2.threshold(distance, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (distance <= limit).astype(np.uint8)
    k = max(3, h // 5) | 1  # wider than a stroke: the characters close up into the plate
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    y0, y1, x0, x1 = middle
    inner = labels[y0:y1, x0:x1]
    best, best_area = 0, 0
    for i in range(1, n):
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area > best_area and (inner == i).mean() >= 0.3:
            best, best_area = i, area
    return tuple(int(v) for v in stats[best, :4]) if best else None  # type: ignore[return-value]


def tightened(crop: np.ndarray) -> np.ndarray | None:
    """The crop cut at :func:`plate_box`, or None where there is nothing to cut."""
    box = plate_box(crop)
    if box is None:
        return None
    x, y, w, h = box
    return crop[y:y + h, x:x + w]
