"""``gate-sim camera``: an HTTP-MJPEG camera server of synthetic trucks, one stream per gate.

Why: the site run needs each gate box to read its plate from what *its camera shows*, across a
process boundary, over the protocol real IP cameras speak (``multipart/x-mixed-replace``). One server
serves several gates on ``/gate/<gate_id>.mjpg``; the site runner (or anyone, over HTTP) puts a truck
in front of a gate's camera and takes it away again.

Each part carries the JPEG and, as extra part headers, ``X-Frame-Seq`` and ``X-Plate-Truth``: the
plate the truck really carries, percent-encoded (UTF-8; Chinese plates are not Latin-1, which HTTP
headers are), empty when no truck is in view. A simulated reader on the box (``reader.type = "truth"``)
reads that header with an error model, since a real recogniser is too heavy for eight gates on two
cores; a real reader ignores it and reads the pixels.

The scene (road, truck, plate) is rendered once per change and the same JPEG is re-sent at ``fps``,
so a stream costs almost nothing between changes. ``edge.plate.synth.render_plate`` draws the plate
when it is available (realistic VN/CN layouts); otherwise a plain plate with the ASCII text.

Faults (per gate): ``corrupt = "garbage"`` (random bytes declared as a JPEG), ``"truncate"`` (the
JPEG cut in half) or ``"boundary"`` (a part without its boundary: the stream cannot be parsed further
and the client has to reconnect), ``None`` to heal.

HTTP control (same port):

=======  ==========================  ==========================================================
GET      /gate/<id>.mjpg             the stream
GET      /gate/<id>.jpg              one frame
GET      /state                      every gate's scene, frame counts, clients, fault
POST     /gate/<id>/scene            ``{"plate": "29C-123.45"}`` or ``{"plate": null}``
POST     /gate/<id>/fault            ``{"corrupt": "garbage" | "truncate" | "boundary" | null}``
=======  ==========================  ==========================================================
"""

from __future__ import annotations

import json
import logging
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlparse

import click
import cv2
import numpy as np

from gatesim.rtsp import CODECS, RtspServer

log = logging.getLogger(__name__)

BOUNDARY = "gateframe"
TRUTH_HEADER = "X-Plate-Truth"
CORRUPTIONS = ("garbage", "truncate", "boundary")


def encode_truth(plate: str | None) -> str:
    """Header-safe form of a plate (percent-encoded UTF-8; empty for no truck)."""
    return quote(plate or "", safe="")


def decode_truth(value: str | None) -> str | None:
    """Inverse of :func:`encode_truth`; None for an absent or empty header."""
    text = unquote(value or "").strip()
    return text or None


def _layout(plate: str) -> str:
    if not plate.isascii():
        return "cn"
    return "vn2" if " " in plate.strip() else "vn1"


def render_scene(plate: str | None, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A road seen from the gate's pole camera, with a truck and its plate when one is there (BGR)."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (70, 72, 75)
    cv2.rectangle(img, (0, 0), (width, height // 4), (150, 140, 120), -1)  # the yard's far wall / sky
    for x in range(0, width, width // 6):  # lane markings
        cv2.line(img, (x, height - 8), (x + width // 12, height - 8), (220, 220, 220), 3)
    if not plate:
        return img
    rng = random.Random(f"{seed}:{plate}")
    colour = rng.choice([(40, 60, 160), (150, 110, 30), (30, 120, 40), (200, 200, 200), (30, 160, 200)])
    x0, x1, y0, y1 = width // 6, width * 5 // 6, height // 6, height * 11 // 12
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)  # cab front
    cv2.rectangle(img, (x0 + 12, y0 + 12), (x1 - 12, y0 + (y1 - y0) // 3), (90, 60, 40), -1)  # windscreen
    box_w, box_h = (x1 - x0) // 2, (y1 - y0) // 4
    plate_img = _plate_image(plate, box_w, box_h, rng)
    ph, pw = plate_img.shape[:2]
    px, py = (width - pw) // 2, y1 - ph - 10
    img[py:py + ph, px:px + pw] = plate_img
    return img


def _plate_image(plate: str, w: int, h: int, rng: random.Random) -> np.ndarray:
    try:  # the realistic renderer, when the plate module has it
        from edge.plate.synth import render_plate  # type: ignore[import-not-found]

        out = render_plate(plate, _layout(plate), rng)
        scale = min(w / out.shape[1], h / out.shape[0])  # keep the plate's shape: a two-row plate stays square-ish
        return cv2.resize(out, (max(8, int(out.shape[1] * scale)), max(8, int(out.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    except Exception:  # noqa: BLE001 - absent or failing renderer: the plain plate below still shows the truck
        pass
    img = np.full((h, w, 3), 245, np.uint8)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (20, 20, 20), 2)
    text = plate.encode("ascii", "replace").decode()
    scale = max(0.3, min(h / 40, w / (22 * max(len(text), 1))))
    size, _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(img, text, ((w - size[0]) // 2, (h + size[1]) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (10, 10, 10), 2)
    return img


@dataclass
class GateView:
    """What one gate's camera sees now, its JPEG, and its fault."""

    gate_id: str
    plate: str | None = None
    jpeg: bytes = b""
    version: int = 0
    frames_sent: int = 0
    clients: int = 0
    corrupt: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class CameraServer:
    """MJPEG streams of several gates on one port (``port=0``: any free port); threads only."""

    def __init__(self, gates: list[str], host: str = "127.0.0.1", port: int = 0, *, fps: float = 4.0,
                 width: int = 480, height: int = 270, quality: int = 75, seed: int = 0):
        if not gates:
            raise ValueError("a camera server needs at least one gate")
        if not 0.2 <= fps <= 30:
            raise ValueError("fps must be 0.2..30")
        self.host, self.port, self.fps = host, port, fps
        self.width, self.height, self.quality, self.seed = width, height, quality, seed
        self.lock = threading.Lock()
        self.views = {g: GateView(g) for g in gates}
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for g in gates:
            self.show(g, None)

    # ------------------------------------------------------------------ control

    def _view(self, gate_id: str) -> GateView:
        try:
            return self.views[gate_id]
        except KeyError:
            raise KeyError(f"no camera for gate {gate_id!r}") from None

    def show(self, gate_id: str, plate: str | None) -> None:
        """Put a truck with this plate in front of the gate's camera (None: the empty road)."""
        view = self._view(gate_id)
        img = render_scene(plate, self.width, self.height, self.seed)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        with self.lock:
            view.plate, view.jpeg = plate, buf.tobytes()
            view.version += 1
            view.history.append({"ts": time.time(), "plate": plate})
            del view.history[:-1000]

    def clear(self, gate_id: str) -> None:
        self.show(gate_id, None)

    def corrupt(self, gate_id: str, mode: str | None) -> None:
        if mode is not None and mode not in CORRUPTIONS:
            raise ValueError(f"corrupt must be one of {list(CORRUPTIONS)} or null")
        with self.lock:
            self._view(gate_id).corrupt = mode

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"fps": self.fps, "port": self.port, "gates": {
                g: {"plate": v.plate, "version": v.version, "frames_sent": v.frames_sent, "clients": v.clients,
                    "corrupt": v.corrupt} for g, v in self.views.items()}}

    def url(self, gate_id: str) -> str:
        return f"http://{self.host}:{self.port}/gate/{gate_id}.mjpg"

    def frame(self, path: str) -> np.ndarray | None:
        """What ``gate/<id>`` shows now, decoded (for the RTSP server, :mod:`gatesim.rtsp`); None: no
        such gate. Faults are an MJPEG matter and do not apply."""
        gate_id = path.removeprefix("gate/")
        with self.lock:
            view = self.views.get(gate_id)
            jpeg = view.jpeg if view is not None and path.startswith("gate/") else None
        return None if jpeg is None else cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    # ------------------------------------------------------------------ streaming

    def part(self, gate_id: str, seq: int) -> bytes:
        """One multipart part (boundary line, headers, body) as it goes on the wire."""
        view = self._view(gate_id)
        with self.lock:
            jpeg, plate, mode = view.jpeg, view.plate, view.corrupt
            view.frames_sent += 1
        if mode == "garbage":
            jpeg = self.rng.randbytes(len(jpeg))
        elif mode == "truncate":
            jpeg = jpeg[: len(jpeg) // 2]
        head = (f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Frame-Seq: {seq}\r\n"
                f"X-Frame-Ts: {time.time():.3f}\r\n{TRUTH_HEADER}: {encode_truth(plate)}\r\n\r\n").encode()
        start = b"" if mode == "boundary" else f"--{BOUNDARY}\r\n".encode()
        return start + head + jpeg + b"\r\n"

    def stream(self, gate_id: str, wfile: Any) -> None:
        view = self._view(gate_id)
        with self.lock:
            view.clients += 1
        period, seq, due = 1.0 / self.fps, 0, time.monotonic()
        try:
            while not self.stopping.is_set():
                seq += 1
                wfile.write(self.part(gate_id, seq))
                wfile.flush()
                due += period
                delay = due - time.monotonic()
                if delay < -1.0:  # fell far behind (stalled client): do not burst to catch up
                    due, delay = time.monotonic(), 0.0
                if delay > 0 and self.stopping.wait(delay):
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            with self.lock:
                view.clients -= 1

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "CameraServer":
        self._http = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, name="gate-sim camera", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> "CameraServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(cam: CameraServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "gate-sim-camera/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Quiet: one line per frame request would drown the runner's own output."""

        def _reply(self, code: int, body: Any, ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _gate(self, path: str, suffix: str) -> str | None:
            if path.startswith("/gate/") and path.endswith(suffix):
                gate = path[len("/gate/"):-len(suffix)]
                return gate if gate in cam.views else None
            return None

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = urlparse(self.path).path
            if path == "/state":
                return self._reply(200, cam.state())
            if (gate := self._gate(path, ".mjpg")) is not None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                return cam.stream(gate, self.wfile)
            if (gate := self._gate(path, ".jpg")) is not None:
                with cam.lock:
                    jpeg = cam.views[gate].jpeg
                return self._reply(200, jpeg, "image/jpeg")
            self._reply(404, {"error": f"no such endpoint or gate: GET {path}"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            path = urlparse(self.path).path
            try:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else {}
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                if (gate := self._gate(path, "/scene")) is not None:
                    plate = body.get("plate")
                    if plate is not None and (not isinstance(plate, str) or not 1 <= len(plate) <= 32):
                        raise ValueError("plate must be a string of 1..32 characters or null")
                    cam.show(gate, plate)
                    return self._reply(200, {"gate": gate, "plate": plate})
                if (gate := self._gate(path, "/fault")) is not None:
                    cam.corrupt(gate, body.get("corrupt"))
                    return self._reply(200, {"gate": gate, "corrupt": body.get("corrupt")})
                self._reply(404, {"error": f"no such endpoint or gate: POST {path}"})
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})

    return Handler


# ---------------------------------------------------------------------------------- a small client


def read_parts(url: str, count: int, timeout: float = 5.0) -> Iterator[tuple[dict[str, str], bytes]]:
    """Read ``count`` parts of an MJPEG stream: (headers, body). For tests and health probes; the box
    itself uses its camera driver."""
    u = urlparse(url)
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=timeout) as sock:
        sock.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}\r\nConnection: close\r\n\r\n".encode())
        f = sock.makefile("rb")
        status = f.readline()
        if b" 200 " not in status:
            raise ConnectionError(f"camera answered {status!r}")
        while f.readline() not in (b"\r\n", b""):
            pass  # response headers
        for _ in range(count):
            line = f.readline()
            while line in (b"\r\n",):
                line = f.readline()
            if line.strip() != f"--{BOUNDARY}".encode():
                raise ValueError(f"expected a boundary, got {line[:60]!r}")
            headers: dict[str, str] = {}
            while (line := f.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip()] = v.strip()
            body = f.read(int(headers["Content-Length"]))
            yield headers, body


# ---------------------------------------------------------------------------------------- CLI


@click.command("camera")
@click.option("--gates", required=True, help="Comma-separated gate ids; each gets /gate/<id>.mjpg")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", type=click.IntRange(0, 65535), default=8554, show_default=True, help="HTTP port (0: any)")
@click.option("--fps", type=click.FloatRange(0.2, 30), default=4.0, show_default=True, help="Frames per second")
@click.option("--width", type=click.IntRange(64, 1920), default=480, show_default=True, help="Frame width")
@click.option("--height", type=click.IntRange(48, 1080), default=270, show_default=True, help="Frame height")
@click.option("--rtsp-port", type=click.IntRange(0, 65535), default=None,
              help="Also serve each gate as rtsp://HOST:PORT/gate/<id> (RTP over TCP or UDP; 0: any port)")
@click.option("--rtsp-codec", type=click.Choice(CODECS), default="jpeg", show_default=True,
              help="What the RTSP streams carry: RTP JPEG, or H.264 or H.265 as IP cameras send")
def command(gates: str, host: str, port: int, fps: float, width: int, height: int, rtsp_port: int | None,
            rtsp_codec: str) -> None:
    """HTTP-MJPEG cameras of synthetic trucks (one stream per gate), with the plate's truth in a part
    header; with --rtsp-port, the same scenes over RTSP as most IP cameras serve them."""
    ids = [g.strip() for g in gates.split(",") if g.strip()]
    cam = CameraServer(ids, host, port, fps=fps, width=width, height=height)
    rtsp = RtspServer(cam.frame, host, rtsp_port, fps=fps, codec=rtsp_codec) if rtsp_port is not None else None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cam.start()
    ready: dict[str, Any] = {"event": "ready", "port": cam.port, "streams": {g: cam.url(g) for g in ids}}
    if rtsp is not None:
        rtsp.start()
        ready["rtsp"] = {g: rtsp.url(f"gate/{g}") for g in ids}
    click.echo(json.dumps(ready))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cam.stop()
        if rtsp is not None:
            rtsp.stop()
