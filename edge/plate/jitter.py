"""A weak read checked over slightly different cuts of the same crop.

Where a crop's edge falls, to a pixel or two, changes how the recogniser sees the characters next to
it, and a worn digit can tip one way in one cut and the other way in the next: "54H75326" at 0.64
of a 54-H1 153.26 plate whose "1" is half rubbed out. So a weak read is read again over a few cuts of
its crop, each a few per cent wider, narrower or shifted (:data:`CUTS`), and among the best few texts
of every cut, the one likeliest over all of them wins: the highest mean over the cuts of its exact CTC
probability (:func:`edge.plate.decode.likelihood`), so one cut's confusion is outvoted by the others.
The plate formats steer that vote as they steer a single read (:mod:`edge.plate.decode`). It mends
what the pixels show in most cuts; it cannot mend a character that every cut reads wrong. On the 447
audited held-out crops (``gatectl plate eval --crops``): 3 more read right, none read wrong that was
right (see the models README).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.plate import prep
from edge.plate.decode import MARGIN, beam, leads_cjk, likelihood, steered

#: The cuts, as shares of the crop's width or height taken off its left, top, right and bottom edges;
#: a negative share adds a margin of the crop's edge pixels repeated. The first is the crop itself.
CUTS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 0.0),
    (0.03, 0.03, 0.03, 0.03),
    (-0.03, -0.03, -0.03, -0.03),
    (0.05, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.05, 0.0),
    (0.0, 0.05, 0.0, 0.05),
    (-0.05, 0.0, -0.05, 0.0),
    (0.02, 0.06, 0.02, 0.0),
)
#: A read weaker than this (or outside every grammar) is checked (see Recognizer.read_many).
RECHECK_BELOW = 0.9
#: The texts of each cut's beam put to the vote.
CANDIDATES = 3


def cut(gray: np.ndarray, shares: tuple[float, float, float, float]) -> np.ndarray:
    """``gray`` with ``shares`` (left, top, right, bottom) of its sides taken off, or added where negative."""
    h, w = gray.shape[:2]
    left, top = round(shares[0] * w), round(shares[1] * h)
    right, bottom = w - round(shares[2] * w), h - round(shares[3] * h)
    if right - left < 2 or bottom - top < 2:
        return gray  # too small a crop to cut: the cut is the crop itself
    padded = cv2.copyMakeBorder(gray, max(0, -top), max(0, bottom - h), max(0, -left), max(0, right - w),
                                cv2.BORDER_REPLICATE)
    y, x = max(0, top), max(0, left)
    return padded[y:y + bottom - top, x:x + right - left]


def lines(gray: np.ndarray, rows: int) -> list[np.ndarray]:
    """The recogniser's inputs (1×H×W float32) for every cut of a grey crop read as ``rows`` rows."""
    gray = prep.shrink(gray, rows)  # once for all the cuts, not once per cut
    return [prep.model_input(prep.line_image(cut(gray, shares), rows)) for shares in CUTS]


def consensus(probs: np.ndarray, read: str) -> tuple[str, float]:
    """The text likeliest over the outputs for all cuts of a crop read ``read`` (V×T×K probabilities),
    steered to the plate formats as a single read is (:func:`edge.plate.decode.steered`), and its
    probability: the mean over the cuts of the probability each gives it."""
    logp = np.log(np.maximum(probs, 1e-30))
    # as for a single read's mend, no province character is added or dropped (decode.leads_cjk)
    texts = [text for text in dict.fromkeys([read, *(text for p in probs for text, _ in beam(p)[:CANDIDATES])])
             if leads_cjk(text) == leads_cjk(read)]
    # the mean of the probabilities, not of their logarithms: a cut that loses an edge character gives
    # the read a probability near 0, and a product of the cuts' probabilities would follow that cut
    ranked = sorted(((text, float(np.logaddexp.reduce(likelihood(logp, text)) - np.log(len(probs))))
                     for text in texts), key=lambda tl: -tl[1])
    best = steered(ranked, read, MARGIN) or ranked[0]
    return best[0], float(np.exp(best[1]))
