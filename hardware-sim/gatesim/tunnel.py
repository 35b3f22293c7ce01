"""RTSP tunnelled over HTTP (Apple's scheme, which FFmpeg speaks as ``rtsp_transport=http``): the
client opens two HTTP connections to the RTSP port, tied by one ``x-sessioncookie``. On the GET the
server answers ``200 OK`` (``application/x-rtsp-tunnelled``) and then sends its RTSP replies and the
interleaved RTP on it, as on a plain RTSP connection; on the POST the client sends its RTSP requests,
each base64-encoded on its own, padding and all, under a nominal ``Content-Length``.

Why: a camera reached through a proxy or a firewall that lets only HTTP through is read this way.
"""

from __future__ import annotations

import binascii
import io
from typing import BinaryIO

#: The largest HTTP request head read; a longer one is refused (a client that never ends its headers).
MAX_HEAD_LINES, MAX_LINE = 64, 4096
TUNNELLED = "application/x-rtsp-tunnelled"


def http_request(rfile: BinaryIO) -> tuple[str, str, dict[str, str]] | None:
    """The method, path and headers (lower-case names) of an HTTP request head; None if the client
    closed, or sent no HTTP request line."""
    parts = rfile.readline(MAX_LINE).decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = read_headers(rfile)
    return (parts[0], parts[1], headers) if headers is not None else None


def read_headers(rfile: BinaryIO) -> dict[str, str] | None:
    """Header lines up to the empty one, names lower-cased; None past ``MAX_HEAD_LINES`` lines or at
    the end of the stream."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEAD_LINES):
        line = rfile.readline(MAX_LINE).decode("latin-1")
        if not line:
            return None
        if not line.strip():
            return headers
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return None


class Base64Reader(io.RawIOBase):
    """The POST body of a tunnel, decoded: what the client's RTSP requests were before encoding.

    Decoded a four-character quantum at a time, so a request's padding (``=``) in the middle of the
    stream ends that request only; whitespace is skipped. Text that is not base64 ends the stream, as
    a closed connection does."""

    def __init__(self, raw: io.BufferedIOBase):
        self.raw = raw
        self._text = b""
        self._out = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out:
            chunk = self.raw.read1(4096)
            if not chunk:
                return 0
            self._text += b"".join(chunk.split())
            whole = len(self._text) // 4 * 4
            try:
                self._out = b"".join(binascii.a2b_base64(self._text[i:i + 4], strict_mode=True)
                                     for i in range(0, whole, 4))
            except binascii.Error:
                return 0
            self._text = self._text[whole:]
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n
