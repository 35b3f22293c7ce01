"""One frame (or one crop) in, plate reads out: detect → crop → recognise → keep what a grammar accepts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.plate.detector import TextDetector, candidates
from edge.plate.recognizer import Recognizer


@dataclass(frozen=True)
class FrameRead:
    text: str
    confidence: float
    char_confidence: tuple[float, ...]
    box: tuple[int, int, int, int]  # in the full frame
    rows: int


class PlatePipeline:
    """Shares one compiled detector and recogniser; reads of a frame come back best first."""

    def __init__(self, recognizer: Recognizer | None = None, detector: TextDetector | None = None,
                 min_confidence: float = 0.3):
        self.recognizer = recognizer or Recognizer()
        self._detector = detector
        self.min_confidence = min_confidence

    @property
    def detector(self) -> TextDetector:
        if self._detector is None:  # crop-only users never pay for the detector
            self._detector = TextDetector()
        return self._detector

    def read_frame(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> list[FrameRead]:
        ox = oy = 0
        if roi is not None:
            ox, oy, rw, rh = roi
            image = image[oy:oy + rh, ox:ox + rw]
        cands = candidates(image, self.detector.text_boxes(image))
        if not cands:
            return []
        reads = self.recognizer.read_many([c.crop for c in cands], [c.rows for c in cands])
        out: dict[str, FrameRead] = {}
        for c, r in zip(cands, reads):
            if not r.valid or r.confidence < self.min_confidence:
                continue
            x, y, w, h = c.box
            fr = FrameRead(r.text, r.confidence, r.char_confidence, (x + ox, y + oy, w, h), r.rows)
            if r.text not in out or fr.confidence > out[r.text].confidence:
                out[r.text] = fr
        return sorted(out.values(), key=lambda f: -f.confidence)
