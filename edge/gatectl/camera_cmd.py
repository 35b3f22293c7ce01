"""``gatectl camera probe``: is the gate's camera sending usable pictures? (library: edge.camera.probe)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import cv2
from pydantic import ValidationError

from edge.camera.base import FrameSource
from edge.camera.probe import probe
from edge.config.models import StreamCamera
from edge.drivers import build_camera


@click.group()
def camera() -> None:
    """Check the gate's camera."""


@camera.command("probe")
@click.option("--url", help="Probe this stream (http(s)://, rtsp://, usb:N, file:PATH) instead of the "
                            "configured camera.")
@click.option("--transport", type=click.Choice(["tcp", "udp", "auto", "http", "multicast"]),
              help="RTSP transport (default: the configured camera's; tcp for --url).")
@click.option("--seconds", type=click.FloatRange(1, 120), default=10.0, show_default=True,
              help="How long to watch the stream (an RTSP camera takes a few seconds to start).")
@click.option("--snapshot", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the last frame as this JPEG.")
@click.option("--read", "read_plates", is_flag=True, help="Read plates in the last frame (the OpenVINO reader).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.pass_obj
def camera_probe(obj: Any, url: str | None, transport: str | None, seconds: float, snapshot: Path | None,
                 read_plates: bool, as_json: bool) -> None:
    """Watch the camera for a few seconds: frames, frames/s, size, bad frames, reconnects, with what
    would trouble plate reading. Exit status 1 when no frame came or a problem was found."""
    source = _source(obj, url, transport)
    result, last = probe(source, seconds)
    out: dict[str, Any] = result.as_dict()
    if snapshot is not None and last is not None:
        if not cv2.imwrite(str(snapshot), last.image):
            raise click.ClickException(f"could not write {snapshot}")
        out["snapshot"] = str(snapshot)
    if read_plates and last is not None:
        from edge.gatectl.plate_cmd import reading_pipeline
        from edge.plate.pipeline import FALLBACK_ZOOM
        reads = reading_pipeline(640, FALLBACK_ZOOM).read_frame(last.image, still=True)
        out["plates"] = [{"text": r.text, "confidence": round(r.confidence, 4), "box": list(r.box)} for r in reads]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(_human(out))
    if not result.ok:
        raise SystemExit(1)


def _source(obj: Any, url: str | None, transport: str | None) -> FrameSource:
    """The frame source the daemon would build for the configured camera (``edge.drivers``), or one
    for ``--url``; ``--transport`` overrides the RTSP transport of either."""
    if url is None:
        cfg, _ = obj.load()
        if cfg.camera.type == "sim":
            raise click.ClickException("the configured camera is simulated: nothing to probe (give --url)")
        if transport is not None and cfg.camera.type == "stream":
            cfg = cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"rtsp_transport": transport})})
        return build_camera(cfg, None)
    try:
        cam = StreamCamera(type="stream", url=url, rtsp_transport=transport or "tcp")
    except ValidationError as exc:
        raise click.ClickException(f"--url {url!r}: not http(s)://…, rtsp://…, usb:N or file:PATH") from exc
    from edge.camera.stream import StreamCameraSource
    return StreamCameraSource(cam)


def _sent(o: dict[str, Any]) -> str:
    return f" (the camera sends {o['stream_fps']:g})" if o.get("stream_fps") else ""


def _human(o: dict[str, Any]) -> str:
    size = f"{o['width']}x{o['height']}" if o["width"] else "-"
    first = f"{o['first_frame_s']:.2f} s" if o["first_frame_s"] is not None else "never"
    lines = [f"{'ok' if o['ok'] else 'PROBLEM'}: {o['frames']} frames in {o['seconds']:.1f} s, "
             f"{o['fps']:.1f} frames/s{_sent(o)}, {size}, first frame after {first}",
             f"bad frames {o['bad_frames']}, reconnects {o['reconnects']}, connected {o['connected']}"]
    lines += [f"  - {p}" for p in o["problems"]]
    if "snapshot" in o:
        lines.append(f"snapshot: {o['snapshot']}")
    for p in o.get("plates", []):
        lines.append(f"plate {p['text']} ({p['confidence']:.2f}) at {p['box']}")
    if "plates" in o and not o["plates"]:
        lines.append("no plate in the last frame")
    return "\n".join(lines)
