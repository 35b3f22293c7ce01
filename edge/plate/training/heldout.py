"""Manifests of the held-out shared crops, with their raw labels or with audited ones.

The held-out 20 % of the shared VN crops (:func:`data.is_validation`) measure the recogniser, but
about a fifth of their labels are wrong (another plate's row, ``8`` for ``B``, a Czech "CZ" band
counted). ``heldout_audit.csv`` beside this module records a hand audit, made by looking at each
image, of every held-out crop whose label and a model's read disagreed (the model shipped on
2026-11-22, then the one trained on 2026-11-23), plus the one wrong label found in a check of 120 crops
where label and read agreed:

- ``verdict``: ``label`` (the label is right), ``model`` (the read is right), ``neither`` (both wrong;
  ``true_text`` holds the plate), ``unreadable`` (a person cannot tell: left out of the audited set);
- ``true_text``: the plate as printed, top row then bottom row, letters and digits only.

Crops the audit did not list keep their label: label and model agreed. The audited texts then
follow one spelling per plate (:func:`labels.mend`): Vietnamese series ``MĐ`` as ``MD`` (the shared
labels write ``M0`` as often as ``MD``), Czech plates without their EU band.

    python -m edge.plate.training.heldout ../shared/datasets/vn-plate-crops/manifest.csv \\
           var/heldout-audited.csv --audited
    gatectl plate eval var/heldout-audited.csv --crops --json
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.plate.training import data, labels

AUDIT = Path(__file__).resolve().parent / "heldout_audit.csv"
VERDICTS = frozenset({"label", "model", "neither", "unreadable"})


@dataclass(frozen=True)
class Audit:
    label: str
    true_text: str
    verdict: str


def load_audit(path: Path = AUDIT) -> dict[str, Audit]:
    """The audit, keyed by the crop's path in the shared manifest; refuses a malformed row."""
    out: dict[str, Audit] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            verdict, text = row["verdict"], row["true_text"]
            if verdict not in VERDICTS:
                raise ValueError(f"{path}:{n}: verdict {verdict!r} is not one of {sorted(VERDICTS)}")
            if (verdict == "unreadable") != (text == "") or (text and data.label_of(text) != text):
                raise ValueError(f"{path}:{n}: true_text {text!r} does not fit verdict {verdict!r}")
            if row["path"] in out:
                raise ValueError(f"{path}:{n}: {row['path']} audited twice")
            out[row["path"]] = Audit(row["label"], text, verdict)
    return out


def audited_text(path: str, text: str, rows: int, audit: dict[str, Audit]) -> str | None:
    """The audited plate text of one held-out crop (None: unreadable), in the one spelling."""
    label = data.label_of(text) or ""
    a = audit.get(path)
    if a is not None:
        if a.verdict == "unreadable":
            return None
        label = a.true_text
    return labels.mend(label, labels.grammar_of(path), rows) or label


def write(manifest: Path, dest: Path, audited: bool) -> tuple[int, int]:
    """Write the held-out rows of ``manifest`` to ``dest`` (paths made relative to ``dest``'s folder).

    Returns (rows written, rows left out as unreadable).
    """
    audit = load_audit() if audited else {}
    base = manifest.resolve().parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with manifest.open(newline="", encoding="utf-8") as f, dest.open("w", newline="", encoding="utf-8") as o:
        w = csv.writer(o)
        w.writerow(["path", "text", "rows"])
        for row in csv.DictReader(f):
            if not data.is_validation(row["path"]):
                continue
            rows = int(row.get("rows") or 1)
            text: str | None = row["text"]
            if audited:
                text = audited_text(row["path"], row["text"], rows, audit)
                if text is None:
                    skipped += 1
                    continue
            rel = os.path.relpath(base / row["path"], dest.resolve().parent)
            w.writerow([rel, text, rows])
            written += 1
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path, help="the shared crops' manifest.csv (path,text,rows)")
    ap.add_argument("dest", type=Path)
    ap.add_argument("--audited", action="store_true", help="audited labels instead of the raw ones")
    args = ap.parse_args(argv)
    if not args.manifest.is_file():
        ap.error(f"{args.manifest}: no such file")
    written, skipped = write(args.manifest, args.dest, args.audited)
    sys.stderr.write(f"{args.dest}: {written} held-out crops ({skipped} unreadable left out)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
