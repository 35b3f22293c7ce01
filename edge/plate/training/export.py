"""ONNX (from :mod:`train`) → the OpenVINO IR the box ships, with a check that both agree.

    python -m edge.plate.training.export .train/run/recognizer.onnx [--out-dir DIR]

Writes ``edge/plate/models/recognizer.xml`` + ``.bin`` (or under ``--out-dir``, to compare a candidate
before it replaces the shipped model; weights stored as FP16, computed in FP32 on the CPU) and
compares the IR's logits with the ONNX graph's, both run by OpenVINO.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import openvino as ov

from edge.plate.recognizer import MODEL_DIR


def export(onnx_path: Path, out_dir: Path = MODEL_DIR, name: str = "recognizer") -> Path:
    model = ov.convert_model(str(onnx_path))
    model.reshape({model.inputs[0]: ov.PartialShape([-1, 1, 32, 160])})
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / f"{name}.xml"
    ov.save_model(model, str(xml), compress_to_fp16=True)
    # agreement check: the saved IR against the original ONNX graph, on random lines
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 32, 160)).astype(np.float32)
    core = ov.Core()
    a = core.compile_model(core.read_model(str(onnx_path)), "CPU")(x)[0]
    b = core.compile_model(core.read_model(str(xml)), "CPU")(x)[0]
    diff = float(np.abs(a - b).max())
    sys.stderr.write(f"saved {xml} ({xml.with_suffix('.bin').stat().st_size} bytes weights); "
                     f"max |ONNX - IR| logit difference {diff:.4f}\n")
    return xml


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx", type=Path, help="the ONNX model that training wrote")
    ap.add_argument("--out-dir", type=Path, default=MODEL_DIR, help="folder of the IR (default: the shipped one)")
    ap.add_argument("--name", default="recognizer", choices=("recognizer", "province"),
                    help="the IR's file name: the recogniser, or the CN province reader (recognizer.PROVINCE_MODEL)")
    args = ap.parse_args(argv)
    if not args.onnx.is_file():
        ap.error(f"{args.onnx}: no such file")
    export(args.onnx, args.out_dir, args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
