"""Training samples: synthetic plates (every layout) and real crops packed by :mod:`realpack`."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from edge.plate import prep
from edge.plate.charset import INDEX, encode
from edge.plate.synth import LAYOUTS, Layout, random_text, render_plate, rows_of
from edge.plate.text import SEPARATORS
from edge.plate.training.augment import degrade, perspective, photometric

LAYOUT_WEIGHTS = {"vn1": 0.25, "vn2": 0.33, "cn": 0.26, "latin": 0.16}


def label_of(text: str) -> str | None:
    """Printed text → the recogniser's label, or None when a character is outside the alphabet."""
    out = "".join(c for c in text.upper() if c not in SEPARATORS)
    return out if out and all(c in INDEX for c in out) else None


@dataclass
class Sample:
    line: np.ndarray  # uint8 H×W
    label: str
    real: bool = False  # a real crop (its label may be wrong), not a synthetic one (always right)


def synthetic(rng: random.Random, layout: Layout | None = None) -> Sample:
    layout = layout or rng.choices(LAYOUTS, weights=[LAYOUT_WEIGHTS[k] for k in LAYOUTS])[0]
    text = random_text(layout, rng)
    img = render_plate(text, layout, rng, height=rng.randint(60, 120))
    img = photometric(img, rng)
    img = perspective(img, rng, strength=rng.uniform(0.0, 0.08), pad=rng.uniform(0.0, 0.12))
    img = degrade(img, rng)
    label = label_of(text)
    assert label is not None, text
    return Sample(prep.line_image(prep.to_gray(img), rows_of(layout)), label)


def real(jpeg: bytes, text: str, rows: int, rng: random.Random, augment: bool) -> Sample | None:
    label = label_of(text)
    if label is None:
        return None
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    if augment:
        if rng.random() < 0.8:
            img = perspective(img, rng, strength=rng.uniform(0.0, 0.05), pad=rng.uniform(0.0, 0.06))
        if rng.random() < 0.7:
            img = photometric(img, rng)
        if rng.random() < 0.6:
            img = degrade(img, rng)
    return Sample(prep.line_image(prep.to_gray(img), rows), label, real=True)


def is_validation(path: str) -> bool:
    """The fixed 20% of real crops kept out of training (by a hash of the path, stable across runs)."""
    return zlib.crc32(path.encode()) % 5 == 0


def tensors(samples: list[Sample]):  # -> (images, targets, target_lengths, labels, real mask)
    import torch
    x = torch.from_numpy(np.stack([prep.model_input(s.line) for s in samples]))
    targets = torch.tensor([i for s in samples for i in encode(s.label)], dtype=torch.long)
    lengths = torch.tensor([len(s.label) for s in samples], dtype=torch.long)
    real = torch.tensor([s.real for s in samples], dtype=torch.bool)
    return x, targets, lengths, [s.label for s in samples], real
