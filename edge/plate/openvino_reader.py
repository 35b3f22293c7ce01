"""The box's real plate reader: OpenVINO detection + recognition per frame, voted per vehicle."""

from __future__ import annotations

from edge.camera.base import Frame
from edge.config.models import OpenVinoReader
from edge.plate.detector import TextDetector
from edge.plate.pipeline import PlatePipeline
from edge.plate.recognizer import DEFAULT_MODEL, PROVINCE_MODEL, Recognizer
from edge.plate.types import PlateRead
from edge.plate.vote import Voter


def recognizer_of(cfg: OpenVinoReader) -> Recognizer:
    """The recogniser a reader config names, its province reader (if on) compiled now, not at the first
    CN truck: shared by the gate's reader and ``gatectl selftest``, so both load the same models."""
    recognizer = Recognizer(cfg.recognizer or DEFAULT_MODEL, threads=cfg.threads,
                            province=PROVINCE_MODEL if cfg.province_reader else None)
    recognizer.province_model()
    return recognizer


class OpenVinoPlateReader:
    """Models are compiled once, at construction (start-up), never per frame."""

    def __init__(self, cfg: OpenVinoReader):
        self.cfg = cfg
        recognizer = recognizer_of(cfg)
        detector = TextDetector(cfg.detector, max_side=cfg.detect_max_side, threads=cfg.threads)
        self.pipeline = PlatePipeline(recognizer, detector, min_confidence=cfg.min_confidence,
                                      fallback_zoom=cfg.detect_zoom)
        self.voter = Voter(agree=cfg.agree, stop_frames=cfg.stop_frames, lost_s=cfg.lost_s,
                           loop_hold_s=cfg.loop_hold_s)
        self.frames = 0

    def read(self, frame: Frame) -> PlateRead | None:
        self.frames += 1
        loop = bool(frame.meta.get("loop"))
        # a vehicle on the loop (or a trigger waiting for its read) is worth a second, finer look
        reads = self.pipeline.read_frame(frame.image, thorough=loop or self.voter.waiting(frame.ts))
        return self.voter.update(reads, frame.image, frame.ts, loop=loop)

    def trigger(self, ts: float) -> None:
        """The loop detector in front of the barrier fired: emit this vehicle's read now."""
        self.voter.trigger(ts)
