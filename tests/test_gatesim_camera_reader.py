"""The ``truth`` reader on frames of ``gate-sim camera``: reads what the camera shows, errs as configured."""

from __future__ import annotations

import time

import cv2
import numpy as np

from edge.camera.base import Frame
from edge.config.models import TruthReader
from edge.plate.text import normalize, skeleton
from edge.plate.truth import TruthPlateReader
from gatesim.camera import CameraServer, read_parts


def _frames(plate: str | None, n: int) -> list[Frame]:
    with CameraServer(["g"], fps=30, width=160, height=90) as cam:
        cam.show("g", plate)
        return [Frame(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR), time.time(),
                      {"headers": headers, "jpeg": body}) for headers, body in read_parts(cam.url("g"), n)]


def test_reads_the_plate_in_view_and_nothing_on_an_empty_road() -> None:
    reader = TruthPlateReader(TruthReader(type="truth", low_confidence_rate=0, misread_rate=0))
    frames = _frames("桂A12345", 2)
    read = reader.read(frames[0])
    assert read is not None and read.text == "桂A12345" and 0.8 < read.confidence < 1 and read.source == "truth"
    assert read.snapshot_jpeg == frames[0].meta["jpeg"]
    assert reader.read(_frames(None, 1)[0]) is None
    assert reader.read(Frame(frames[0].image, 0.0, {})) is None  # a real camera's frame: no header, no read


def test_error_model_rates_match_the_configuration() -> None:
    cfg = TruthReader(type="truth", misread_rate=0.2, low_confidence_rate=0.1, seed=3)
    reader = TruthPlateReader(cfg)
    frame = _frames("29C-123.45", 1)[0]
    reads = [reader.read(frame) for _ in range(2000)]
    assert all(r is not None for r in reads)
    wrong = [r for r in reads if r.text != "29C-123.45"]
    low = [r for r in reads if r.confidence < 0.6]
    assert 0.16 < len(wrong) / 2000 < 0.24 and 0.07 < len(low) / 2000 < 0.13
    # a misread swaps confusable characters only, so fuzzy matching can still find the permit
    assert all(skeleton(normalize(r.text).text) == skeleton(normalize("29C-123.45").text) for r in wrong)
