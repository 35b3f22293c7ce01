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

from edge.plate.ovmodel import CompiledModel

_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


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
        self._model = CompiledModel(model or default_model(), "plate detector", threads)
        self.max_side, self.thresh, self.box_thresh, self.unclip = max_side, thresh, box_thresh, unclip

    def text_boxes(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Rotated text-line rectangles ((4, 2) corner arrays in frame pixels) with their scores."""
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        nh, nw = max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)
        rgb = cv2.cvtColor(cv2.resize(image, (nw, nh)), cv2.COLOR_BGR2RGB).astype(np.float32)
        x = ((rgb - _MEAN) / _STD).transpose(2, 0, 1)[None]
        prob = self._model.run(x)[0, 0]
        mask = (prob > self.thresh).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = w / nw, h / nh
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
            pts = cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle))
            pts[:, 0] *= sx
            pts[:, 1] *= sy
            out.append((pts, score))
        return out


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


def _bbox(pts: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))


def candidates(image: np.ndarray, boxes: list[tuple[np.ndarray, float]], max_lines: int = 12) -> list[Candidate]:
    """Plate candidates from text lines: each line, and each pair stacked like a two-row plate."""
    boxes = sorted(boxes, key=lambda b: -b[1])[:max_lines]
    out: list[Candidate] = []
    rects = [_bbox(p, image.shape) for p, _ in boxes]
    for (pts, score), r in zip(boxes, rects):
        if r[2] >= 8 and r[3] >= 6:
            out.append(Candidate(r, rectify(image, pts), None, score))
    for i, (a, sa) in enumerate(zip(rects, (s for _, s in boxes))):
        for j, b in enumerate(rects):
            if i == j or b[1] <= a[1]:
                continue
            ax0, ax1, bx0, bx1 = a[0], a[0] + a[2], b[0], b[0] + b[2]
            overlap = min(ax1, bx1) - max(ax0, bx0)
            gap = b[1] - (a[1] + a[3])
            tall = max(a[3], b[3])
            if overlap < 0.5 * min(a[2], b[2]) or not -0.5 * tall <= gap <= 0.8 * tall:
                continue
            if not 0.4 <= a[2] / b[2] <= 2.5 or not 0.5 <= a[3] / b[3] <= 2.0:
                continue
            x0, y0 = min(ax0, bx0), a[1]
            x1, y1 = max(ax1, bx1), b[1] + b[3]
            crop = image[y0:y1, x0:x1]
            if crop.size:
                out.append(Candidate((x0, y0, x1 - x0, y1 - y0), crop, 2, (sa + boxes[j][1]) / 2))
    return out
