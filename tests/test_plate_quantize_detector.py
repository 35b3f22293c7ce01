"""The text detector's INT8 quantiser (edge/plate/training/quantize_detector.py): what it calibrates on
and how it checks reads. NNCF itself is a training extra, not installed for the tests."""

from __future__ import annotations

import random

import numpy as np

from edge.plate.pipeline import PlatePipeline
from edge.plate.recognizer import CropRead
from edge.plate.synth import render_plate
from edge.plate.training import quantize_detector as qd


def test_calibration_records_the_detectors_own_inputs_and_lets_go():
    pipe = PlatePipeline()
    samples = qd.calibration(pipe, [lambda: qd.gate_frames(3, random.Random(1))], limit=2)
    assert len(samples) == 2
    h, w = pipe.detector.landscape
    assert all(s.shape == (1, 3, h, w) and s.dtype == np.float32 for s in samples)


def test_a_models_recording_holds_what_ran_and_only_while_it_lasts():
    model = PlatePipeline().detector.model
    h, w = 2 * 32, 3 * 32
    x = np.random.default_rng(0).normal(size=(1, 3, h, w)).astype(np.float32)
    with model.recording() as seen:
        model.run(x)
        x[:] = 0  # a copy was kept, not the caller's buffer
        model.run(x)
    model.run(x)
    assert len(seen) == 2 and np.abs(seen[0]).sum() > 0 and not seen[1].any()


def test_scene_kinds_are_repeatable_and_of_the_asked_number():
    first = [t for _, t in qd.kinds(None, 3, 5, validation=True)["cn_portrait_stills"]()]
    again = [t for _, t in qd.kinds(None, 3, 5, validation=True)["cn_portrait_stills"]()]
    assert first == again and len(first) == 3
    frame, _ = next(qd.gate_frames(1, random.Random(2)))
    assert frame.shape == (720, 1280, 3)


class _Reads:
    """A pipeline whose crop reads are scripted."""

    def __init__(self, texts: list[str]):
        self.texts = iter(texts)

    def read_crop(self, crop: np.ndarray, rows: int | None = None) -> CropRead:
        return CropRead(next(self.texts), 0.9, (0.9,), rows or 1, True)


def test_crop_check_compares_reads_as_plate_eval_does():
    crop = render_plate("51F-065.32", "vn1", random.Random(0))
    crops = [(crop, "51F-065.32", 1), (crop, "29C 123.45", 2), (crop, "桂A·12345", 1)]
    ok, n, ms = qd.crop_accuracy(_Reads(["51F06532", "29C12346", "桂A12345"]), crops)  # type: ignore[arg-type]
    assert (ok, n) == (2, 3) and ms >= 0
