"""One command from the shared crops to the recogniser the box ships: pack → train → export → INT8.

    python -m edge.plate.training.build ../shared/datasets/vn-plate-crops/manifest.csv
    make model                        # the same, after installing the ``train`` extra

Runs the steps that ``edge/plate/models/README.md`` lists one by one, with the recipe of the shipped
model's GPU run (8,000 steps, ~8 min on one H100; on a CPU pass ``--max-steps`` and ``--minutes``):

1. :mod:`realpack`: the manifest's crops → ``WORK/real.npz`` (the images stay out of the repository);
2. :mod:`train`: ``WORK/run/recognizer.onnx`` and ``metrics.json``; every other option is passed to
   it and overrides the recipe (``--init-ir edge/plate/models/recognizer.xml --lr 3e-4
   --trust-after 0`` fine-tunes the shipped model instead);
3. :mod:`export`: the OpenVINO IR in ``--model-dir`` (the shipped folder by default: git shows what
   changed, and ``gatectl plate eval`` then measures the new model);
4. :mod:`quantize`: the INT8 IR beside it, kept only if held-out accuracy holds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.plate.recognizer import MODEL_DIR
from edge.plate.training import export, realpack

log = logging.getLogger("edge.plate.training")

#: The first recipe of edge/plate/models/README.md (the GPU run the shipped model started from).
RECIPE = ["--minutes", "8.5", "--max-steps", "8000", "--workers", "15", "--real-share", "0.4", "--seed", "3",
          "--drop-real", "0.15", "--trust-after", "800"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Options not listed here go to edge.plate.training.train (its --help).")
    ap.add_argument("manifest", type=Path, help="labelled crops: CSV with header path,text[,rows]")
    ap.add_argument("--work", type=Path, default=Path(".train"), help="folder of the pack and the run")
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where the IR goes (default: shipped)")
    args, train_args = ap.parse_known_args(argv)
    if not args.manifest.is_file():
        ap.error(f"{args.manifest}: no such file")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    # torch and nncf come with the ``train`` extra: imported here so --help needs neither
    from edge.plate.training import quantize, train

    real, run = args.work / "real.npz", args.work / "run"
    log.info("1/4 packed %d crops into %s", realpack.pack(args.manifest, real), real)
    log.info("2/4 training into %s", run)
    if train.main(["--real", str(real), "--out", str(run), *RECIPE, *train_args]) != 0:
        return 1
    log.info("3/4 exporting to %s", args.model_dir)
    export.export(run / "recognizer.onnx", args.model_dir)
    log.info("4/4 INT8")
    if quantize.main([str(real), "--model-dir", str(args.model_dir)]) != 0:
        log.info("the box uses the FP16 model: INT8 lost too much accuracy")
    log.info("done: measure with gatectl plate eval (edge/plate/models/README.md, 'Reproduce')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
