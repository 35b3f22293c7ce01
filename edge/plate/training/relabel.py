"""Relabel the shared crops' training split by cross-validation, on a GPU.

The shared labels carry errors that fit the plate grammar (``54-H7 5326`` for the plate
``54-H1 5326``), so :mod:`labels` cannot see them, and a model trained on a label has learnt it: asking
the shipped model about its own training crops only echoes the labels back. Here the training crops
are split into folds; for each fold a model is trained on the other folds and reads this fold. A label
is replaced by the read only where the read fits the crop's grammar, every character is read with
probability ≥ ``--min-conf``, and read and label differ in at most two characters. Crops with the same
label share a fold, because the shared set holds several frames of one plate under one (possibly
wrong) label, and a model that saw a sibling frame would only echo it. Held-out crops are never
touched: they measure, they do not teach.

    python -m edge.plate.training.relabel .train/real.npz .train/real-cv.npz --folds 2 \\
           --max-steps 3000 --workers 15 --real-share 0.4 --seed 3 --changes .train/relabel.csv

then train on ``.train/real-cv.npz`` (:mod:`train`).
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from edge.plate import prep
from edge.plate.decode import greedy
from edge.plate.training import data, labels
from edge.plate.training.train import add_recipe_args, fit, recipe_of, training_label

log = logging.getLogger("plate.relabel")


@torch.no_grad()
def read_all(model: torch.nn.Module, items: list[tuple[bytes, str, int]], device: str):
    """Greedy reads with per-character confidence of un-augmented crops."""
    model.eval()
    rng = random.Random(0)
    out: list[tuple[str, tuple[float, ...]]] = []
    for i in range(0, len(items), 512):
        lines = [data.real(j, t, r, rng, augment=False) for j, t, r in items[i:i + 512]]
        x = torch.from_numpy(np.stack([prep.model_input(s.line) for s in lines])).to(device)
        probs = model(x).float().softmax(-1).cpu().numpy()
        out += [greedy(p) for p in probs]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="crops packed by edge.plate.training.realpack")
    ap.add_argument("dest", type=Path)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--min-conf", type=float, default=0.95)
    ap.add_argument("--changes", type=Path, help="CSV of every replaced label")
    add_recipe_args(ap, minutes=4.0, max_steps=3000)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    z = dict(np.load(args.src, allow_pickle=True))
    texts = [str(t) for t in z["text"]]
    # (index, jpeg, mended label, rows, grammar, fold) of every training crop that train.py would use;
    # a fold by label keeps the frames of one plate together
    pool = []
    for i, (jpeg, text, rows, path) in enumerate(zip(z["jpeg"], texts, z["rows"], z["path"])):
        fixed = None if data.is_validation(str(path)) else training_label(text, str(path), int(rows))
        if fixed is not None:
            pool.append((i, bytes(jpeg), fixed, int(rows), labels.grammar_of(str(path)),
                         zlib.crc32(fixed.encode()) % args.folds))
    changes = []
    for k in range(args.folds):
        fold = [p for p in pool if p[5] == k]
        rest = [(j, t, r) for _, j, t, r, _, f in pool if f != k]
        log.info("fold %d: training on %d crops, reading %d", k, len(rest), len(fold))
        model = fit(rest, recipe_of(args), device).model
        reads = read_all(model, [(j, t, r) for _, j, t, r, _, _ in fold], device)
        for (i, _, label, rows, grammar, _), (read, confs) in zip(fold, reads):
            if labels.accept(label, read, confs, grammar, rows, args.min_conf):
                texts[i] = read
                changes.append((str(z["path"][i]), label, read, round(min(confs), 3)))
        del model
    z["text"] = np.array(texts)
    np.savez_compressed(args.dest, **z)
    if args.changes:
        with args.changes.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "read", "min_char_conf"])
            w.writerows(changes)
    log.info("relabelled %d of %d training crops", len(changes), len(pool))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
