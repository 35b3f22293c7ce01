"""Plate-crop recogniser on the OpenVINO runtime: crop in, text with per-character confidence out.

The network (a small CRNN trained by :mod:`edge.plate.training.train`) reads one line; two-row
plates are split and laid side by side first (:mod:`edge.plate.prep`). The model is compiled once;
several crops (and both row readings of an ambiguous crop) go through in one batch. A weak read of a
single crop is checked over several cuts of it (:mod:`edge.plate.jitter`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.plate import jitter, prep
from edge.plate.decode import MEND_FROM, decode, mended_confidence
from edge.plate.ovmodel import CompiledModel
from edge.plate.text import CN_PROVINCES, CN_RE, VN_RE, XX_RE

MODEL_DIR = Path(__file__).resolve().parent / "models"
FP_MODEL = MODEL_DIR / "recognizer.xml"
INT8_MODEL = MODEL_DIR / "recognizer-int8.xml"
#: Lines put through the network at once, at most. OpenVINO keeps the buffers of the largest batch
#: it has run for the life of the process, about 2 MB a line: a crop straightened over 38 views in one
#: batch, then batches of every size up to 40, left the recogniser holding 112 MB; in batches of 16,
#: 72 MB, at the same speed (38 lines: 51 ms either way). Live frames send batches of 1-6; ``gatectl
#: plate eval --crops`` peaked at 305 MB instead of 313 on 120 turned CN 94×24 crops, 330 instead of
#: 339 on the 447 audited held-out VN crops, every read the same.
MAX_BATCH = 16
#: The INT8 model where quantisation kept accuracy (edge.plate.training.quantize), else FP16 weights.
DEFAULT_MODEL = INT8_MODEL if INT8_MODEL.exists() else FP_MODEL
#: The recogniser fine-tuned on CN provinces in six CJK hands, as fonts draw them and warped as real
#: plates letter them (edge/plate/models/README.md), asked only for the province of a CN read. It reads
#: provinces in hands neither model was trained on better (ZCOOL: 0.62 against 0.45), but VN plates
#: worse (430 audited crops against 435), so only a CN read's first character is ever taken from it
#: (Recognizer._provinces).
PROVINCE_MODEL = MODEL_DIR / "province.xml"


@dataclass(frozen=True)
class CropRead:
    text: str  # cleaned: letters, digits and CJK only
    confidence: float  # the weakest character's confidence (0 when nothing was read; see edge.plate.decode)
    char_confidence: tuple[float, ...]
    rows: int
    valid: bool  # the text matches a plate grammar (VN, CN or a plain foreign plate)


def grammar_ok(text: str) -> bool:
    """VN or CN grammar, or a plain foreign plate: 4-10 letters and digits, at least two digits and one
    letter (truck lettering such as "VINATRANS" is not a plate)."""
    if VN_RE.match(text) or CN_RE.match(text):
        return True
    digits = sum(c.isdigit() for c in text)
    return bool(XX_RE.match(text)) and digits >= 2 and digits < len(text)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _probabilities(model: CompiledModel, batch: np.ndarray) -> np.ndarray:
    """N×1×32×160 float32 → N×T×K probabilities, in runs of at most ``MAX_BATCH`` lines."""
    if len(batch) <= MAX_BATCH:
        return _softmax(model.run(batch))
    return np.concatenate([_softmax(model.run(batch[i:i + MAX_BATCH])) for i in range(0, len(batch), MAX_BATCH)])


class Recognizer:
    """Compiled once per process; :meth:`read` is safe from several threads (one request at a time).

    ``province``: the model asked for a CN read's province (:data:`PROVINCE_MODEL`; None: never asked),
    compiled at the first CN read."""

    def __init__(self, model: Path = DEFAULT_MODEL, threads: int = 0, province: Path | None = PROVINCE_MODEL):
        self.model = CompiledModel(model, "recogniser (see edge/plate/training)", threads)
        self._threads = threads
        self._province_path = province
        self._province: CompiledModel | None = None
        self._province_lock = threading.Lock()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """N×1×32×160 float32 → N×T×K probabilities, in runs of at most ``MAX_BATCH`` lines."""
        return _probabilities(self.model, batch)

    def province_model(self) -> CompiledModel | None:
        """The province reader, compiled on first use; None when this recogniser has none."""
        with self._province_lock:
            if self._province is None and self._province_path is not None:
                self._province = CompiledModel(self._province_path, "CN province reader (see edge/plate/models)",
                                               self._threads)
            return self._province

    def read_many(self, crops: list[np.ndarray], rows: list[int | None] | None = None,
                  recheck: bool = False) -> list[CropRead]:
        """Read several crops (BGR or grey) in one batch; ``rows`` given per crop, or told by shape.
        ``recheck``: weak reads are checked over several cuts of their crops (:meth:`_rechecked`)."""
        items: list[tuple[int, int]] = []  # (crop index, rows)
        lines: list[np.ndarray] = []
        for i, crop in enumerate(crops):
            if crop.size == 0:
                continue  # nothing to read (a box cut outside the frame): a blank read, not an error
            gray = prep.to_gray(crop)
            known = rows[i] if rows else None
            for r in ((known,) if known else prep.row_candidates(gray.shape[1], gray.shape[0])):
                items.append((i, r))
                lines.append(prep.model_input(prep.line_image(gray, r)))
        best: dict[int, CropRead] = {i: CropRead("", 0.0, (), (rows[i] if rows else None) or 1, False)
                                     for i, crop in enumerate(crops) if crop.size == 0}
        if not lines:
            return [best[i] for i in range(len(crops))]
        probs = self.infer(np.stack(lines))
        for (i, r), p in zip(items, probs):
            text, confs = decode(p)
            read = CropRead(text, min(confs) if confs else 0.0, confs, r, grammar_ok(text))
            cur = best.get(i)
            if cur is None or (read.valid, read.confidence) > (cur.valid, cur.confidence):
                best[i] = read
        reads = [best[i] for i in range(len(crops))]
        return self._provinces(crops, self._rechecked(crops, reads) if recheck else reads)

    def _provinces(self, crops: list[np.ndarray], reads: list[CropRead]) -> list[CropRead]:
        """Each CN read's province as the province reader reads it, when that reader reads the same
        letter and number after it (so it is the same plate, and only the province is in question).

        A read whose first character stands where a province would, before a CN letter and number
        (``IM99169``: a condensed 晋 read as a Latin letter), is asked about too: on synthetic CN crops
        in the held-out ZCOOL hand, condensed, 11 of 60 mended, none broken; over the 447 audited
        held-out VN and foreign crops the province reader's answer was never taken."""
        cn = [i for i, r in enumerate(reads) if CN_RE.match(r.text) or CN_RE.match(CN_PROVINCES[0] + r.text[1:])]
        model = self.province_model() if cn else None
        if model is None:
            return reads
        lines = [prep.model_input(prep.line_image(prep.to_gray(crops[i]), reads[i].rows)) for i in cn]
        out = list(reads)
        for i, p in zip(cn, _probabilities(model, np.stack(lines))):
            text, confs = decode(p)
            r = reads[i]
            if text[:1] != r.text[:1] and text[1:] == r.text[1:] and CN_RE.match(text):
                c = (confs[0], *r.char_confidence[1:])
                out[i] = CropRead(text, min(c), c, r.rows, True)
        return out

    def _rechecked(self, crops: list[np.ndarray], reads: list[CropRead]) -> list[CropRead]:
        """Reads below ``jitter.RECHECK_BELOW`` (or outside every grammar), but not so weak that they are
        likely no plate at all (``MEND_FROM``, as for the format-steered decoding), read again over
        several cuts of their crops in one batch; the text likeliest over all the cuts wins
        (:func:`jitter.consensus`). The characters it changed are as sure as its mean probability."""
        weak = [i for i, r in enumerate(reads) if r.text and r.confidence >= MEND_FROM
                and not (r.valid and r.confidence >= jitter.RECHECK_BELOW)]
        if not weak:
            return reads
        n = len(jitter.CUTS)
        probs = self.infer(np.stack([line for i in weak
                                     for line in jitter.lines(prep.to_gray(crops[i]), reads[i].rows)]))
        out = list(reads)
        for j, i in enumerate(weak):
            text, mean = jitter.consensus(probs[j * n:(j + 1) * n], reads[i].text)
            if text and text != reads[i].text:
                confs = mended_confidence(reads[i].text, reads[i].char_confidence, text, mean)
                out[i] = CropRead(text, min(confs), confs, reads[i].rows, grammar_ok(text))
        return out

    def read(self, crop: np.ndarray, rows: int | None = None, recheck: bool = True) -> CropRead:
        """One crop's read; a weak one is checked over several cuts of the crop unless ``recheck`` is
        False (see :meth:`read_many`)."""
        return self.read_many([crop], [rows], recheck)[0]
