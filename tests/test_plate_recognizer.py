"""The shipped recogniser on real and synthetic plates, with accuracy floors.

Real: a fixed subset of the shared VN crops the model was not trained on (the held-out 20%, see
``edge.plate.training.data.is_validation``). The shared labels carry noise (assembled from
per-character boxes; a hand audit of the disagreements found most of them to be label errors), so one
floor is set against the raw labels and one against the audited labels
(``edge/plate/training/heldout_audit.csv``); the README reports both figures.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.plate import prep
from edge.plate.evaluate import comparable
from edge.plate.pipeline import PlatePipeline
from edge.plate.recognizer import MAX_BATCH, CropRead, Recognizer, grammar_ok
from edge.plate.synth import LAYOUTS, random_text, render_plate, rows_of
from edge.plate.training.augment import degrade, perspective
from edge.plate.training import heldout
from edge.plate.training.data import is_validation

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = [Path(os.environ["VN_PLATE_CROPS"])] if os.environ.get("VN_PLATE_CROPS") else []
CANDIDATES += [REPO.parent / "shared" / "datasets" / "vn-plate-crops", Path("/work/shared/datasets/vn-plate-crops")]
REAL_FLOOR = 0.74  # raw labels; measured 0.78 (model of 2026-11-22), 0.775-0.78 (2026-11-23) on all 454
AUDITED_FLOOR = 0.92  # hand-audited labels; measured 0.971 (434/447, the model of 2026-11-24 pm, weak reads rechecked)
SYNTH_FLOORS = {"vn1": 0.9, "vn2": 0.85, "cn": 0.85, "latin": 0.85}


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer()


def shared_crops() -> Path:
    for c in CANDIDATES:
        if (c / "manifest.csv").exists():
            return c
    if os.environ.get("CI"):
        pytest.fail("the shared VN plate crops are missing (set VN_PLATE_CROPS)")
    pytest.skip("the shared VN plate crops are not on this machine (set VN_PLATE_CROPS)")


def test_real_vn_crops_held_out_accuracy_floor(rec: Recognizer):
    """The recogniser alone, and as `gatectl plate eval --crops` reads, against the raw shared labels."""
    base = shared_crops()
    rows = [r for r in csv.DictReader((base / "manifest.csv").open(encoding="utf-8")) if is_validation(r["path"])]
    rows = sorted(rows, key=lambda r: r["path"])[:300]
    pipe = PlatePipeline(rec)
    correct = piped = 0
    for r in rows:
        img = cv2.imread(str(base / r["path"]))
        assert img is not None, r["path"]
        correct += comparable(rec.read(img, int(r["rows"])).text) == comparable(r["text"])
        piped += comparable(pipe.read_crop(img, int(r["rows"])).text) == comparable(r["text"])
    assert correct / len(rows) >= REAL_FLOOR, f"{correct}/{len(rows)} held-out real crops"
    assert piped / len(rows) >= REAL_FLOOR, f"{piped}/{len(rows)} held-out real crops, detector helping"


def test_real_vn_crops_held_out_audited_accuracy_floor(rec: Recognizer):
    """All held-out crops against hand-audited labels (edge/plate/training/heldout_audit.csv), as
    `gatectl plate eval --crops` reads them, and the detector's help for weak reads paying for itself
    (measured with the model fine-tuned on 2026-11-23: 412 alone, 417/447 = 0.933 helped; 422 = 0.944
    since a weak read under a wrong ``rows`` hint is read the other way too; 425 = 0.951 with the model
    fine-tuned on the morning of 2026-11-24, 426 = 0.953 with the afternoon's).

    Raw labels cannot judge that help: where it fixes a read, the raw label is often the wrong one.
    """
    base = shared_crops()
    audit = heldout.load_audit()
    pipe = PlatePipeline(rec)
    n = alone = helped = 0
    for r in csv.DictReader((base / "manifest.csv").open(encoding="utf-8")):
        if not is_validation(r["path"]):
            continue
        truth = heldout.audited_text(r["path"], r["text"], int(r["rows"]), audit)
        if truth is None:
            continue
        img = cv2.imread(str(base / r["path"]))
        n += 1
        alone += rec.read(img, int(r["rows"])).text == truth
        helped += pipe.read_crop(img, int(r["rows"])).text == truth
    assert n >= 440
    assert helped / n >= AUDITED_FLOOR, f"{helped}/{n} held-out real crops, audited labels"
    assert helped > alone, f"with the detector's help {helped}, alone {alone}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_synthetic_plates_of_every_layout(rec: Recognizer, layout: str):
    rng = random.Random(f"test-{layout}")
    n, correct = 80, 0
    for _ in range(n):
        text = random_text(layout, rng)
        img = render_plate(text, layout, rng, height=rng.randint(40, 100))
        img = perspective(img, rng, strength=0.03, pad=0.04)
        if rng.random() < 0.5:
            img = degrade(img, rng)
        correct += rec.read(img, rows_of(layout)).text == comparable(text)
    assert correct / n >= SYNTH_FLOORS[layout], f"{layout}: {correct}/{n}"


def test_rows_told_by_shape_when_not_given(rec: Recognizer):
    rng = random.Random(3)
    for layout in ("vn1", "vn2"):
        hits = 0
        for _ in range(20):
            text = random_text(layout, rng)
            read = rec.read(render_plate(text, layout, rng))
            hits += read.text == comparable(text) and read.rows == rows_of(layout)
        assert hits >= 17, layout


def test_read_crop_survives_a_wrong_rows_hint(rec: Recognizer):
    """A manifest's or caller's ``rows`` is a hint: one-row plates cut with the car around them are
    marked two-row in the shared labels. Read the hinted way they are garbage; read_crop reads them
    the other way when that reads a plate surely, and a right hint keeps its read."""
    rng = random.Random(11)
    pipe = PlatePipeline(rec)
    for layout, wrong in (("vn1", 2), ("cn", 2), ("vn2", 1)):
        hinted = helped = kept = 0
        for _ in range(15):
            text = random_text(layout, rng)
            img = render_plate(text, layout, rng, height=rng.randint(50, 90))
            hinted += rec.read(img, wrong).text == comparable(text)
            read = pipe.read_crop(img, wrong)
            helped += read.text == comparable(text) and read.rows == rows_of(layout)
            kept += pipe.read_crop(img, rows_of(layout)).text == comparable(text)
        assert hinted <= 3, f"{layout}: the wrong hint should mislead the recogniser ({hinted}/15)"
        assert helped >= 13, f"{layout}: {helped}/15 read despite rows={wrong}"
        assert kept >= 14, f"{layout}: {kept}/15 with the right hint"


class ByRows:
    """A stand-in recogniser that reads a crop as scripted for each row count (the pipeline's rules
    about which read wins, apart from what a network would read)."""

    def __init__(self, reads: dict[int, CropRead]):
        self.reads = reads

    def read(self, crop: np.ndarray, rows: int | None = None, recheck: bool = True) -> CropRead:
        return self.reads[rows or 1]


def _read(text: str, confidence: float, rows: int) -> CropRead:
    return CropRead(text, confidence, (confidence,) * len(text), rows, grammar_ok(text))


@pytest.mark.parametrize("hinted,other,wins", [
    # a two-row plate labelled one-row: the hinted read fits no plate format, the other way one does
    (_read("2E55", 0.77, 1), _read("99A26295", 0.62, 2), "99A26295"),
    # too weak the other way to count, or in a known format already: the hinted read stays
    (_read("2E55", 0.77, 1), _read("99A26295", 0.4, 2), "2E55"),
    (_read("51F06532", 0.7, 1), _read("99A26295", 0.8, 2), "51F06532"),
    # the other way's read in no known format either
    (_read("2E55", 0.77, 1), _read("E26299Z", 0.8, 2), "2E55"),
])
def test_a_hinted_read_in_no_format_gives_way_to_the_other_row_count(hinted: CropRead, other: CropRead,
                                                                      wins: str):
    # a flat crop: nothing to cut down to, no lines for the detector to find
    pipe = PlatePipeline(ByRows({1: hinted, 2: other}))  # type: ignore[arg-type]
    assert pipe.read_crop(np.full((86, 136, 3), 128, np.uint8), 1, straighten=False).text == wins


def test_chinese_plate_at_real_crop_size(rec: Recognizer):
    """Real CN crops are about 94x24 px."""
    rng = random.Random(5)
    correct = 0
    for _ in range(40):
        text = random_text("cn", rng)
        img = cv2.resize(render_plate(text, "cn", rng), (94, 24), interpolation=cv2.INTER_AREA)
        read = rec.read(img)
        correct += read.text == comparable(text)
        assert all(0.0 <= c <= 1.0 for c in read.char_confidence)
    assert correct >= 34


def test_blank_and_noise_images_give_no_valid_plate(rec: Recognizer):
    rng = np.random.default_rng(0)
    for img in (np.zeros((40, 160, 3), np.uint8), np.full((40, 160, 3), 255, np.uint8),
                rng.integers(0, 255, (40, 160, 3), dtype=np.uint8), np.zeros((3, 3, 3), np.uint8)):
        read = rec.read(img)
        assert not (read.valid and read.confidence > 0.9)


def test_a_batch_past_the_cap_runs_in_parts_and_reads_as_one(rec: Recognizer):
    """More lines than MAX_BATCH go through in runs of at most MAX_BATCH (OpenVINO keeps the largest
    batch's buffers), and each line's output is what it gives alone."""
    rng = random.Random(4)
    crops = [render_plate(random_text("vn1", rng), "vn1", rng, height=40) for _ in range(MAX_BATCH + 5)]
    batch = np.stack([prep_line(c) for c in crops])
    with rec.model.recording() as runs:
        together = rec.infer(batch)
    assert [len(x) for x in runs] == [MAX_BATCH, 5] and together.shape[0] == MAX_BATCH + 5
    alone = np.concatenate([rec.infer(batch[i:i + 1]) for i in (0, MAX_BATCH, MAX_BATCH + 4)])
    np.testing.assert_allclose(together[[0, MAX_BATCH, MAX_BATCH + 4]], alone, atol=1e-4)
    assert [r.text for r in rec.read_many(crops)] == [rec.read(c, recheck=False).text for c in crops]


def prep_line(crop: np.ndarray) -> np.ndarray:
    return prep.model_input(prep.line_image(prep.to_gray(crop), 1))


@pytest.mark.parametrize("text,ok", [("51F06532", True), ("59L214999", True), ("桂A12345", True),
                                     ("MEF8792", True), ("VINATRANS", False), ("12345678", False),
                                     ("AB", False), ("", False)])
def test_grammar_filter(text: str, ok: bool):
    assert grammar_ok(text) is ok
