"""Flag and correct likely-wrong labels in a packed crop set with a trained recogniser.

The shared VN crops were labelled from per-character boxes, and a share of the labels are wrong
(a digit read as a letter, a row from the wrong plate). Training on them teaches the errors. A
training label is replaced by the model's read only when the read is grammar-valid, every
character is read with probability ≥ ``--min-conf``, and the read differs from the label in at
most two characters. Validation labels are never touched: they measure, they do not teach.

    python -m edge.plate.training.relabel .train/real.npz .train/real-relabelled.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.plate.recognizer import DEFAULT_MODEL, Recognizer
from edge.plate.training import data


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--min-conf", type=float, default=0.95)
    args = ap.parse_args(argv)
    rec = Recognizer(args.model)
    z = dict(np.load(args.src, allow_pickle=True))
    texts = list(z["text"])
    changed = 0
    for i, (jpeg, text, rows, path) in enumerate(zip(z["jpeg"], z["text"], z["rows"], z["path"])):
        if data.is_validation(str(path)):
            continue
        label = data.label_of(str(text))
        img = cv2.imdecode(np.frombuffer(bytes(jpeg), np.uint8), cv2.IMREAD_COLOR)
        if label is None or img is None:
            continue
        read = rec.read(img, int(rows))
        if (read.text != label and read.valid and read.confidence >= args.min_conf
                and _distance(read.text, label) <= 2):
            texts[i] = read.text
            changed += 1
            sys.stderr.write(f"{path}: {text!r} -> {read.text!r} ({read.confidence:.3f})\n")
    z["text"] = np.array(texts)
    np.savez_compressed(args.dest, **z)
    sys.stderr.write(f"relabelled {changed} training crops\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
