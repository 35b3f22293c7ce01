"""Pack a crop manifest (path,text,rows) into one compact .npz for training elsewhere.

Crops are shrunk to at most 96 px high and re-encoded as JPEG, so the whole shared VN set travels in
a few MB. The images stay out of the repository: the pack goes to a git-ignored folder.

    python -m edge.plate.training.realpack ../shared/datasets/vn-plate-crops/manifest.csv .train/real.npz
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np


def pack(manifest: Path, out: Path, max_h: int = 96) -> int:
    base = manifest.parent
    jpegs, texts, rows, paths = [], [], [], []
    with manifest.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            img = cv2.imread(str(base / row["path"]))
            if img is None:
                sys.stderr.write(f"unreadable: {row['path']}\n")
                continue
            h, w = img.shape[:2]
            if h > max_h:
                img = cv2.resize(img, (max(1, round(w * max_h / h)), max_h), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                continue
            jpegs.append(buf.tobytes())
            texts.append(row["text"])
            rows.append(int(row.get("rows") or (2 if w / h < 2.5 else 1)))
            paths.append(row["path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, jpeg=np.array(jpegs, dtype=object), text=np.array(texts),
                        rows=np.array(rows), path=np.array(paths))
    return len(jpegs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path, help="CSV with header: path,text[,rows]")
    ap.add_argument("out", type=Path, help="the .npz to write (keep it out of the repository)")
    ap.add_argument("--max-height", type=int, default=96, help="crops taller than this are shrunk")
    args = ap.parse_args(argv)
    if not args.manifest.is_file():
        ap.error(f"{args.manifest}: no such file")
    n = pack(args.manifest, args.out, args.max_height)
    sys.stderr.write(f"packed {n} crops into {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
