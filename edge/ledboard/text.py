"""LED board driven by a plain text protocol over TCP or a serial line.

One frame per :meth:`TextLedBoardDriver.show`::

    <start bytes> line 1 <line_separator> line 2 ... <end bytes>

Lines are UTF-8 (``encoding = "utf-8"``, boards with Vietnamese glyphs) or ASCII after
transliteration (``"ascii"``: ``MỜI XE`` → ``MOI XE``; characters with no ASCII form become ``?``,
logged once each). Control characters and the frame's own delimiter bytes never get into a line.

With ``ack`` set the driver waits ``timeout_s`` for those bytes: a NAK or any other reply raises
``LedBoardError("board rejected text: ...")``; silence raises a timeout ``LedBoardError``. Either way the
connection is dropped and the next call opens a new one. A kept TCP connection found dead when the
next frame is sent (the board restarted) is reopened once at once: showing the same text twice is harmless.

The serial transport uses the Linux termios interface directly (raw, 8N1, no flow control), so no
extra package is needed on the box.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time

from edge.ledboard.base import LedBoardError, deliver
from edge.ledboard.config import TextLedBoard
from edge.ledboard.translit import clean, fit_line, to_ascii, unshowable

log = logging.getLogger(__name__)

NAK = 0x15
FALLBACK = "?"


def build_frame(lines: list[str], cfg: TextLedBoard) -> bytes:
    start, end, sep = bytes.fromhex(cfg.start), bytes.fromhex(cfg.end), bytes.fromhex(cfg.line_separator)
    reserved = set(start + end + sep)
    parts = []
    for line in lines:
        text = " ".join(clean(line).split())
        if cfg.chars_per_line:
            text = fit_line(text, cfg.chars_per_line, cfg.align).rstrip()
        if cfg.encoding == "ascii":
            text = to_ascii(text, FALLBACK)
        parts.append(b"".join(b for b in (ch.encode(cfg.encoding) for ch in text) if not reserved & set(b)))
    return start + sep.join(parts) + end


def describe_reply(reply: bytes) -> str:
    if reply[:1] == bytes([NAK]):
        rest = reply[1:]
        return "NAK" + (f" {rest.decode('utf-8', 'replace')!r}" if rest else "")
    return f"{reply.hex(' ')} ({reply.decode('utf-8', 'replace')!r})"


class _TcpLink:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def read(self, timeout: float) -> bytes | None:
        """Some bytes; ``b""`` when the board closed the connection; None after ``timeout``."""
        if not select.select([self.sock], [], [], max(timeout, 0))[0]:
            return None
        return self.sock.recv(256)

    def drain(self) -> None:
        while select.select([self.sock], [], [], 0)[0]:
            if not self.sock.recv(256):
                raise ConnectionResetError("board closed the connection")

    def close(self) -> None:
        self.sock.close()


class _SerialLink:
    """A raw 8N1 serial line through termios (Linux)."""

    def __init__(self, path: str, baudrate: int) -> None:
        import termios

        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            iflag, oflag, cflag, lflag, _ispeed, _ospeed, cc = termios.tcgetattr(self.fd)
            iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                       | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY)
            oflag &= ~termios.OPOST
            lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
            cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | getattr(termios, "CRTSCTS", 0))
            cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
            cc[termios.VMIN], cc[termios.VTIME] = 0, 0
            speed = getattr(termios, f"B{baudrate}")
            termios.tcsetattr(self.fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])
            termios.tcflush(self.fd, termios.TCIOFLUSH)
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.fd], [], left)[1]:
                raise TimeoutError("serial line does not take the frame")
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue

    def read(self, timeout: float) -> bytes | None:
        if not select.select([self.fd], [], [], max(timeout, 0))[0]:
            return None
        try:
            return os.read(self.fd, 256)
        except BlockingIOError:
            return None

    def drain(self) -> None:
        import termios

        termios.tcflush(self.fd, termios.TCIFLUSH)

    def close(self) -> None:
        os.close(self.fd)


class TextLedBoardDriver:
    """Drives a text-protocol board (see the module notes for the frame and the acknowledgement)."""

    def __init__(self, cfg: TextLedBoard) -> None:
        self.cfg = cfg
        self.last: list[str] = []
        self._lock = threading.Lock()
        self._link: _TcpLink | _SerialLink | None = None
        self._ack = bytes.fromhex(cfg.ack) if cfg.ack else b""
        self._warned: set[str] = set()

    @property
    def _where(self) -> str:
        if self.cfg.transport == "serial":
            return f"text board {self.cfg.serial_port}"
        return f"text board {self.cfg.host}:{self.cfg.port}"

    def show(self, lines: list[str]) -> None:
        if self.cfg.encoding == "ascii":
            self._note_unshowable(lines)
        frame = build_frame(lines, self.cfg)
        with self._lock:
            deliver(self._where, lambda: self._send(frame), connected=lambda: self._link is not None,
                    drop=self._drop, lost=(ConnectionError,), failures=(OSError,))
        self.last = list(lines)
        log.info("ledboard", extra={"board": self._where, "lines": self.last})

    def release(self) -> None:
        with self._lock:
            self._drop()

    # -- internals -----------------------------------------------------------------------------

    def _connect(self) -> _TcpLink | _SerialLink:
        if self._link is None:
            cfg = self.cfg
            try:
                if cfg.transport == "serial":
                    assert cfg.serial_port
                    self._link = _SerialLink(cfg.serial_port, cfg.baudrate)
                else:
                    assert cfg.host
                    self._link = _TcpLink(cfg.host, cfg.port, cfg.timeout_s)
            except OSError as exc:
                raise LedBoardError(f"{self._where}: cannot connect: {exc}") from exc
        return self._link

    def _drop(self) -> None:
        if self._link is not None:
            try:
                self._link.close()
            except OSError:
                pass
            self._link = None

    def _send(self, frame: bytes) -> None:
        link = self._connect()
        link.drain()  # a late answer to an earlier frame must not pass for this one's
        link.write(frame, self.cfg.timeout_s)
        if not self._ack:
            return
        deadline = time.monotonic() + self.cfg.timeout_s
        reply = b""
        while len(reply) < len(self._ack):
            chunk = link.read(deadline - time.monotonic())
            if chunk is None:
                if reply:
                    raise LedBoardError(f"{self._where}: board rejected text: incomplete reply "
                                        f"{describe_reply(reply)}")
                raise LedBoardError(f"{self._where}: no acknowledgement within {self.cfg.timeout_s} s (timeout)")
            if not chunk:
                raise ConnectionResetError("board closed the connection")
            reply += chunk
            if not self._ack.startswith(reply[:len(self._ack)]):
                # Not our ACK (a NAK, an error text): let the rest of the reply arrive for the message.
                while (more := link.read(0.05)):
                    reply += more
                raise LedBoardError(f"{self._where}: board rejected text: {describe_reply(reply)}")

    def _note_unshowable(self, lines: list[str]) -> None:
        for ch in unshowable(" ".join(lines), "ascii"):
            if ch not in self._warned:
                self._warned.add(ch)
                log.warning("ledboard_unshowable_character",
                            extra={"board": self._where, "char": ch, "codepoint": f"U+{ord(ch):04X}",
                                   "charset": "ascii", "shown_as": FALLBACK})
