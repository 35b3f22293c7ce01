"""Barrier and loop detector behind a Modbus PLC or relay module (TCP, or RTU on a serial line).

Two layers:

* :class:`ModbusBus` — one physical bus (a TCP ``host:port`` or a serial port), shared by every
  device on it through a module-level registry (:func:`acquire_bus`): one pymodbus sync client,
  ONE lock serialising every transaction on the line (an LED board behind the same gateway or on the
  same RS-485 pair takes the same lock: :func:`bus_lock`), and the connection state.
* :class:`ModbusBarrierDriver` — the :class:`~edge.barrier.base.Barrier` on top: the register map,
  pulse or latched commands, read-back, and the availability log lines.

Failures, and what the caller sees
----------------------------------
* **Per-request retries** (``retries``, ``timeout_s``): a *read* that gets no reply within
  ``timeout_s`` is sent again, up to ``retries`` more times. A *command write* is sent once (below).
* **Reconnect** (``reconnect_min_s`` doubling to ``reconnect_max_s``, each wait drawn in
  [delay/2, delay]): when the link breaks (refused, reset, closed by the peer) or a request gets no
  reply at all, the bus is marked *down* and a background thread reconnects. While it is down every
  call raises :class:`BarrierUnavailable` at once — nobody blocks for the reconnect — and a restarted
  PLC is found within ``reconnect_max_s`` of its return (the default 1.5 s keeps that under 2 s).
* **The device answered, but wrongly**: a Modbus exception response, a reply that does not decode,
  the wrong function code, too few bits, an echo or read-back that disagrees: :class:`BarrierFault`
  with the reason. After an undecodable reply the connection is dropped and reopened on the next
  call, so stray bytes cannot shift the framing of later replies.
* **Logs** follow the Home Assistant rule: ``barrier_unavailable`` once when the device stops
  answering, ``barrier_back`` once when it answers again (with how long it was away) — not one line
  per failed poll. pymodbus' own error lines for the same events are filtered out (they would repeat
  on every poll); its debug output is untouched.

Why a command is never re-sent
------------------------------
A write whose reply never came may or may not have been executed: the request may have been lost on
the way (not executed) or the reply on the way back (executed). Re-sending is only harmless when the
device treats the write as idempotent state, and that is exactly what cannot be known here: many
relay modules run their outputs in a hardware "flash"/pulse mode where each write starts a new pulse,
and a PLC program may count edges. A re-sent *open* could then lift the arm for a second vehicle; a
re-sent *close* could bring it down on whatever has driven under it since. So a command write goes
on the wire once; if its reply or its read-back is missing the call raises (``BarrierUnavailable``:
the outcome is unknown; ``BarrierFault``: the device said no or disagrees) and the caller — the
safety state machine, which reads the limit switches and the loop — decides what to do next. Nothing
is queued for later either: a command that failed during an outage is not replayed after the
reconnect, so a PLC restart can neither lose a command silently (the caller got an exception) nor
duplicate one. Reads are retried freely; so is the *end* of a pulse (writing a coil back to False
carries no edge and is idempotent), and a pulse end that could not be written is written before the
next command.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from edge.barrier.base import BarrierFault, BarrierUnavailable, position_from_limits
from edge.barrier.config import ModbusBarrier

log = logging.getLogger("edge.barrier.modbus")

#: Discrete inputs further apart than this are read with two requests instead of one spanning both.
MAX_SPAN = 64

_EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "device failure",
    5: "acknowledge", 6: "device busy", 7: "negative acknowledge", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target failed to respond",
}

# ------------------------------------------------------------------------------ pymodbus log noise

_PYMODBUS_NOISE = (
    "No response received", "ERROR: No response received", "Connection to (", "Invalid Modbus protocol id",
    "Unable to decode", "Connection unexpectedly closed", "ERROR: request uses", "Failed to connect",
    "Cleanup recv buffer", " after returning",
)


class _PymodbusNoise(logging.Filter):
    """Drops pymodbus' warning/error lines for failures this module reports itself (once, structured)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage().lstrip()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to judge
            return True
        if text.startswith("Repeating...."):  # pymodbus' marker for a repeated line (which we dropped)
            return False
        return record.levelno < logging.WARNING or not text.startswith(_PYMODBUS_NOISE)


_pymodbus_logger = logging.getLogger("pymodbus.logging")
if not any(isinstance(f, _PymodbusNoise) for f in _pymodbus_logger.filters):
    _pymodbus_logger.addFilter(_PymodbusNoise())


# ------------------------------------------------------------------------------------------ the bus


@dataclass(frozen=True)
class BusParams:
    """How to reach one bus; the first device to open a bus sets these for everyone on it."""

    transport: str  # "tcp" | "rtu"
    host: str | None = None
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.5

    @property
    def key(self) -> str:
        return bus_key(self.transport, host=self.host, port=self.port, serial_port=self.serial_port)

    @classmethod
    def from_config(cls, cfg: ModbusBarrier) -> "BusParams":
        return cls(transport=cfg.transport, host=cfg.host, port=cfg.port, serial_port=cfg.serial_port,
                   baudrate=cfg.baudrate, parity=cfg.parity, stopbits=cfg.stopbits, timeout_s=cfg.timeout_s,
                   reconnect_min_s=cfg.reconnect_min_s, reconnect_max_s=cfg.reconnect_max_s)


def bus_key(transport: str, *, host: str | None = None, port: int = 502, serial_port: str | None = None) -> str:
    """Registry key of a bus: ``tcp:HOST:PORT`` or ``rtu:DEVICE``."""
    if transport == "tcp":
        return f"tcp:{(host or '').lower()}:{port}"
    return f"rtu:{serial_port}"


_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_LOCK = threading.Lock()


def bus_lock(key: str) -> threading.RLock:
    """THE lock of bus ``key`` (see :func:`bus_key`), one per bus for the life of the process.

    Every transaction on a :class:`ModbusBus` holds it; a driver for another device on the same line
    that keeps its own client (an LED board behind the same gateway or on the same RS-485 pair) takes
    it too, so requests never interleave on the wire."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


class NotSent(BarrierUnavailable):
    """The request never went on the wire (bus down, or it could not be opened)."""


def _is_timeout(exc: ModbusIOException) -> bool:
    return "No response received" in str(exc)


class ModbusBus:
    """One Modbus line: a sync client, its lock, and the up/down state with a background reconnect.

    States: ``idle`` (not connected, nothing known against it: the next request connects inline),
    ``up``, ``down`` (requests fail at once; the reconnect thread is working), ``closed``.
    """

    def __init__(self, params: BusParams, *, rng: Callable[[float, float], float] = random.uniform):
        self.params = params
        self.key = params.key
        self.lock = bus_lock(self.key)
        self._rng = rng
        self._state = "idle"
        self._down_reason = ""
        self._down_since: float | None = None
        self._next_attempt: float | None = None
        self._wake = threading.Event()
        self._reconnecting = False  # a reconnect thread owns the way back up (set and cleared under the lock)
        self.refs = 0
        self.reconnects = 0
        self.client = self._make_client()

    # ------------------------------------------------------------------ plumbing

    def _make_client(self) -> Any:
        p = self.params
        if p.transport == "tcp":
            client: Any = ModbusTcpClient(p.host or "", port=p.port, timeout=p.timeout_s, retries=0, name=self.key)
        else:
            try:
                from pymodbus.client import ModbusSerialClient
                from pymodbus.framer import FramerType
                client = ModbusSerialClient(p.serial_port or "", framer=FramerType.RTU, baudrate=p.baudrate,
                                            parity=p.parity, stopbits=p.stopbits, timeout=p.timeout_s, retries=0,
                                            name=self.key)
            except RuntimeError as exc:  # pymodbus says so when pyserial is missing
                raise BarrierFault(f"Modbus RTU on {p.serial_port} needs pyserial (pymodbus[serial]): {exc}") from exc
        # Disconnects are decided here (see _go_down), not by pymodbus' own no-response counter.
        client.set_max_no_responses(1_000_000)
        return client

    @property
    def state(self) -> str:
        return self._state

    def _open(self) -> bool:
        """Open the connection; for TCP the socket is made here (no-delay, bounded by timeout_s)."""
        p = self.params
        if p.transport == "tcp":
            try:
                sock = socket.create_connection((p.host, p.port), timeout=p.timeout_s)
            except OSError as exc:
                self._down_reason = f"connect to {p.host}:{p.port} failed: {exc}"
                return False
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self._state == "closed":
                    sock.close()
                    return False
                self.client.close()
                self.client.socket = sock  # what ModbusTcpClient.connect() itself assigns
            return True
        with self.lock:
            if self._state == "closed":
                return False
            ok = bool(self.client.connect())
            if not ok:
                self._down_reason = f"cannot open serial port {p.serial_port}"
            return ok

    def _go_down(self, reason: str) -> None:
        """Drop the connection and let the reconnect thread bring it back (lock held)."""
        self.client.close()
        if self._state == "closed":
            return
        if self._state != "down":
            self._down_since = time.monotonic()
        self._state = "down"
        self._down_reason = reason
        if not self._reconnecting:
            self._reconnecting = True
            threading.Thread(target=self._reconnect_loop, name=f"modbus-reconnect {self.key}", daemon=True).start()

    def _reconnect_loop(self) -> None:
        p = self.params
        delay = p.reconnect_min_s
        while True:
            wait = self._rng(delay / 2, delay)
            self._next_attempt = time.monotonic() + wait
            if self._wake.wait(wait):
                with self.lock:
                    self._reconnecting = False
                return  # closed
            if self._open():
                with self.lock:
                    if self._state == "down":
                        self._state = "up"
                        self.reconnects += 1
                        log.debug("modbus_connected", extra={
                            "bus": self.key, "down_s": round(time.monotonic() - (self._down_since or 0), 3)})
                    self._next_attempt = None
                    self._reconnecting = False
                return
            delay = min(delay * 2, p.reconnect_max_s)

    def _resync(self) -> None:
        """Drop a connection whose byte stream can no longer be trusted; reopen inline next time."""
        self.client.close()
        if self._state == "up":
            self._state = "idle"

    # ------------------------------------------------------------------ requests

    def request(self, fn: Callable[[Any], ModbusPDU], *, attempts: int, what: str) -> ModbusPDU:
        """Run ``fn(client)`` under the bus lock, up to ``attempts`` times while no reply comes.

        Raises :class:`BarrierUnavailable` when the bus is down (at once), cannot be opened, breaks, or
        nothing answers; :class:`BarrierFault` when the reply cannot be decoded.
        """
        with self.lock:
            if self._state == "closed":
                raise NotSent(f"{what}: bus {self.key} is released")
            if self._state == "down":
                nxt = self._next_attempt
                when = f"; next reconnect attempt in {max(0.0, nxt - time.monotonic()):.2f} s" if nxt else ""
                raise NotSent(f"{what}: {self.key} is down ({self._down_reason}){when}")
            if self._state == "idle":
                if not self._open():
                    self._go_down(self._down_reason)
                    raise NotSent(f"{what}: {self._down_reason}")
                self._state = "up"
            last: Exception | None = None
            for _ in range(max(1, attempts)):
                try:
                    return fn(self.client)
                except ConnectionException as exc:
                    self._go_down(f"connection lost: {exc}")
                    raise BarrierUnavailable(f"{what}: connection to {self.key} lost") from exc
                except ModbusIOException as exc:
                    if _is_timeout(exc):
                        last = exc
                        continue
                    self._resync()
                    raise BarrierFault(f"{what}: garbled reply from {self.key}: {exc}") from exc
                except OSError as exc:
                    self._go_down(f"socket error: {exc}")
                    raise BarrierUnavailable(f"{what}: {self.key}: {exc}") from exc
                except (ModbusException, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
                    self._resync()
                    raise BarrierFault(f"{what}: garbled reply from {self.key}: {exc!r}") from exc
            reason = f"no reply within {self.params.timeout_s} s ({max(1, attempts)} attempt(s))"
            self._go_down(reason)
            raise BarrierUnavailable(f"{what}: {reason} from {self.key}") from last

    def close(self) -> None:
        with self.lock:
            self._state = "closed"
            self._wake.set()
            self.client.close()


_BUSES: dict[str, ModbusBus] = {}
_BUSES_LOCK = threading.Lock()


def acquire_bus(params: BusParams) -> ModbusBus:
    """The shared bus for ``params.key`` (created on first use; counted; give it back with :func:`release_bus`)."""
    with _BUSES_LOCK:
        bus = _BUSES.get(params.key)
        if bus is None:
            bus = _BUSES[params.key] = ModbusBus(params)
        elif bus.params != params:
            log.warning("modbus_bus_params_differ", extra={"bus": params.key, "kept": repr(bus.params),
                                                           "ignored": repr(params)})
        bus.refs += 1
        return bus


def release_bus(bus: ModbusBus) -> None:
    with _BUSES_LOCK:
        bus.refs -= 1
        if bus.refs <= 0:
            if _BUSES.get(bus.key) is bus:
                del _BUSES[bus.key]
            bus.close()




# ---------------------------------------------------------------------------------------- the driver


class ModbusBarrierDriver:
    """:class:`~edge.barrier.base.Barrier` over Modbus (see the module docstring for failure handling).

    Pulse mode: a command sets its coil, reads it back and returns; a timer thread resets the coil
    after ``pulse_s`` under the bus lock (the caller never waits for the pulse). A new command ends a
    pulse still running (the other coil's first, so both coils are never up together). Latched mode:
    ``open`` holds ``coil_open`` True, ``close`` sets it False.
    """

    def __init__(self, cfg: ModbusBarrier):
        self.cfg = cfg
        self.map = cfg.map
        self.unit = cfg.map.unit_id
        self._bus = acquire_bus(BusParams.from_config(cfg))
        self._pulses: dict[int, tuple[int, threading.Timer]] = {}
        self._pulse_gen = 0
        self._needs_reset: set[int] = set()
        self._released = False
        self._avail_lock = threading.Lock()
        self._available: bool | None = None
        self._unavailable_since: float | None = None
        self.commands = 0

    # ------------------------------------------------------------------ availability

    @property
    def bus(self) -> ModbusBus:
        return self._bus

    @property
    def available(self) -> bool | None:
        """Whether the last request got an answer (None before the first request)."""
        return self._available

    def _mark(self, ok: bool, reason: str = "") -> None:
        with self._avail_lock:
            was = self._available
            self._available = ok
            extra = {"bus": self._bus.key, "unit": self.unit}
            if not ok and was is not False:
                self._unavailable_since = time.monotonic()
                log.warning("barrier_unavailable", extra={**extra, "reason": reason})
            elif ok and was is False:
                down = time.monotonic() - (self._unavailable_since or time.monotonic())
                self._unavailable_since = None
                log.info("barrier_back", extra={**extra, "down_s": round(down, 3)})

    def _call(self, fn: Callable[[Any], ModbusPDU], what: str, *, fc: int, attempts: int) -> ModbusPDU:
        try:
            resp = self._bus.request(fn, attempts=attempts, what=what)
        except BarrierUnavailable as exc:
            self._mark(False, str(exc))
            raise
        self._mark(True)
        if isinstance(resp, ExceptionResponse) or resp.isError():
            code = getattr(resp, "exception_code", None)
            name = _EXCEPTION_NAMES.get(code or -1, "unknown")
            raise BarrierFault(f"{what}: PLC {self._bus.key} unit {self.unit} answered Modbus exception "
                               f"{code} ({name})")
        if resp.function_code != fc:
            raise BarrierFault(f"{what}: garbled reply from {self._bus.key}: function code {resp.function_code}, "
                               f"expected {fc}")
        return resp

    # ------------------------------------------------------------------ primitives

    @property
    def _read_attempts(self) -> int:
        return self.cfg.retries + 1

    def _read_bits(self, address: int, count: int, *, coils: bool, what: str) -> list[bool]:
        if coils:
            resp = self._call(lambda c: c.read_coils(address, count=count, device_id=self.unit), what, fc=1,
                              attempts=self._read_attempts)
        else:
            resp = self._call(lambda c: c.read_discrete_inputs(address, count=count, device_id=self.unit), what,
                              fc=2, attempts=self._read_attempts)
        bits = list(resp.bits)
        if len(bits) < count:
            raise BarrierFault(f"{what}: garbled reply: {len(bits)} bits for {count} requested")
        return [bool(b) for b in bits[:count]]

    def _write_coil(self, coil: int, value: bool, what: str, *, attempts: int) -> None:
        """Write one coil and read it back; ``attempts`` > 1 only for idempotent pulse ends."""
        resp = self._call(lambda c: c.write_coil(coil, value, device_id=self.unit), f"{what}: write coil {coil}",
                          fc=5, attempts=attempts)
        echo = list(getattr(resp, "bits", []) or [])
        if getattr(resp, "address", coil) != coil or (echo and bool(echo[0]) != value):
            raise BarrierFault(f"{what}: garbled reply: write of coil {coil}={value} echoed "
                               f"address {getattr(resp, 'address', '?')} value {echo[:1]}")
        try:
            back = self._read_bits(coil, 1, coils=True, what=f"{what}: read back coil {coil}")[0]
        except NotSent as exc:  # the write did go out: the outcome is unknown, not "not sent"
            raise BarrierUnavailable(str(exc)) from exc
        if back != value:
            raise BarrierFault(f"{what}: coil {coil} reads back {back} after writing {value}")

    def _reset_coil(self, coil: int, what: str) -> None:
        self._write_coil(coil, False, what, attempts=self._read_attempts)
        self._needs_reset.discard(coil)

    # ------------------------------------------------------------------ pulses

    def _end_pulse(self, coil: int, gen: int) -> None:
        with self._bus.lock:
            current = self._pulses.get(coil)
            if current is None or current[0] != gen or self._released:
                return
            del self._pulses[coil]
            try:
                self._reset_coil(coil, "end of pulse")
            except BarrierFault as exc:
                self._needs_reset.add(coil)
                log.warning("barrier_pulse_reset_failed", extra={"bus": self._bus.key, "unit": self.unit,
                                                                 "coil": coil, "reason": str(exc)})

    def _settle_coils(self, first: int | None, then: int) -> None:
        """Before a pulse: end any pulse still running and write back resets that failed earlier."""
        for coil in [c for c in (first, then) if c is not None] + sorted(self._needs_reset):
            pending = self._pulses.pop(coil, None)
            if pending is not None:
                pending[1].cancel()
            if pending is not None or coil in self._needs_reset:
                self._reset_coil(coil, "end of pulse")

    def _pulse(self, coil: int, other: int | None, what: str) -> None:
        with self._bus.lock:
            self._check_released()
            self._settle_coils(other, coil)
            self._pulse_gen += 1
            gen = self._pulse_gen
            timer = threading.Timer(self.cfg.pulse_s, self._end_pulse, args=(coil, gen))
            timer.daemon = True
            self.commands += 1
            try:
                self._write_coil(coil, True, what, attempts=1)
            except NotSent:
                raise
            except BarrierFault:
                # The write may have been executed although its reply or read-back failed: end the pulse.
                self._pulses[coil] = (gen, timer)
                timer.start()
                raise
            self._pulses[coil] = (gen, timer)
            timer.start()

    def _check_released(self) -> None:
        if self._released:
            raise BarrierUnavailable(f"barrier on {self._bus.key} unit {self.unit} was released")

    # ------------------------------------------------------------------ Barrier

    def open(self) -> None:
        if self.cfg.command == "latched":
            with self._bus.lock:
                self._check_released()
                self.commands += 1
                self._write_coil(self.map.coil_open, True, "open", attempts=1)
        else:
            self._pulse(self.map.coil_open, self.map.coil_close, "open")

    def close(self) -> None:
        if self.cfg.command == "latched":
            with self._bus.lock:
                self._check_released()
                self.commands += 1
                self._write_coil(self.map.coil_open, False, "close", attempts=1)
        else:
            assert self.map.coil_close is not None  # enforced by the config
            self._pulse(self.map.coil_close, self.map.coil_open, "close")

    def position(self) -> str:
        a, b = self.map.di_open_limit, self.map.di_closed_limit
        if abs(a - b) < MAX_SPAN:
            start = min(a, b)
            bits = self._read_bits(start, abs(a - b) + 1, coils=False, what="position: read limit switches")
            return position_from_limits(bits[a - start], bits[b - start])
        open_limit = self._read_bits(a, 1, coils=False, what="position: read open limit")[0]
        closed_limit = self._read_bits(b, 1, coils=False, what="position: read closed limit")[0]
        return position_from_limits(open_limit, closed_limit)

    def loop_occupied(self) -> bool:
        return self._read_bits(self.map.di_loop, 1, coils=False, what="loop: read loop input")[0]

    def fault_code(self) -> int:
        addr = self.map.hr_fault_code
        if addr is None:
            return 0
        resp = self._call(lambda c: c.read_holding_registers(addr, count=1, device_id=self.unit),
                          "fault code: read holding register", fc=3, attempts=self._read_attempts)
        regs = list(resp.registers)
        if not regs:
            raise BarrierFault("fault code: garbled reply: no register in the answer")
        return int(regs[0])

    def release(self) -> None:
        """End running pulses (best effort), then give the bus back (closed when its last user leaves)."""
        with self._bus.lock:
            if self._released:
                return
            pending = list(self._pulses.items())
            self._pulses.clear()
            for coil, (_, timer) in pending:
                timer.cancel()
                self._needs_reset.add(coil)
            for coil in sorted(self._needs_reset):
                try:
                    self._reset_coil(coil, "release")
                except BarrierFault as exc:
                    log.warning("barrier_pulse_reset_failed", extra={"bus": self._bus.key, "unit": self.unit,
                                                                     "coil": coil, "reason": str(exc)})
            self._released = True
        release_bus(self._bus)
