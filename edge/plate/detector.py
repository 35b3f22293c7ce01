"""Find plate candidates in a scene: a text detector (PP-OCR's DB network on OpenVINO) and plate geometry.

The detection network is PP-OCRv6 "det small" as carried by PyPI's ``rapidocr`` wheel (Apache-2.0),
loaded from that installed package: nothing is fetched at run time. It marks text lines; this module
turns them into plate candidates — each line on its own (one-row plates) and pairs of stacked lines
of similar width (two-row plates) — cropped upright from the full-resolution frame. Which candidate
is a plate is then settled by the recogniser and the plate grammars (:mod:`edge.plate.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.plate import prep
from edge.plate.ovmodel import CompiledModel

_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
#: Padding added around a stacked pair of lines, as shares of the pair's width and height.
PAIR_PAD_X, PAIR_PAD_Y = 0.05, 0.05
#: Padding added around a single text line, as shares of its height: along the line and across it.
LINE_PAD_ALONG, LINE_PAD_ACROSS = 0.4, 0.1


def default_model() -> Path:
    try:
        import rapidocr
    except ImportError as exc:  # a clear error rather than a bare ImportError deep in the daemon
        raise FileNotFoundError("the plate detector needs the rapidocr package (pip install rapidocr)") from exc
    return Path(rapidocr.__file__).resolve().parent / "models" / "PP-OCRv6_det_small.onnx"


@dataclass(frozen=True)
class Candidate:
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
    crop: np.ndarray
    rows: int | None  # 2 for merged stacked lines; None: let the crop's shape decide
    score: float


class TextDetector:
    def __init__(self, model: Path | None = None, max_side: int = 640, threads: int = 0,
                 thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6):
        self.max_side, self.thresh, self.box_thresh, self.unclip = max_side, thresh, box_thresh, unclip
        # compiled for a 16:9 landscape frame, what gate cameras give; another aspect recompiles once
        self.landscape = self._canvas(_round32(max_side * 9 / 16), _round32(max_side))
        self._model = CompiledModel(model or default_model(), "plate detector", threads, (1, 3, *self.landscape))

    def text_boxes(self, image: np.ndarray, zoom: float = 1.0) -> list[tuple[np.ndarray, float]]:
        """Rotated text-line rectangles ((4, 2) corner arrays in frame pixels) with their scores.

        ``zoom`` > 1 looks closer: the frame is scaled to ``zoom`` times the usual detection size and
        read in overlapping tiles of the usual size. The network then always sees one input shape, so
        OpenVINO keeps its buffers: one pass at 960 px instead of 640 would grow the process by ~100 MB
        for good. Costs one pass per tile (4 at zoom 1.5).
        """
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        nh, nw = _round32(h * scale), _round32(w * scale)
        if zoom <= 1.0:
            return self._boxes(self._prob(cv2.resize(image, (nw, nh))), w / nw, h / nh)
        zh, zw = int(round(nh * zoom)), int(round(nw * zoom))
        big = cv2.resize(image, (zw, zh))
        out: list[tuple[np.ndarray, float]] = []
        for ty in _tile_starts(zh, nh):
            for tx in _tile_starts(zw, nw):
                out += self._boxes(self._prob(big[ty:ty + nh, tx:tx + nw]), w / zw, h / zh, tx, ty)
        return _dedupe(out, image.shape)

    def stage(self, crop: np.ndarray, margin: int = 32) -> np.ndarray:
        """A plate crop set on a frame of the compiled landscape shape, for :meth:`text_boxes`: scaled to
        fill it less ``margin`` on every side, edges repeated for ``margin`` px, the rest its median
        colour. The detector then finds the plate's own lines within a loose crop."""
        ch, cw = self.landscape
        h, w = crop.shape[:2]
        s = min((ch - 2 * margin) / h, (cw - 2 * margin) / w)
        sh, sw = max(1, int(h * s)), max(1, int(w * s))
        img = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
        img = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
        top, left = (ch - sh - 2 * margin) // 2, (cw - sw - 2 * margin) // 2
        fill = [int(v) for v in np.median(crop.reshape(-1, crop.shape[2]), axis=0)]
        return cv2.copyMakeBorder(img, top, ch - sh - 2 * margin - top, left, cw - sw - 2 * margin - left,
                                  cv2.BORDER_CONSTANT, value=fill)

    def _canvas(self, h: int, w: int) -> tuple[int, int]:
        """The network's input shape for a resized frame (or tile) of h×w (multiples of 32): the long side
        as it is (the detection size for frames larger than it), the short side the smallest of three
        aspect buckets (16:9, 4:3, 1:1) that holds it. Few shapes, so the statically compiled network
        is rarely recompiled, even over still images of many sizes."""
        long_side = max(h, w)
        short = next(b for b in (_round32(long_side * 9 / 16), _round32(long_side * 3 / 4), long_side)
                     if b >= min(h, w))
        return (short, long_side) if w >= h else (long_side, short)

    def _prob(self, resized: np.ndarray) -> np.ndarray:
        """DB text probability of a resized frame, padded (with the mean colour) to its canvas."""
        h, w = resized.shape[:2]
        ch, cw = self._canvas(h, w)
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)
        x = np.zeros((1, 3, ch, cw), np.float32)
        x[0, :, :h, :w] = ((rgb - _MEAN) / _STD).transpose(2, 0, 1)
        return self._model.run(x)[0, 0, :h, :w]

    def _boxes(self, prob: np.ndarray, sx: float, sy: float, ox: int = 0, oy: int = 0
               ) -> list[tuple[np.ndarray, float]]:
        """Text lines of one probability map, in frame pixels (map pixel + offset, times scale)."""
        mask = (prob > self.thresh).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            if cv2.contourArea(c) < 12:
                continue
            x0, y0, bw, bh = cv2.boundingRect(c)
            region = np.zeros((bh, bw), np.uint8)
            cv2.drawContours(region, [c - (x0, y0)], -1, 1, -1)
            score = float(prob[y0:y0 + bh, x0:x0 + bw][region > 0].mean())
            if score < self.box_thresh:
                continue
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(c)
            # DB shrinks text regions when training; grow them back by area/perimeter × ratio
            d = rw * rh * self.unclip / max(1e-6, 2 * (rw + rh))
            pts = cv2.boxPoints(((cx + ox, cy + oy), (rw + 2 * d, rh + 2 * d), angle))
            pts[:, 0] *= sx
            pts[:, 1] *= sy
            out.append((pts, score))
        return out


def _round32(v: float) -> int:
    return max(32, int(round(v / 32)) * 32)


def _tile_starts(total: int, size: int) -> list[int]:
    """Tile origins along one axis: tiles of ``size`` covering ``total``, neighbours overlapping by at
    least half a tile (a plate cut by one tile's edge lies whole in the next)."""
    if total <= size:
        return [0]
    k = int(np.ceil((total - size) / (size / 2))) + 1
    return sorted({int(round(i * (total - size) / (k - 1))) for i in range(k)})


def _dedupe(boxes: list[tuple[np.ndarray, float]], shape: tuple[int, ...]) -> list[tuple[np.ndarray, float]]:
    """One line per text line seen by several tiles: the largest wins, and lines lying mostly inside it
    (the same line, or the part of it one tile saw) go."""
    rects = [_bbox(p, shape) for p, _ in boxes]
    order = sorted(range(len(boxes)), key=lambda i: -rects[i][2] * rects[i][3])
    kept: list[int] = []
    for i in order:
        if not any(inside(rects[i], rects[k]) for k in kept):
            kept.append(i)
    return [boxes[i] for i in sorted(kept)]


def inside(a: tuple[int, int, int, int], b: tuple[int, int, int, int], share: float = 0.7) -> bool:
    """Whether at least ``share`` of box ``a``'s area (x, y, w, h) lies within box ``b``."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    return iw > 0 and ih > 0 and iw * ih >= share * aw * ah


def _order(pts: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.float32([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def rectify(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
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


def _bbox(pts: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))


#: A stacked pair tilted less than this (degrees) is cut straight from the frame: the fixed split between
#: its rows copes, and an upright cut costs no interpolation. Lines further apart in angle are no pair.
STRAIGHT_BELOW, PAIR_ANGLE_DIFF, PAIR_ANGLE_MAX = 2.0, 12.0, 35.0


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


@dataclass(frozen=True)
class _Line:
    pts: np.ndarray
    score: float
    angle: float  # line_angle(pts)
    centre: tuple[float, float]
    length: float  # the long side


def _line(pts: np.ndarray, score: float) -> _Line:
    (cx, cy), (w, h), _ = cv2.minAreaRect(pts.astype(np.float32))
    return _Line(pts, score, line_angle(pts), (float(cx), float(cy)), float(max(w, h)))


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
    if overlap < 0.5 * min(aw, bw) or not -0.5 * tall <= gap <= 0.8 * tall:
        return None
    if not 0.4 <= aw / bw <= 2.5 or not 0.5 <= ah / bh <= 2.0:
        return None
    # the detector's lines often stop short of a row's first or last character (a bottom row is wider
    # than the top one): pad the pair, as the recogniser was trained on loose crops
    x0, x1 = min(ax0, bx0), max(ax1, bx1)
    y0, y1 = ay0, by0 + bh
    px, py = PAIR_PAD_X * (x1 - x0), PAIR_PAD_Y * (y1 - y0)
    x0, x1, y0, y1 = x0 - px, x1 + px, y0 - py, y1 + py
    corners = _turn(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), theta).astype(np.float32)
    box = _bbox(corners, image.shape)
    if theta == 0.0:
        bx, by, bw_, bh_ = box
        crop = image[by:by + bh_, bx:bx + bw_]
    else:
        crop = rectify(image, corners)
    return Candidate(box, crop, 2, (a.score + b.score) / 2) if crop.size else None


def candidates(image: np.ndarray, boxes: list[tuple[np.ndarray, float]], max_lines: int = 12) -> list[Candidate]:
    """Plate candidates from text lines: each line, and each pair stacked like a two-row plate."""
    boxes = sorted(boxes, key=lambda b: -b[1])[:max_lines]
    out: list[Candidate] = []
    for pts, score in boxes:
        r = _bbox(pts, image.shape)
        if r[2] >= 8 and r[3] >= 6:
            out.append(Candidate(r, rectify(image, _grow(pts)), None, score))
    lines = [_line(pts, score) for pts, score in boxes]
    for i, a in enumerate(lines):
        for j, b in enumerate(lines):
            if i != j and _may_pair(a, b) and (pair := _pair(image, a, b)) is not None:
                out.append(pair)
    return out
