"""Accuracy and latency of the plate reader over a labelled manifest (``gatectl plate eval``).

Manifest: CSV with a header; columns ``path,text`` and optionally ``rows`` and ``x,y,w,h``; ``path``
is relative to the manifest's folder. With ``crops`` each image is a plate crop (cut to ``x,y,w,h``
when given); otherwise a full scene, where the read the gate would act on (the frame's best read)
must match. Texts compare on upper-case letters, digits and CJK characters only.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.plate.pipeline import PlatePipeline


def comparable(text: str) -> str:
    """Upper-case letters, digits and CJK characters only (separators, spaces and the rest dropped);
    the Đ of the MĐ series counts as D, as the reader and the plate grammars store it."""
    text = text.upper().replace("Đ", "D")
    return "".join(c for c in text if c.isalnum() and (c.isascii() or "\u4e00" <= c <= "\u9fff"))


@dataclass(frozen=True)
class Item:
    path: Path
    text: str
    rows: int | None
    box: tuple[int, int, int, int] | None


class ManifestError(ValueError):
    """The manifest is unreadable or lacks a required column (named in the message)."""


def load_manifest(manifest: Path) -> list[Item]:
    """The manifest's rows; :class:`ManifestError` names the file, and the line where a row is bad."""
    try:
        f = manifest.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"{manifest}: {exc.strerror}") from exc
    with f:
        try:
            return _items(manifest, csv.DictReader(f))
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{manifest}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
        except csv.Error as exc:
            raise ManifestError(f"{manifest}: not a CSV file ({exc})") from exc


def _items(manifest: Path, reader: csv.DictReader) -> list[Item]:
    cols = set(reader.fieldnames or [])
    missing = {"path", "text"} - cols
    if missing:
        raise ManifestError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
    has_box = {"x", "y", "w", "h"} <= cols
    items = []
    for n, row in enumerate(reader, start=2):
        try:
            rows = int(row["rows"]) if row.get("rows") else None
            box = tuple(int(float(row[k] or "")) for k in "xywh") if has_box and row.get("x") else None
        except ValueError as exc:
            raise ManifestError(f"{manifest}:{n}: {exc}") from exc
        if rows not in (None, 1, 2):
            raise ManifestError(f"{manifest}:{n}: rows must be 1 or 2, not {rows}")
        if box is not None and (box[2] <= 0 or box[3] <= 0):
            raise ManifestError(f"{manifest}:{n}: box width and height must be positive, not {box[2]}x{box[3]}")
        if not row.get("path"):
            raise ManifestError(f"{manifest}:{n}: empty path")
        items.append(Item(manifest.parent / row["path"], row["text"] or "", rows, box))  # type: ignore[arg-type]
    return items


@dataclass
class Result:
    item: Item
    read: str | None
    confidence: float
    ms: float

    @property
    def correct(self) -> bool:
        return self.read is not None and comparable(self.read) == comparable(self.item.text)


def run(items: list[Item], pipeline: PlatePipeline, crops: bool,
        progress: Callable[[int, int], None] | None = None) -> Iterator[Result]:
    for i, item in enumerate(items):
        image = cv2.imread(str(item.path))
        if image is None:
            if progress:
                progress(i + 1, len(items))
            yield Result(item, None, 0.0, 0.0)
            continue
        t0 = time.perf_counter()
        if crops:
            crop = image
            if item.box:
                x, y, w, h = item.box
                crop = image[max(0, y):y + h, max(0, x):x + w]
            r = pipeline.read_crop(crop, item.rows)
            text, conf = (r.text, r.confidence) if r.text else (None, 0.0)
        else:
            reads = pipeline.read_frame(image, still=True)  # a still image shows a vehicle
            text, conf = (reads[0].text, reads[0].confidence) if reads else (None, 0.0)
        ms = (time.perf_counter() - t0) * 1000
        if progress:
            progress(i + 1, len(items))
        yield Result(item, text, conf, ms)


def read_stills(pipeline: PlatePipeline, stills: Iterable[tuple[np.ndarray, str]]) -> tuple[int, list[float]]:
    """Still frames read as ``gatectl plate read`` reads them (``read_frame(still=True)``), each frame's
    first read against its plate: how many read right, and each read's milliseconds. Shared by the
    benchmark and the detector's quantiser, so both score scenes as the tool does."""
    ok, ms = 0, []
    for frame, text in stills:
        t0 = time.perf_counter()
        reads = pipeline.read_frame(frame, still=True)
        ms.append((time.perf_counter() - t0) * 1000)
        ok += bool(reads) and comparable(reads[0].text) == comparable(text)
    return ok, ms


def summary(results: list[Result], errors: int = 20) -> dict:
    n = len(results)
    correct = sum(r.correct for r in results)
    ms = np.array([r.ms for r in results if r.ms > 0]) if results else np.array([])
    out = {"n": n, "correct": correct, "accuracy": round(correct / n, 4) if n else 0.0,
           "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
           "p95_ms": round(float(np.percentile(ms, 95)), 2) if ms.size else None,
           "unreadable_files": sum(1 for r in results if r.ms == 0)}
    by_rows: dict[str, list[Result]] = {}
    for r in results:
        by_rows.setdefault(str(r.item.rows or "?"), []).append(r)
    if len(by_rows) > 1:
        out["by_rows"] = {k: {"n": len(v), "accuracy": round(sum(x.correct for x in v) / len(v), 4)}
                          for k, v in sorted(by_rows.items())}
    out["errors"] = [{"path": str(r.item.path.name), "text": r.item.text, "read": r.read}
                     for r in results if not r.correct][:errors]
    return out
