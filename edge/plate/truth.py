"""The ``truth`` reader: reads the plate a simulated camera announces in a frame header, with an error model.

Why: the site simulation runs eight or more gate boxes on a two-core machine, where a real
recogniser per gate would not keep up. The simulated camera (``gate-sim camera``) sends, with each
MJPEG part, the plate of the truck in view (header ``X-Plate-Truth``, percent-encoded UTF-8); the
stream camera driver hands part headers over in ``Frame.meta["headers"]``. This reader turns that
truth into what an imperfect recogniser would report: a confidence drawn around ``confidence``,
now and then a blurred read (``low_confidence_rate``) and now and then one OCR-confusable
character swapped (``misread_rate``, the errors fuzzy matching exists for). Everything downstream
(decision, events, snapshots, sync) is the real code. A frame without the header reads nothing.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import unquote

import cv2

from edge.camera.base import Frame
from edge.config.models import TruthReader
from edge.plate.sim import misread
from edge.plate.types import PlateRead


def header(meta: dict[str, Any], name: str) -> str | None:
    """A part header from ``Frame.meta["headers"]``, whatever its case."""
    headers = meta.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


class TruthPlateReader:
    def __init__(self, cfg: TruthReader):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)

    def read(self, frame: Frame) -> PlateRead | None:
        truth = unquote(header(frame.meta, self.cfg.header) or "").strip()
        if not truth:
            return None
        cfg, rng = self.cfg, self.rng
        if rng.random() < cfg.low_confidence_rate:
            confidence = rng.uniform(0.2, 0.55)
        else:
            confidence = min(0.999, max(0.0, rng.gauss(cfg.confidence, cfg.confidence_sd)))
        text = misread(truth, rng) if rng.random() < cfg.misread_rate else truth
        h, w = frame.image.shape[:2]
        return PlateRead(text=text, confidence=round(confidence, 4), ts=frame.ts,
                         box=(w // 3, h * 2 // 3, w // 3, h // 6), snapshot_jpeg=self._jpeg(frame), source="truth")

    def _jpeg(self, frame: Frame) -> bytes | None:
        """The camera's own JPEG when the driver kept it, else the frame encoded again."""
        raw = frame.meta.get("jpeg")
        if isinstance(raw, bytes | bytearray):
            return bytes(raw)
        ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return buf.tobytes() if ok else None
