"""``gatectl plate read IMAGE...`` and ``gatectl plate eval MANIFEST``: the recogniser from the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import cv2

from edge.plate.evaluate import ManifestError, load_manifest, run, summary
from edge.plate.pipeline import FALLBACK_ZOOM


def reading_pipeline(max_side: int, zoom: float):
    """The OpenVINO reading pipeline (also for ``gatectl camera probe --read``); a missing model is a
    clear CLI error."""
    from edge.plate.detector import TextDetector
    from edge.plate.pipeline import PlatePipeline
    from edge.plate.recognizer import Recognizer
    try:
        return PlatePipeline(Recognizer(), TextDetector(max_side=max_side), fallback_zoom=zoom)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def plate() -> None:
    """Read plates from images and measure the recogniser."""


@plate.command("read")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--crop", is_flag=True, help="Images are plate crops, not full scenes.")
@click.option("--rows", type=click.IntRange(1, 2), help="Rows of the crops (default: told by shape).")
@click.option("--max-side", type=click.IntRange(160, 1920), default=640, show_default=True,
              help="Detection scale: long side of the frame in pixels.")
@click.option("--zoom", type=click.FloatRange(1.0, 2.5), default=FALLBACK_ZOOM, show_default=True,
              help="When no VN or CN plate is read, look again at this zoom, in tiles (1: never).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def plate_read(images: tuple[Path, ...], crop: bool, rows: int | None, max_side: int, zoom: float,
               as_json: bool) -> None:
    """Read the plate(s) in each IMAGE: text, confidence, box."""
    pipeline = reading_pipeline(max_side, zoom)
    out = []
    for path in images:
        if not path.is_file():
            out.append({"image": str(path), "error": "no such file"})
            continue
        image = cv2.imread(str(path))
        if image is None:
            out.append({"image": str(path), "error": "unreadable image"})
            continue
        if crop:
            r = pipeline.read_crop(image, rows)
            h, w = image.shape[:2]
            reads = [{"text": r.text, "confidence": round(r.confidence, 4), "valid": r.valid, "rows": r.rows,
                      "box": [0, 0, w, h], "char_confidence": [round(c, 3) for c in r.char_confidence]}]
        else:
            reads = [{"text": f.text, "confidence": round(f.confidence, 4), "rows": f.rows, "box": list(f.box),
                      "char_confidence": [round(c, 3) for c in f.char_confidence]}
                     for f in pipeline.read_frame(image, still=True)]
        out.append({"image": str(path), "reads": reads})
    if as_json:
        click.echo(json.dumps({"images": out}, ensure_ascii=False, indent=2))
        return
    for item in out:
        if "error" in item:
            click.echo(f"{item['image']}: {item['error']}")
        elif not item["reads"]:
            click.echo(f"{item['image']}: no plate")
        for r in item.get("reads", []):
            click.echo(f"{item['image']}: {r['text'] or '-'}  confidence {r['confidence']:.3f}  box {r['box']}")


@plate.command("eval")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--crops", is_flag=True, help="Each image is a plate crop (else a full scene).")
@click.option("--max-side", type=click.IntRange(160, 1920), default=640, show_default=True,
              help="Detection scale for full scenes.")
@click.option("--zoom", type=click.FloatRange(1.0, 2.5), default=FALLBACK_ZOOM, show_default=True,
              help="Full scenes: when no VN or CN plate is read, look again at this zoom, in tiles (1: never).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), help="Only the first N rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (figures and first errors).")
def plate_eval(manifest: Path, crops: bool, max_side: int, zoom: float, limit: int | None,
               as_json: bool) -> None:
    """Accuracy (exact plate) and latency over a labelled MANIFEST (CSV: path,text[,rows][,x,y,w,h])."""
    try:
        items = load_manifest(manifest)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    items = items[:limit] if limit else items
    pipeline = reading_pipeline(max_side, zoom)

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            sys.stderr.write(f"\r{done}/{total}")
            sys.stderr.flush()

    results = list(run(items, pipeline, crops, progress))
    sys.stderr.write("\n")
    figures = summary(results)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
    else:
        click.echo(f"{figures['correct']}/{figures['n']} correct ({figures['accuracy']:.2%}), "
                   f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
