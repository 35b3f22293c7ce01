"""Crop → recogniser input. Shared by training and the box, so both see exactly the same pixels.

The recogniser reads one line of text. A two-row plate (Vietnamese motorbike and truck plates) is
cut into its top and bottom rows, which are laid side by side: "59-L2 / 149.99" becomes one line
"59L2 14999". Rows are told by the crop's shape (two-row plates are about 1.4:1, one-row 3-5:1);
when the shape is ambiguous the reader tries both and keeps the read its grammar accepts.
"""

from __future__ import annotations

import cv2
import numpy as np

INPUT_H, INPUT_W = 32, 160
#: Width/height below which a crop is taken as two-row, above which as one-row; between, both are tried.
TWO_ROW_BELOW, ONE_ROW_ABOVE = 2.0, 3.0
#: The split overlaps a little: a two-row crop's rows rarely meet exactly at half height.
TOP_END, BOTTOM_START = 0.54, 0.46


def to_gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def row_candidates(width: int, height: int) -> tuple[int, ...]:
    """Row counts worth trying for a crop of this size, the likelier first."""
    aspect = width / max(1, height)
    if aspect < TWO_ROW_BELOW:
        return (2,)
    if aspect > ONE_ROW_ABOVE:
        return (1,)
    return (2, 1) if aspect < 2.5 else (1, 2)


def _percentiles(line: np.ndarray) -> tuple[float, float]:
    """2nd and 98th percentile grey levels of a uint8 line, from its histogram (cheaper than a sort)."""
    cum = np.cumsum(np.bincount(line.ravel(), minlength=256))
    n = cum[-1]
    return float(np.searchsorted(cum, 0.02 * n)), float(np.searchsorted(cum, 0.98 * n))


def _stretch(gray: np.ndarray) -> np.ndarray:
    lo, hi = _percentiles(gray) if gray.dtype == np.uint8 else np.percentile(gray, (2, 98))
    if hi - lo < 8:
        return gray.astype(np.float32) / 255.0
    return np.clip((gray.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)


def shrink(gray: np.ndarray, rows: int) -> np.ndarray:
    """Halve a large crop (Gaussian pyramid) until it is at most 4× the line's height: area resizing of a
    full-resolution crop costs more than the network."""
    while gray.shape[0] > 4 * INPUT_H * rows and gray.shape[1] > 4 * INPUT_W:
        gray = cv2.pyrDown(gray)
    return gray


def line_image(gray: np.ndarray, rows: int) -> np.ndarray:
    """The uint8 INPUT_H × INPUT_W line for a grey crop read as ``rows`` rows."""
    gray = shrink(gray, rows)
    if rows == 1:
        return cv2.resize(gray, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA)
    h = gray.shape[0]
    top = gray[: max(1, int(round(h * TOP_END)))]
    bottom = gray[min(h - 1, int(round(h * BOTTOM_START))):]
    half = INPUT_W // 2
    return np.hstack([cv2.resize(top, (half, INPUT_H), interpolation=cv2.INTER_AREA),
                      cv2.resize(bottom, (INPUT_W - half, INPUT_H), interpolation=cv2.INTER_AREA)])


def model_input(line: np.ndarray) -> np.ndarray:
    """uint8 line → float32 1×H×W, contrast-stretched and centred (what the network was trained on)."""
    return ((_stretch(line) - 0.5) / 0.5)[None].astype(np.float32)
