"""LED board whose text lives in Modbus holding registers, one character per register.

Register map (``ModbusLedBoard`` config): line ``i`` occupies ``chars_per_line`` registers from
``start_register + i * chars_per_line``; each holds a Unicode code point (charset ``unicode``: every
precomposed Vietnamese letter is in the BMP, so it fits 16 bits) or an ASCII code (charset ``ascii``:
text is transliterated first). Unused cells and lines are spaces, so a shorter text clears the old one.

Every :meth:`ModbusLedBoardDriver.show` writes the whole board and, with ``verify``, reads it back.
Any failure — no connection, an exception reply, a timeout, a read-back that differs — raises
:class:`LedBoardError` and drops the connection; the next call connects again.
"""

from __future__ import annotations

import logging

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edge.barrier.modbus import bus_key, bus_lock
from edge.ledboard.base import LedBoardError, deliver
from edge.ledboard.config import ModbusLedBoard
from edge.ledboard.translit import fit_line, to_ascii, unshowable

log = logging.getLogger(__name__)

#: Limits of one request (Modbus: 123 registers per write, 125 per read).
MAX_WRITE = 123
MAX_READ = 125
FALLBACK = "?"


def encode_lines(lines: list[str], cfg: ModbusLedBoard) -> list[int]:
    """The board's register values for ``lines`` (all ``cfg.lines`` lines, padded with spaces)."""
    regs: list[int] = []
    for i in range(cfg.lines):
        text = lines[i] if i < len(lines) else ""
        if cfg.charset == "ascii":
            text = to_ascii(text, FALLBACK)
        text = fit_line(text, cfg.chars_per_line, cfg.align)
        regs.extend(ord(ch) if ord(ch) <= 0xFFFF else ord(FALLBACK) for ch in text)
    return regs


def decode_registers(regs: list[int], lines: int, chars_per_line: int) -> list[str]:
    """Register values → the board's lines (trailing spaces dropped; what a reader of the board sees)."""
    out = []
    for i in range(lines):
        cells = regs[i * chars_per_line:(i + 1) * chars_per_line]
        out.append("".join(chr(v) if 0x20 <= v <= 0xFFFF and not 0xD800 <= v <= 0xDFFF else FALLBACK
                           for v in cells).rstrip())
    return out


class ModbusLedBoardDriver:
    """Drives a Modbus TCP LED board; see the module notes for the register map."""

    def __init__(self, cfg: ModbusLedBoard) -> None:
        self.cfg = cfg
        self.last: list[str] = []
        # The bus's own lock: a board behind the same Modbus gateway as the barrier never interleaves
        # its requests with the barrier's on the wire.
        self._lock = bus_lock(bus_key("tcp", host=cfg.host, port=cfg.port))
        self._client: ModbusTcpClient | None = None
        self._warned: set[str] = set()

    @property
    def _where(self) -> str:
        return f"modbus board {self.cfg.host}:{self.cfg.port} unit {self.cfg.unit_id}"

    def _explain(self, exc: Exception) -> str:
        if isinstance(exc, ModbusIOException):
            return f"no answer within {self.cfg.timeout_s} s: {exc}"
        return f"{type(exc).__name__}: {exc}"

    def show(self, lines: list[str]) -> None:
        cfg = self.cfg
        if len(lines) > cfg.lines:
            log.warning("ledboard_lines_dropped", extra={"board": self._where, "lines": lines,
                                                         "board_lines": cfg.lines})
        self._note_unshowable(lines[:cfg.lines])
        regs = encode_lines(lines, cfg)
        with self._lock:
            deliver(self._where, lambda: self._write(regs), connected=lambda: self._client is not None,
                    drop=self._drop, lost=(ConnectionException, ConnectionError),
                    failures=(ModbusException, OSError), explain=self._explain)
        self.last = [line.strip() for line in decode_registers(regs, cfg.lines, cfg.chars_per_line)]
        log.info("ledboard", extra={"board": self._where, "lines": self.last})

    def release(self) -> None:
        with self._lock:
            self._drop()

    # -- internals -----------------------------------------------------------------------------

    def _write(self, regs: list[int]) -> None:
        cfg = self.cfg
        client = self._connect()
        for off in range(0, len(regs), MAX_WRITE):
            self._check(client.write_registers(cfg.start_register + off, regs[off:off + MAX_WRITE],
                                               device_id=cfg.unit_id), "write")
        if not cfg.verify:
            return
        back: list[int] = []
        for off in range(0, len(regs), MAX_READ):
            count = min(MAX_READ, len(regs) - off)
            rr = self._check(client.read_holding_registers(cfg.start_register + off, count=count,
                                                           device_id=cfg.unit_id), "read-back")
            back.extend(rr.registers[:count])
        if back != regs:
            raise LedBoardError(f"{self._where}: read-back differs from what was written: "
                                f"{decode_registers(back, cfg.lines, cfg.chars_per_line)!r}")

    def _connect(self) -> ModbusTcpClient:
        if self._client is None:
            # retries=0: one try per request; the gate would rather show the next text than wait.
            self._client = ModbusTcpClient(self.cfg.host, port=self.cfg.port, timeout=self.cfg.timeout_s,
                                           retries=0)
        if not self._client.connect():
            self._drop()
            raise LedBoardError(f"{self._where}: cannot connect")
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _check(self, response, what: str):  # type: ignore[no-untyped-def]
        if response.isError():
            code = getattr(response, "exception_code", None)
            raise LedBoardError(f"{self._where}: board rejected text: {what} answered exception code {code}")
        return response

    def _note_unshowable(self, lines: list[str]) -> None:
        """Log once per character the board cannot show (it is shown as ``?``)."""
        for ch in unshowable(" ".join(lines), self.cfg.charset):
            if ch not in self._warned:
                self._warned.add(ch)
                log.warning("ledboard_unshowable_character",
                            extra={"board": self._where, "char": ch, "codepoint": f"U+{ord(ch):04X}",
                                   "charset": self.cfg.charset, "shown_as": FALLBACK})
