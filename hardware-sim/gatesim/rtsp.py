"""A small RTSP camera: JPEG frames as RTP (RFC 2435), H.264 (:mod:`gatesim.h264`) or H.265
(:mod:`gatesim.h265`), interleaved on
the RTSP connection (RFC 2326 §10.12), as UDP datagrams to the client's port, to a multicast group
every viewer of a path joins (:mod:`gatesim.multicast`), or tunnelled over HTTP
(:mod:`gatesim.tunnel`: a GET connection carries the replies and the RTP, a POST connection the
client's requests in base64).

Why: most IP cameras at a gate speak RTSP, and the box reads RTSP through OpenCV's FFmpeg backend. A
test that only ever saw HTTP-MJPEG would leave that path, its timeouts and its reconnects untried.
This server speaks just enough of the protocol for a real client: OPTIONS, DESCRIBE (an SDP with one
video track), SETUP over TCP (interleaved) or UDP (``client_port``; with ``udp=False`` a request for
UDP is answered 461 Unsupported Transport, as by a camera set to TCP only, and FFmpeg may then ask
for TCP; ``multicast=None`` answers a multicast request so), PLAY, GET_PARAMETER (keep-alive) and
TEARDOWN. Frames come from a callable per stream path, at ``fps``. The client's RTCP reports,
interleaved on channel 1, are read and dropped; over UDP none are read (no RTCP port listens).
Faults: ``frozen`` (the session stays open, no frames) and ``loss`` (a share of the UDP datagrams
never sent, as a lossy link drops them).

JPEGs must be baseline, 4:2:0 or 4:2:2, with the standard Huffman tables and no restart markers (what
``cv2.imencode`` writes); the receiver rebuilds the headers from the RTP JPEG header and the
quantisation tables sent in-band (Q = 255). Frames are cut to multiples of 8 pixels, which RTP JPEG
needs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import BinaryIO

import cv2
import numpy as np

from gatesim.multicast import DEFAULT_GROUP, TTL, Groups
from gatesim.tunnel import TUNNELLED, Base64Reader, http_request, read_headers

log = logging.getLogger(__name__)
MAX_PAYLOAD = 1400
JPEG_PT = 26  # RTP payload type of JPEG (RFC 3551)
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"


class RtpJpegError(ValueError):
    """The JPEG cannot go as RTP JPEG (progressive, restart markers, odd sampling...)."""


def jpeg_scan(jpeg: bytes) -> tuple[int, int, int, bytes, bytes]:
    """(RTP JPEG type, width, height, quantisation tables, entropy-coded scan) of a baseline JPEG."""
    if jpeg[:2] != b"\xff\xd8":
        raise RtpJpegError("not a JPEG")
    i, tables, typ, w, h = 2, {}, -1, 0, 0
    while i + 4 <= len(jpeg):
        if jpeg[i] != 0xFF:
            raise RtpJpegError(f"no marker at byte {i}")
        marker, length = jpeg[i + 1], int.from_bytes(jpeg[i + 2:i + 4], "big")
        seg = jpeg[i + 4:i + 2 + length]
        if marker == 0xDB:  # quantisation tables, possibly several in one segment
            j = 0
            while j < len(seg):
                if seg[j] >> 4:
                    raise RtpJpegError("16-bit quantisation tables")
                tables[seg[j] & 15] = seg[j + 1:j + 65]
                j += 65
        elif marker == 0xC0:
            h, w = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            sampling = seg[7]  # the first component's H and V factors
            typ = {0x21: 0, 0x22: 1}.get(sampling, -1)
            if seg[5] != 3 or typ < 0:
                raise RtpJpegError(f"sampling {sampling:#x} of {seg[5]} components")
        elif marker in (0xC1, 0xC2, 0xDD):
            raise RtpJpegError(f"marker {marker:#x} (not baseline, or restart intervals)")
        elif marker == 0xDA:
            scan = jpeg[i + 2 + length:]
            if scan.endswith(b"\xff\xd9"):
                scan = scan[:-2]
            if typ < 0 or 0 not in tables or 1 not in tables:
                raise RtpJpegError("no frame header or tables before the scan")
            return typ, w, h, tables[0] + tables[1], scan
        i += 2 + length
    raise RtpJpegError("no scan")


def rtp_header(marker: bool, pt: int, seq: int, timestamp: int, ssrc: int) -> bytes:
    """The 12-byte RTP fixed header (RFC 3550 §5.1): version 2, no padding, extension or CSRCs."""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)


def rtp_packets(jpeg: bytes, seq: int, timestamp: int, ssrc: int) -> list[bytes]:
    """One frame as RTP JPEG packets (RFC 2435), the tables in the first, the marker bit on the last."""
    typ, w, h, tables, scan = jpeg_scan(jpeg)
    if w % 8 or h % 8 or w > 2040 or h > 2040:
        raise RtpJpegError(f"{w}x{h}: RTP JPEG sends sizes in 8-pixel blocks up to 2040")
    out, off = [], 0
    while off < len(scan) or not out:
        head = struct.pack("!B", 0) + off.to_bytes(3, "big") + struct.pack("!BBBB", typ, 255, w // 8, h // 8)
        if off == 0:
            head += struct.pack("!BBH", 0, 0, len(tables)) + tables
        chunk = scan[off:off + MAX_PAYLOAD - len(head)]
        off += len(chunk)
        last = off >= len(scan)
        out.append(rtp_header(last, JPEG_PT, seq + len(out), timestamp, ssrc) + head + chunk)
    return out


def encode(frame: np.ndarray, quality: int = 80) -> bytes:
    """A BGR frame as a JPEG RTP can carry: cut to multiples of 8 pixels."""
    h, w = frame.shape[:2]
    ok, buf = cv2.imencode(".jpg", frame[: h - h % 8, : w - w % 8], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RtpJpegError("JPEG encoding failed")
    return buf.tobytes()


class JpegPayload:
    """RTP JPEG (RFC 2435): each frame on its own, nothing kept between frames."""

    pt, rtpmap, fmtp = JPEG_PT, "JPEG/90000", ""

    def __init__(self, fps: float):
        self.fps = fps

    def packets(self, frame: np.ndarray, seq: int, timestamp: int, ssrc: int) -> list[bytes]:
        return rtp_packets(encode(frame), seq, timestamp, ssrc)


CODECS = ("jpeg", "h264", "h265")


def payload_class(codec: str) -> type:
    if codec == "jpeg":
        return JpegPayload
    if codec == "h264":
        from gatesim.h264 import H264Payload

        return H264Payload
    if codec == "h265":
        from gatesim.h265 import H265Payload

        return H265Payload
    raise ValueError(f"codec must be one of {', '.join(CODECS)}, not {codec!r}")


class RtspServer:
    """RTSP cameras on one port: ``rtsp://host:port/<path>`` streams ``frames(path)`` (None: no such
    camera, 404) as ``codec`` (``jpeg``: RTP JPEG; ``h264``: :mod:`gatesim.h264`; ``h265``:
    :mod:`gatesim.h265`). ``port=0`` takes a
    free port; restarting on the same port (a camera rebooting) works."""

    def __init__(self, frames: Callable[[str], np.ndarray | None], host: str = "127.0.0.1", port: int = 0,
                 fps: float = 10.0, codec: str = "jpeg", udp: bool = True,
                 multicast: str | None = DEFAULT_GROUP):
        if not 0.2 <= fps <= 30:
            raise ValueError("fps must be 0.2..30")
        self.frames, self.host, self.port, self.fps = frames, host, port, fps
        self.payload = payload_class(codec)
        self.udp = udp  # False: a SETUP for RTP over UDP is answered 461 (a camera behind NAT, TCP only)
        self.multicast = multicast  # the group multicast sessions join; None: a camera with multicast off
        #: "tcp", "udp", "multicast" or "http" (tunnelled), one per session played
        self.transports: list[str] = []
        self.sessions = 0
        self.frozen = threading.Event()
        """Fault injection: while set, sessions stay open and answer requests but carry no frame (a
        camera whose encoder hung after PLAY, or a link that stalls without closing)."""
        #: Share of RTP datagrams lost on the way to a UDP client (a lossy radio or DSL link; RTP over
        #: TCP loses nothing and shows loss as delay). Counted in ``lost``.
        self.loss = 0.0
        self.lost = 0
        self._loss_rng = random.Random(0x1055)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._tunnels: dict[str, socket.socket] = {}  # a tunnel's GET connection, by its session cookie
        self._lock = threading.Lock()
        self._groups = Groups(multicast or DEFAULT_GROUP)

    @property
    def multicast_senders(self) -> int:
        """Multicast senders started: one per path played, however many sessions watch it."""
        return self._groups.senders_started

    def url(self, path: str) -> str:
        return f"rtsp://{self.host}:{self.port}/{path}"

    def start(self) -> "RtspServer":
        self._stop.clear()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock, self.port = sock, sock.getsockname()[1]
        threading.Thread(target=self._accept, name="gate-sim rtsp", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port and every connection: to a client, the camera has gone."""
        self._stop.set()
        with self._lock:
            conns, self._conns = self._conns, []
            self._tunnels.clear()
        for c in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._groups.close()

    def __enter__(self) -> "RtspServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        sock = self._sock
        while not self._stop.is_set() and sock is not None:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._stop.is_set():  # accepted as the server stopped: it would outlive stop() and hold the port
                    conn.close()
                    return
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # ------------------------------------------------------------------ one client

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        try:
            tunnel = rfile.peek(5)[:5].startswith((b"GET ", b"POST "))
        except OSError:
            tunnel = False
        if tunnel:
            self._tunnel(conn, rfile)
        else:
            self._session(conn, rfile, conn)

    def _tunnel(self, conn: socket.socket, rfile: io.BufferedReader) -> None:
        """One half of an RTSP session tunnelled over HTTP. The GET is answered and kept, by its
        cookie, for the POST with the same cookie, whose decoded body then runs the session with
        its replies and RTP on the GET connection."""
        with contextlib.suppress(OSError):  # a client gone mid-way: its connection is dropped below
            req = http_request(rfile)
            method, cookie = (req[0], req[2].get("x-sessioncookie", "")) if req else ("", "")
            if method == "GET" and cookie:
                self._tunnel_get(conn, rfile, cookie)
            else:
                with self._lock:
                    out = self._tunnels.pop(cookie, None) if method == "POST" and cookie else None
                if out is not None:
                    self._session(conn, io.BufferedReader(Base64Reader(rfile)), out)
                    return
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\n")
        self._drop(conn)

    def _tunnel_get(self, conn: socket.socket, rfile: io.BufferedReader, cookie: str) -> None:
        """Answer a tunnel's GET, keep it for its POST, and wait for the tunnel's end (the client sends
        nothing more on a GET); forget it then, if no POST came for it."""
        with self._lock:
            self._tunnels[cookie] = conn
        conn.sendall(f"HTTP/1.0 200 OK\r\nContent-Type: {TUNNELLED}\r\nCache-Control: no-cache\r\n"
                     "Pragma: no-cache\r\nConnection: close\r\n\r\n".encode())
        stray = sum(len(chunk) for chunk in iter(partial(rfile.read1, 4096), b""))
        if stray:
            log.debug("rtsp tunnel %s: %d bytes on the GET ignored", cookie, stray)
        with self._lock:
            if self._tunnels.get(cookie) is conn:
                del self._tunnels[cookie]

    def _session(self, conn: socket.socket, rfile: BinaryIO, out: socket.socket) -> None:
        """RTSP requests read from ``rfile`` (``conn``'s, or a tunnel's decoded POST body), replies and
        interleaved RTP written to ``out`` (``conn``, or the tunnel's GET connection)."""
        write = threading.Lock()
        playing = threading.Event()
        path = ""
        udp: tuple[socket.socket, tuple[str, int]] | None = None  # (RTP socket, client's RTP address)
        group: str | None = None  # the path whose multicast stream this session asked for, then joined
        joined = False
        try:
            while not self._stop.is_set():
                req = _request(rfile)
                if req is None:
                    return
                method, url, headers = req
                cseq = headers.get("cseq", "0")
                path = url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url.lstrip("/")
                stream = path.rsplit("/track0", 1)[0].rstrip("/")
                if method == "OPTIONS":
                    _reply(out, write, cseq, "200 OK", {"Public": PUBLIC})
                elif method == "DESCRIBE":
                    if self.frames(stream) is None:
                        _reply(out, write, cseq, "404 Not Found")
                        continue
                    sdp = (f"v=0\r\no=- 0 0 IN IP4 {self.host}\r\ns=gate-sim\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                           f"a=control:*\r\nm=video 0 RTP/AVP {self.payload.pt}\r\n"
                           f"a=rtpmap:{self.payload.pt} {self.payload.rtpmap}\r\n"
                           + (f"a=fmtp:{self.payload.pt} {self.payload.fmtp}\r\n" if self.payload.fmtp else "")
                           + "a=control:track0\r\n").encode()
                    _reply(out, write, cseq, "200 OK", {"Content-Base": url.rstrip("/") + "/",
                                                         "Content-Type": "application/sdp"}, sdp)
                elif method == "SETUP":
                    transport = headers.get("transport", "")
                    if "interleaved" in transport or "TCP" in transport:
                        _reply(out, write, cseq, "200 OK", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1",
                                                             "Session": "4747;timeout=60"})
                        continue
                    if "multicast" in transport:
                        if self.multicast is None:
                            _reply(out, write, cseq, "461 Unsupported Transport")
                            continue
                        group, port = stream, self._groups.port(stream)
                        _reply(out, write, cseq, "200 OK", {
                            "Transport": f"RTP/AVP;multicast;destination={self._groups.address};"
                                         f"port={port}-{port + 1};ttl={TTL}", "Session": "4747;timeout=60"})
                        continue
                    ports = _client_ports(transport)
                    if not self.udp or ports is None:
                        _reply(out, write, cseq, "461 Unsupported Transport")
                        continue
                    if udp is None:
                        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        rtp.bind((self.host, 0))
                        udp = (rtp, (conn.getpeername()[0], ports[0]))
                    sport = udp[0].getsockname()[1]
                    _reply(out, write, cseq, "200 OK", {
                        "Transport": f"RTP/AVP;unicast;client_port={ports[0]}-{ports[1]};server_port={sport}-{sport + 1}",
                        "Session": "4747;timeout=60"})
                elif method == "PLAY":
                    _reply(out, write, cseq, "200 OK", {"Session": "4747", "Range": "npt=0.000-"})
                    if group is not None and not joined:
                        joined = True
                        self.sessions += 1
                        self.transports.append("multicast")
                        sender = self._groups.join(group)
                        if sender is not None:  # the path's first viewer: its stream starts
                            target = (sender[0], (self._groups.address, self._groups.port(group)))
                            threading.Thread(target=self._send, args=(None, write, group, target, sender[1]),
                                             daemon=True).start()
                    elif group is None and not playing.is_set():
                        playing.set()
                        self.sessions += 1
                        self.transports.append("http" if out is not conn else "udp" if udp else "tcp")
                        threading.Thread(target=self._send, args=(out, write, stream, udp, playing),
                                         daemon=True).start()
                elif method == "GET_PARAMETER":
                    _reply(out, write, cseq, "200 OK", {"Session": "4747"})
                elif method == "TEARDOWN":
                    _reply(out, write, cseq, "200 OK", {"Session": "4747"})
                    return
                else:
                    _reply(out, write, cseq, "405 Method Not Allowed")
        except OSError:
            return
        finally:
            playing.clear()
            if joined and group is not None:
                self._groups.leave(group)
            self._drop(conn)
            if out is not conn:  # the tunnel's GET: shut, so that its waiting thread sees the end too
                with contextlib.suppress(OSError):
                    out.shutdown(socket.SHUT_RDWR)
                self._drop(out)
            if udp is not None:
                udp[0].close()

    def _send(self, conn: socket.socket | None, write: threading.Lock, stream: str,
              udp: tuple[socket.socket, tuple[str, int]] | None, playing: threading.Event) -> None:
        """Frames at ``fps``, interleaved on the RTSP connection or, after a UDP SETUP, as datagrams to
        the client's RTP port (a multicast group's, with no connection of its own), until the session
        (or the group's last session) ends."""
        period, seq, due, t0 = 1.0 / self.fps, 0, time.monotonic(), time.monotonic()
        payload = self.payload(self.fps)
        try:
            while not self._stop.is_set() and playing.is_set():
                frame = self.frames(stream)
                if frame is None:
                    return
                if self.frozen.is_set():
                    due = time.monotonic() + period
                    if self._stop.wait(period):
                        return
                    continue
                packets = payload.packets(frame, seq, int((time.monotonic() - t0) * 90000), 0x6A7E0001)
                seq += len(packets)
                if udp is not None:
                    for p in packets:
                        if self.loss and self._loss_rng.random() < self.loss:
                            self.lost += 1
                            continue
                        udp[0].sendto(p, udp[1])
                elif conn is not None:
                    data = b"".join(b"$\x00" + len(p).to_bytes(2, "big") + p for p in packets)
                    with write:
                        conn.sendall(data)
                due += period
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
        except OSError:
            if conn is not None:
                self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.close()


def _request(rfile: BinaryIO) -> tuple[str, str, dict[str, str]] | None:
    """The next RTSP request; interleaved binary data from the client (RTCP reports) is skipped."""
    while True:
        first = rfile.read(1)
        if not first:
            return None
        if first == b"$":
            head = rfile.read(3)
            if len(head) < 3:
                return None
            rfile.read(int.from_bytes(head[1:3], "big"))
            continue
        line = (first + rfile.readline(4096)).decode("latin-1").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            return None
        headers = read_headers(rfile)
        if headers is None:
            return None
        if int(headers.get("content-length", "0") or 0):
            rfile.read(int(headers["content-length"]))
        return parts[0], parts[1], headers


def _reply(conn: socket.socket, write: threading.Lock, cseq: str, status: str,
           headers: dict[str, str] | None = None, body: bytes = b"") -> None:
    lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", "Server: gate-sim-rtsp/1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with write:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _client_ports(transport: str) -> tuple[int, int] | None:
    """The client's RTP and RTCP ports from a UDP SETUP's Transport header (``client_port=a-b``)."""
    for part in transport.split(";"):
        if part.strip().startswith("client_port="):
            a, _, b = part.split("=", 1)[1].partition("-")
            if a.isdigit() and 0 < int(a) < 65536:
                return int(a), int(b) if b.isdigit() else int(a) + 1
    return None
