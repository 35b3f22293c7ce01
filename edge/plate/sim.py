"""Simulated reader: returns the plate a simulated frame carries, optionally with an OCR-style misread."""

from __future__ import annotations

import random

import cv2

from edge.camera.base import Frame
from edge.config.models import SimReader
from edge.plate.text import CONFUSABLE_GROUPS
from edge.plate.types import PlateRead


def misread(text: str, rng: random.Random) -> str:
    """Swap one confusable character for another of its group (what a real OCR model gets wrong)."""
    spots = [i for i, c in enumerate(text) if any(c in g for g in CONFUSABLE_GROUPS)]
    if not spots:
        return text
    i = rng.choice(spots)
    group = next(g for g in CONFUSABLE_GROUPS if text[i] in g)
    return text[:i] + rng.choice([c for c in group if c != text[i]]) + text[i + 1:]


class SimPlateReader:
    def __init__(self, cfg: SimReader):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)

    def read(self, frame: Frame) -> PlateRead | None:
        truth = frame.meta.get("plate")
        if not truth:
            return None
        text = misread(truth, self.rng) if self.rng.random() < self.cfg.misread_rate else truth
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        h, w = frame.image.shape[:2]
        return PlateRead(text=text, confidence=self.cfg.confidence, ts=frame.ts,
                         box=(w // 3 - 10, h // 2 - 50, 430, 70),
                         snapshot_jpeg=jpeg.tobytes() if ok else None, source="sim")
