"""Text lines → plate candidates: each line on its own (one-row plates), lines stacked like the two
rows of a plate, and lines side by side on one row that the detector split at a wide gap.

Pure geometry over the detector's rotated line rectangles (:mod:`edge.plate.detector`); which
candidate is a plate is settled by the recogniser and the plate grammars (:mod:`edge.plate.pipeline`).
Crops are cut from the full-resolution frame, along the lines when they are tilted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.plate import prep

#: Padding added around a stacked pair of lines, as shares of the pair's width and height.
PAIR_PAD_X, PAIR_PAD_Y = 0.05, 0.05
#: Padding added around a single text line, as shares of its height: along the line and across it.
LINE_PAD_ALONG, LINE_PAD_ACROSS = 0.4, 0.1


@dataclass(frozen=True)
class Candidate:
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
    crop: np.ndarray
    rows: int | None  # 2 for merged stacked lines; None: let the crop's shape decide
    score: float
    lines: int = 1  # detector lines merged into it: 2 for a stacked pair, 2-3 for lines side by side


def inside(a: tuple[int, int, int, int], b: tuple[int, int, int, int], share: float = 0.7) -> bool:
    """Whether at least ``share`` of box ``a``'s area (x, y, w, h) lies within box ``b``."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    return iw > 0 and ih > 0 and iw * ih >= share * aw * ah


def _order(pts: np.ndarray) -> np.ndarray:
    """The corners of a quadrilateral (given in order round it) as the top-left, top-right,
    bottom-right and bottom-left of the text it bounds.

    Text runs along the long side, left to right: a plate turned 50° (a camera looking down at a car
    parked askew) is cut along its length, not stood on end as the frame's own corners would have it.
    A near-square block (a two-row plate the detector did not split) has no long side to go by; it
    is taken as turned by less than 45°, which is how plates are seen far more often than not."""
    theta = line_angle(pts)
    sides = [float(np.linalg.norm(pts[(i + 1) % 4] - pts[i])) for i in range(2)]
    if max(sides) < SQUARE_BELOW * min(sides):
        theta -= 90.0 * round(theta / 90.0)
    level = _turn(pts, -theta)
    s, d = level.sum(axis=1), np.diff(level, axis=1).ravel()
    return np.float32([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def rectify(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The quadrilateral ``pts`` cut from ``image`` and warped upright, at its own size (edges repeated
    where it reaches past the image)."""
    tl, tr, br, bl = _order(pts)
    w = int(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    h = int(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    w, h = max(w, 4), max(h, 4)
    m = cv2.getPerspectiveTransform(np.float32([tl, tr, br, bl]), np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _grow(pts: np.ndarray) -> np.ndarray:
    """A text line's rectangle grown along its own axes by LINE_PAD shares of its height.

    The detector's line hugs the glyphs and often clips a plate's first or last character (a country
    band, a thin "1"); the recogniser reads a loose crop better than one cut short.
    """
    (cx, cy), (w, h), angle = cv2.minAreaRect(pts.astype(np.float32))
    short = min(w, h)
    if max(w, h) < prep.TWO_ROW_BELOW * short:
        # a block the detector did not split into rows (a tilted two-row plate often comes as one):
        # padded as a stacked pair is, since 0.4 × its height along would add a third of its width
        return cv2.boxPoints(((cx, cy), (w * (1 + 2 * PAIR_PAD_X), h * (1 + 2 * PAIR_PAD_Y)), angle))
    along, across = LINE_PAD_ALONG * short, LINE_PAD_ACROSS * short
    if w >= h:
        w, h = w + 2 * along, h + 2 * across
    else:
        w, h = w + 2 * across, h + 2 * along
    return cv2.boxPoints(((cx, cy), (w, h), angle))


#: Turns (degrees) tried on a block the detector did not split into rows, about the angle of its rectangle.
LEVEL_TRIES = (-8.0, -6.0, -4.0, -2.0, 2.0, 4.0, 6.0, 8.0)


def _levelled(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """A block's rectangle (a two-row plate the detector did not split) turned to where its rows lie
    level; other lines as they are.

    The detector's rectangle of a block follows its outline, and a plate seen in perspective (one end
    taller) has an outline whose rectangle leans several degrees off its rows; cut along it, the fixed
    split between the rows runs through characters. Level rows give the sharpest profile across
    them (the sum of squared steps between the mean grey levels of successive pixel rows)."""
    (cx, cy), (w, h), _ = cv2.minAreaRect(pts.astype(np.float32))
    if max(w, h) >= prep.TWO_ROW_BELOW * min(w, h) or min(w, h) < 12:
        return pts
    grey = prep.to_gray(rectify(image, pts)).astype(np.float32)
    gh, gw = grey.shape
    centre = (gw / 2, gh / 2)

    def sharpness(turn: float) -> float:
        m = cv2.getRotationMatrix2D(centre, turn, 1.0)
        turned = cv2.warpAffine(grey, m, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        profile = turned[:, gw // 6: gw - gw // 6].mean(axis=1)
        return float(np.sum(np.diff(profile) ** 2))

    best = max((0.0, *LEVEL_TRIES), key=sharpness)
    if best == 0.0:
        return pts
    centre_pts = pts.mean(axis=0)
    return (_turn(pts - centre_pts, best) + centre_pts).astype(np.float32)


def bbox(pts: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The upright box (x, y, w, h) around points, clipped to an image of ``shape``; at least 1×1."""
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))


#: A stacked pair tilted less than this (degrees) is cut straight from the frame: the fixed split between
#: its rows copes, and an upright cut costs no interpolation. Lines further apart in angle are no pair.
STRAIGHT_BELOW, PAIR_ANGLE_DIFF, PAIR_ANGLE_MAX = 2.0, 12.0, 35.0
#: How far a pair's rows may overlap, in line heights, in the pair's own frame.
PAIR_OVERLAP = 0.8


def line_angle(pts: np.ndarray) -> float:
    """The direction of a rotated rectangle's long side, in degrees within (-90, 90] (0: level)."""
    e1, e2 = pts[1] - pts[0], pts[2] - pts[1]
    e = e1 if np.linalg.norm(e1) >= np.linalg.norm(e2) else e2
    if e[0] < 0 or (e[0] == 0 and e[1] < 0):
        e = -e
    return float(np.degrees(np.arctan2(e[1], e[0])))


def _turn(pts: np.ndarray, degrees: float) -> np.ndarray:
    """Points turned by ``degrees`` about the frame's origin (image axes: y down)."""
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float64)
    return pts.astype(np.float64) @ rot.T


def _extent(pts: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _turned_box(x0: float, y0: float, x1: float, y1: float, theta: float) -> np.ndarray:
    """The corners of a box drawn in a frame turned level by ``theta``, back in the image's frame."""
    return _turn(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), theta).astype(np.float32)


@dataclass(frozen=True)
class _Line:
    pts: np.ndarray
    score: float
    angle: float  # line_angle(pts)
    centre: tuple[float, float]
    length: float  # the long side
    thick: float  # the short side

    @property
    def squarish(self) -> bool:
        """One or two characters on their own (a CN province, a region code): no direction of its own."""
        return self.length < SQUARE_BELOW * self.thick

    @property
    def row_angle(self) -> float:
        """``angle``, or for a squarish line the one of its sides nearest level, in (-45, 45]."""
        return self.angle - 90.0 * round(self.angle / 90.0) if self.squarish else self.angle


def _line(pts: np.ndarray, score: float) -> _Line:
    (cx, cy), (w, h), _ = cv2.minAreaRect(pts.astype(np.float32))
    return _Line(pts, score, line_angle(pts), (float(cx), float(cy)), float(max(w, h)), float(min(w, h)))


def _may_pair(a: _Line, b: _Line) -> bool:
    """Cheap tests first (most line pairs of a frame are far apart): similar angles, not steep, and
    centres closer than the longer line is long (a plate's rows are wider than they are apart)."""
    if abs(a.angle - b.angle) > PAIR_ANGLE_DIFF or max(abs(a.angle), abs(b.angle)) > PAIR_ANGLE_MAX:
        return False
    dx, dy = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
    return dx * dx + dy * dy <= max(a.length, b.length) ** 2


def _pair(image: np.ndarray, a: _Line, b: _Line) -> Candidate | None:
    """Lines ``a`` over ``b`` as a two-row plate, or None when they are not stacked like one.

    The test runs in the pair's own frame: both lines turned level by their mean angle, so a tilted
    plate (a camera off to one side, a truck on a slope) pairs as a level one does, and its crop is cut
    along the rows; an upright cut of a tilted plate lets the fixed row split run through characters.
    """
    theta = (a.angle + b.angle) / 2
    if abs(theta) < STRAIGHT_BELOW:
        theta = 0.0
    pa, pb = _turn(a.pts, -theta), _turn(b.pts, -theta)
    (ax0, ay0, aw, ah), (bx0, by0, bw, bh) = _extent(pa), _extent(pb)
    if by0 <= ay0:
        return None
    ax1, bx1 = ax0 + aw, bx0 + bw
    overlap = min(ax1, bx1) - max(ax0, bx0)
    gap = by0 - (ay0 + ah)
    tall = max(ah, bh)
    # rows may overlap by most of a line's height: the detector grows each line past its glyphs, and
    # a row turned a little off the pair's mean angle is taller in the pair's frame (-0.5 lost pairs)
    if overlap < 0.5 * min(aw, bw) or not -PAIR_OVERLAP * tall <= gap <= 0.8 * tall:
        return None
    if not 0.4 <= aw / bw <= 2.5 or not 0.5 <= ah / bh <= 2.0:
        return None
    # the detector's lines often stop short of a row's first or last character (a bottom row is wider
    # than the top one): pad the pair, as the recogniser was trained on loose crops
    x0, x1 = min(ax0, bx0), max(ax1, bx1)
    y0, y1 = ay0, by0 + bh
    px, py = PAIR_PAD_X * (x1 - x0), PAIR_PAD_Y * (y1 - y0)
    x0, x1, y0, y1 = x0 - px, x1 + px, y0 - py, y1 + py
    corners = _turned_box(x0, y0, x1, y1, theta)
    box = bbox(corners, image.shape)
    if theta == 0.0:
        bx, by, bw_, bh_ = box
        crop = image[by:by + bh_, bx:bx + bw_]
    else:
        crop = rectify(image, corners)
    return Candidate(box, crop, 2, (a.score + b.score) / 2, 2) if crop.size else None


#: Lines side by side on one row join into one candidate when the gap between them is at most JOIN_GAP
#: line heights (they overlap by at most JOIN_OVERLAP) and their angles differ by at most
#: JOIN_ANGLE_DIFF degrees; at most JOIN_MAX lines. The detector splits a plate at a wide gap: an emblem
#: or a country band between its groups, a CN plate's dot, a wide dash. Its lines are grown past the
#: glyphs by about a quarter of their height at each end, so neighbours' lines overlap when the glyphs
#: are less than half a line height apart. A line shorter than SQUARE_BELOW times its height has no
#: direction of its own.
JOIN_GAP, JOIN_OVERLAP, JOIN_ANGLE_DIFF, JOIN_MAX, SQUARE_BELOW = 0.6, 0.7, 8.0, 3, 1.5


def _row_angle(lines: list[_Line]) -> float:
    """The angle of a row of lines: the mean of those with a direction of their own."""
    directed = [ln.angle for ln in lines if not ln.squarish] or [ln.row_angle for ln in lines]
    return sum(directed) / len(directed)


def _join_gap(a: _Line, b: _Line) -> float | None:
    """The gap from line ``a`` to line ``b`` on its right, in the row's own frame, when they lie side by
    side on one row like the groups of one plate; None when they do not."""
    if abs(a.row_angle - b.row_angle) > JOIN_ANGLE_DIFF or abs(a.row_angle) > PAIR_ANGLE_MAX:
        return None
    reach = (a.length + b.length) / 2 + JOIN_GAP * max(a.thick, b.thick)
    dx, dy = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
    if dx * dx + dy * dy > reach * reach:  # cheap: most line pairs of a frame are far apart
        return None
    theta = _row_angle([a, b])
    (ax0, ay0, aw, ah), (bx0, by0, bw, bh) = _extent(_turn(a.pts, -theta)), _extent(_turn(b.pts, -theta))
    tall, gap = max(ah, bh), bx0 - (ax0 + aw)
    overlap = min(ay0 + ah, by0 + bh) - max(ay0, by0)
    if bx0 <= ax0 or not -JOIN_OVERLAP * tall <= gap <= JOIN_GAP * tall:
        return None
    if overlap < 0.5 * min(ah, bh) or not 0.6 <= ah / bh <= 1 / 0.6:
        return None
    return gap


def _joined(image: np.ndarray, row: list[_Line]) -> Candidate | None:
    """One candidate for lines side by side, cut along the row and padded as a single line is."""
    theta = _row_angle(row)
    x0, y0, w, h = _extent(np.vstack([_turn(ln.pts, -theta) for ln in row]))
    along, across = LINE_PAD_ALONG * h, LINE_PAD_ACROSS * h
    x0, x1, y0, y1 = x0 - along, x0 + w + along, y0 - across, y0 + h + across
    corners = _turned_box(x0, y0, x1, y1, theta)
    crop = rectify(image, corners)
    score = sum(ln.score for ln in row) / len(row)
    return Candidate(bbox(corners, image.shape), crop, None, score, len(row)) if crop.size else None


def _rows_of_lines(lines: list[_Line]) -> list[list[int]]:
    """Runs of 2..JOIN_MAX lines side by side, each line followed by its nearest right neighbour."""
    right: dict[int, int] = {}
    for i, a in enumerate(lines):
        gaps = [(g, j) for j, b in enumerate(lines) if i != j and (g := _join_gap(a, b)) is not None]
        if gaps:
            right[i] = min(gaps)[1]
    runs = []
    for i in right:
        run = [i]
        while run[-1] in right and right[run[-1]] not in run and len(run) < JOIN_MAX:
            run.append(right[run[-1]])
            runs.append(list(run))
    return runs


def candidates(image: np.ndarray, boxes: list[tuple[np.ndarray, float]], max_lines: int = 12) -> list[Candidate]:
    """Plate candidates from text lines: each line, each pair stacked like a two-row plate, and each run
    of lines side by side like the groups of a one-row plate."""
    boxes = sorted(boxes, key=lambda b: -b[1])[:max_lines]
    out: list[Candidate] = []
    for pts, score in boxes:
        r = bbox(pts, image.shape)
        if r[2] >= 8 and r[3] >= 6:
            out.append(Candidate(r, rectify(image, _grow(_levelled(image, pts))), None, score))
    lines = [_line(pts, score) for pts, score in boxes]
    for i, a in enumerate(lines):
        for j, b in enumerate(lines):
            if i != j and _may_pair(a, b) and (pair := _pair(image, a, b)) is not None:
                out.append(pair)
    for run in _rows_of_lines(lines):
        if (joined := _joined(image, [lines[i] for i in run])) is not None:
            out.append(joined)
    return out
