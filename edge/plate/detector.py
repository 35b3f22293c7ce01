"""The text detector: PP-OCR's DB network on OpenVINO, frame in, rotated text-line rectangles out.

The detection network is PP-OCRv6 "det small" as carried by PyPI's ``rapidocr`` wheel (Apache-2.0),
loaded from that installed package: nothing is fetched at run time. It marks text lines;
:mod:`edge.plate.lines` turns them into plate candidates, and the recogniser and the plate grammars
settle which candidate is a plate (:mod:`edge.plate.pipeline`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.plate.lines import bbox, inside
from edge.plate.ovmodel import CompiledModel

_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def default_model() -> Path:
    try:
        import rapidocr
    except ImportError as exc:  # a clear error rather than a bare ImportError deep in the daemon
        raise FileNotFoundError("the plate detector needs the rapidocr package (pip install rapidocr)") from exc
    return Path(rapidocr.__file__).resolve().parent / "models" / "PP-OCRv6_det_small.onnx"


class TextDetector:
    def __init__(self, model: Path | None = None, max_side: int = 640, threads: int = 0,
                 thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6):
        self.max_side, self.thresh, self.box_thresh, self.unclip = max_side, thresh, box_thresh, unclip
        # compiled for a 16:9 landscape frame, what gate cameras give; another aspect recompiles once
        self.landscape = self._canvas(_round32(max_side * 9 / 16), _round32(max_side))
        self.model = CompiledModel(model or default_model(), "plate detector", threads, (1, 3, *self.landscape))

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
        return self.model.run(x)[0, 0, :h, :w]

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
    rects = [bbox(p, shape) for p, _ in boxes]
    order = sorted(range(len(boxes)), key=lambda i: -rects[i][2] * rects[i][3])
    kept: list[int] = []
    for i in order:
        if not any(inside(rects[i], rects[k]) for k in kept):
            kept.append(i)
    return [boxes[i] for i in sorted(kept)]
