"""Post-training INT8 quantisation of the recogniser IR with NNCF, kept only where accuracy holds.

    python -m edge.plate.training.quantize .train/real.npz

Calibrates on lines from the training split of the real crops plus synthetic plates, writes
``recognizer-int8.xml``/``.bin`` beside the FP model, and prints both models' accuracy on the held-out
real crops and their latency. The box uses the INT8 model when it is there (see
:data:`edge.plate.recognizer.DEFAULT_MODEL`); delete it to fall back to FP16 weights.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import nncf
import numpy as np
import openvino as ov

from edge.plate import prep
from edge.plate.recognizer import FP_MODEL, MODEL_DIR, Recognizer
from edge.plate.training import data
from edge.plate.training.train import load_real


def _accuracy(rec: Recognizer, samples: list[data.Sample]) -> tuple[float, float]:
    from edge.plate.decode import greedy
    correct, t0 = 0, time.perf_counter()
    for s in samples:
        text, _ = greedy(rec.infer(prep.model_input(s.line)[None])[0])
        correct += text == s.label
    return correct / len(samples), (time.perf_counter() - t0) / len(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("real", type=Path)
    ap.add_argument("--max-drop", type=float, default=0.005, help="accuracy loss allowed on held-out crops")
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR,
                    help="folder of recognizer.xml; the INT8 model is written beside it")
    args = ap.parse_args(argv)
    fp_model = args.model_dir / FP_MODEL.name
    train, val = load_real(args.real)
    rng = random.Random(0)
    calib = [s for s in (data.real(j, t, r, rng, augment=False) for j, t, r in train[:300]) if s]
    calib += [data.synthetic(rng) for _ in range(300)]
    held = [s for s in (data.real(j, t, r, rng, augment=False) for j, t, r in val) if s]
    model = ov.Core().read_model(str(fp_model))
    dataset = nncf.Dataset([prep.model_input(s.line)[None] for s in calib])
    q = nncf.quantize(model, dataset, subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED)
    out = args.model_dir / "recognizer-int8.xml"
    ov.save_model(q, str(out))
    fp_acc, fp_ms = _accuracy(Recognizer(fp_model), held)
    q_acc, q_ms = _accuracy(Recognizer(out), held)
    sys.stderr.write(f"held-out real crops: FP {fp_acc:.4f} ({fp_ms:.2f} ms/line), INT8 {q_acc:.4f} ({q_ms:.2f} ms/line)\n")
    if q_acc < fp_acc - args.max_drop:
        out.unlink()
        out.with_suffix(".bin").unlink()
        sys.stderr.write("INT8 loses too much accuracy: removed, the box keeps the FP model\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
