"""``gate-sim barrier``: a barrier PLC on a real Modbus TCP server (pymodbus), with fault injection.

The model (:class:`ArmModel`)
-----------------------------
* Coils ``coil_open``/``coil_close`` (addresses from :class:`~edge.barrier.config.ModbusMap`).
  In ``pulse`` mode a rising edge on ``coil_open`` starts opening and a rising edge on ``coil_close``
  starts closing; in ``latched`` mode ``coil_open`` going True starts opening and going False starts
  closing (a rising edge on ``coil_close`` still closes).
* The arm travels between 0 (down) and 1 (up) in ``travel_s``; a command while moving reverses it
  from where it is. Discrete inputs: the two limit switches (which follow the arm) and the loop
  detector. Holding register ``hr_fault_code``: the device fault code (writing it acknowledges).
* Every coil write goes to the command log with ``mono_ns`` (``time.monotonic_ns()`` when the
  server handled it: same clock as the driver's in-process, system-wide on Linux) and wall time.
* Loop bookkeeping: ``unsafe_closes`` (a close that moved the arm while the loop was occupied),
  ``open_without_close`` (an open cycle ended by the next open with no close in between) and
  ``open_pending`` (the current cycle is open and no close came yet).

Faults (set together or one by one)
------------------------------------
``stuck`` (coils are written and read back as usual, but the arm ignores commands and its limit
switches freeze), ``delay_ms`` (slow replies), ``drop`` (requests are executed, replies never sent),
``garbage`` (a well-framed reply with a junk PDU: ``undecodable`` or ``wrong_function``), ``exception`` (a Modbus exception code
instead of every answer; writes are then not executed), and :meth:`BarrierSimulator.restart`: the
listening socket and every connection close for ``down_s`` seconds, then the server comes back with
the same state, or power-cycled (coils cleared, fault code 0, an arm in travel stops where it is).

Control
-------
In-process: :class:`BarrierSimulator` (``start()``/``stop()``, the server's asyncio loop runs in a
background thread). Out of process: HTTP JSON on ``--control-port``:

=======  ==================  ===========================================================================
GET      /state              arm, coils, inputs, faults, counters, up/down, restarts
GET      /log?since=SEQ      ``{"commands": [...]}``: the coil-write log (entries with ``seq`` > SEQ)
GET      /stats              counters only
POST     /loop               ``{"occupied": true, "for_s": 0.5}`` (for_s: clears itself after that long)
POST     /faults             any of ``stuck, delay_ms, drop, garbage, exception, fault_code``
POST     /faults/clear       all faults off (fault code 0)
POST     /restart            ``{"down_s": 1.0, "power_cycle": false}`` (returns at once)
POST     /config             ``{"command": "latched", "travel_s": 0.5}``
POST     /log/clear          empty the command log (counters stay)
=======  ==================  ===========================================================================
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.framer.rtu import FramerRTU
from pymodbus.framer.socket import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from edge.barrier.config import ModbusMap

#: The command log keeps this many entries (``seq`` keeps counting).
LOG_LIMIT = 200_000
#: Garbage replies: a well-framed reply whose PDU is junk. "undecodable": function code 0x63, which no
#: client can decode (with RTU framing a client cannot even find the frame's end: it reads as noise
#: and times out); "wrong_function": a read-input-registers answer, whatever was asked.
GARBAGE_PDUS = {"undecodable": b"\x63\xde\xad\xbe\xef", "wrong_function": b"\x04\x02\xde\xad"}


@dataclass
class Faults:
    stuck: bool = False
    delay_ms: int = 0
    drop: bool = False
    garbage: str | None = None  # None, "undecodable" (true means this) or "wrong_function"
    exception: int | None = None  # Modbus exception code (1-11) answered instead of everything

    def update(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {key!r}")
            if key == "delay_ms":
                value = int(value or 0)
                if not 0 <= value <= 60_000:
                    raise ValueError("delay_ms must be 0..60000")
            elif key == "garbage":
                value = {True: "undecodable", False: None, None: None}.get(value, value)
                if value is not None and value not in GARBAGE_PDUS:
                    raise ValueError(f"garbage must be false, true or one of {sorted(GARBAGE_PDUS)}")
            elif key == "exception":
                value = None if value in (None, 0, False) else int(value)
                if value is not None and value not in {int(c) for c in ExcCodes}:
                    raise ValueError(f"exception must be one of {sorted(int(c) for c in ExcCodes)}")
            else:
                value = bool(value)
            setattr(self, key, value)


class ArmModel:
    """The barrier, its coils and inputs, the loop and the counters; thread-safe, evaluated lazily."""

    def __init__(self, *, travel_s: float = 1.0, command: str = "pulse", map: ModbusMap | None = None,
                 clock=time.monotonic):
        if command not in ("pulse", "latched"):
            raise ValueError("command must be 'pulse' or 'latched'")
        self.map = map or ModbusMap()
        self.travel_s = travel_s
        self.command_mode = command
        self.clock = clock
        self.faults = Faults()
        self._lock = threading.Lock()
        self._pos = 0.0  # 0 = down (closed), 1 = up (open)
        self._dir = 0  # +1 opening, -1 closing, 0 still
        self._t0 = clock()
        self.coils: dict[int, bool] = {}
        self.registers: dict[int, int] = {}
        self.fault_code = 0
        self._loop = False
        self._loop_until: float | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._seq = 0
        self.counters = {"requests": 0, "reads": 0, "writes": 0, "opens": 0, "closes": 0, "ignored": 0,
                         "unsafe_closes": 0, "open_without_close": 0, "vehicles": 0, "exceptions": 0,
                         "dropped": 0, "garbage": 0, "power_cycles": 0}
        self._cycle_open = False

    # ------------------------------------------------------------------ physics (lock held)

    def _advance(self, now: float) -> None:
        if self._loop_until is not None and now >= self._loop_until:
            self._loop, self._loop_until = False, None
        if self._dir and not self.faults.stuck:
            travel = max(self.travel_s, 1e-6)
            pos = self._pos + self._dir * (now - self._t0) / travel
            if (self._dir > 0 and pos >= 1.0) or (self._dir < 0 and pos <= 0.0):
                self._dir = 0  # reached the end stop
            self._pos = min(1.0, max(0.0, pos))
        self._t0 = now

    def _position(self) -> str:
        if self._pos >= 1.0:
            return "open"
        if self._pos <= 0.0:
            return "closed"
        return "moving"

    def _limits(self) -> tuple[bool, bool]:
        return self._pos >= 1.0, self._pos <= 0.0

    # ------------------------------------------------------------------ Modbus side

    def read_bits(self, kind: str, start: int, count: int) -> list[bool]:
        """``kind``: "c" coils or "d" discrete inputs, ``count`` bits from ``start``."""
        with self._lock:
            self._advance(self.clock())
            if kind == "c":
                return [self.coils.get(a, False) for a in range(start, start + count)]
            open_limit, closed_limit = self._limits()
            values = {self.map.di_open_limit: open_limit, self.map.di_closed_limit: closed_limit,
                      self.map.di_loop: self._loop}
            return [values.get(a, False) for a in range(start, start + count)]

    def read_registers(self, start: int, count: int) -> list[int]:
        with self._lock:
            regs = dict(self.registers)
            if self.map.hr_fault_code is not None:
                regs[self.map.hr_fault_code] = self.fault_code
            return [regs.get(a, 0) & 0xFFFF for a in range(start, start + count)]

    def write_registers(self, start: int, values: list[int]) -> None:
        with self._lock:
            for i, v in enumerate(values):
                if start + i == self.map.hr_fault_code:
                    self.fault_code = int(v)
                else:
                    self.registers[start + i] = int(v)

    def write_coils(self, start: int, values: list[bool], *, fc: int, mono_ns: int, wall: float) -> None:
        with self._lock:
            now = self.clock()
            self._advance(now)
            for i, value in enumerate(values):
                address, value = start + i, bool(value)
                prev = self.coils.get(address, False)
                self.coils[address] = value
                coil = None
                command = None
                if address == self.map.coil_open:
                    coil = "open"
                    if value and not prev:
                        command = "open"
                    elif not value and prev and self.command_mode == "latched":
                        command = "close"
                elif address == self.map.coil_close:
                    coil = "close"
                    if value and not prev:
                        command = "close"
                ignored = False
                if command is not None:
                    ignored = self._command(command, now)
                self._seq += 1
                self.log.append({"seq": self._seq, "mono_ns": mono_ns, "ts": wall, "fc": fc, "address": address,
                                 "value": value, "coil": coil, "command": command, "ignored": ignored,
                                 "loop_occupied": self._loop, "position": self._position()})

    def _command(self, command: str, now: float) -> bool:
        """Apply one command; True when the (stuck) arm ignored it."""
        self.counters["opens" if command == "open" else "closes"] += 1
        if command == "open":
            if self._cycle_open:
                self.counters["open_without_close"] += 1
            self._cycle_open = True
        else:
            self._cycle_open = False
        if self.faults.stuck:
            self.counters["ignored"] += 1
            return True
        if command == "close" and self._loop:
            self.counters["unsafe_closes"] += 1
        self._dir = 1 if command == "open" else -1
        self._t0 = now
        return False

    # ------------------------------------------------------------------ the world side

    def set_loop(self, occupied: bool, for_s: float | None = None) -> None:
        with self._lock:
            now = self.clock()
            self._advance(now)
            if occupied and not self._loop:
                self.counters["vehicles"] += 1
            self._loop = bool(occupied)
            self._loop_until = now + for_s if (occupied and for_s) else None

    def set_stuck(self, stuck: bool) -> None:
        with self._lock:
            self._advance(self.clock())  # freeze (or release) where the arm is now
            self.faults.stuck = stuck
            if stuck:
                self._dir = 0

    def power_cycle(self) -> None:
        with self._lock:
            self._advance(self.clock())
            self.coils.clear()
            self.fault_code = 0
            self._dir = 0
            self.counters["power_cycles"] += 1

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._advance(self.clock())
            open_limit, closed_limit = self._limits()
            return {
                "position": self._position(), "arm": round(self._pos, 4),
                "moving": {1: "opening", -1: "closing"}.get(self._dir) if not self.faults.stuck else None,
                "open_limit": open_limit, "closed_limit": closed_limit, "loop_occupied": self._loop,
                "coils": {"open": self.coils.get(self.map.coil_open, False),
                          "close": self.coils.get(self.map.coil_close, False) if self.map.coil_close is not None
                          else None},
                "fault_code": self.fault_code, "faults": asdict(self.faults), "command": self.command_mode,
                "travel_s": self.travel_s, "stats": self._stats(),
            }

    def _stats(self) -> dict[str, Any]:
        return {**self.counters, "open_pending": self._cycle_open, "commands_logged": self._seq}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats()

    def commands(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.log if e["seq"] > since]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()


def _round16(n: int) -> int:
    return max(16, (n + 15) // 16 * 16)


class BarrierSimulator:
    """The simulated PLC: :class:`ArmModel` behind a pymodbus TCP server in a background asyncio loop.

    ``port=0`` picks a free port (kept across restarts). ``control_port`` (None: none) serves the
    HTTP control interface. ``framer="rtu"`` speaks RTU frames over TCP (for the driver's RTU path
    through ``socket://host:port``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_port: int | None = None, unit: int = 1,
                 travel_s: float = 1.0, command: str = "pulse", map: ModbusMap | None = None,
                 framer: str = "socket"):
        self.host = host
        self.port = port
        self.control_port = control_port
        self.unit = unit
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        self.model = ArmModel(travel_s=travel_s, command=command, map=map)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ModbusTcpServer | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._up = threading.Event()
        self._restart_task: asyncio.Future | None = None
        self.restarts: list[dict[str, Any]] = []
        m = self.model.map
        coils = [a for a in (m.coil_open, m.coil_close) if a is not None]
        hrs = [m.hr_fault_code] if m.hr_fault_code is not None else [0]
        self._device = SimDevice(
            id=unit,
            simdata=([SimData(0, count=_round16(max(coils) + 1), values=False, datatype=DataType.BITS)],
                     [SimData(0, count=_round16(max(m.di_open_limit, m.di_closed_limit, m.di_loop) + 1),
                              values=False, datatype=DataType.BITS)],
                     [SimData(0, count=max(hrs) + 1, values=0, datatype=DataType.REGISTERS)],
                     [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]),
            action=self._action,
        )

    # ------------------------------------------------------------------ Modbus hooks (server loop)

    async def _action(self, fc: int, start: int, address: int, count: int, registers: list[int],
                      values: list[int] | list[bool] | None) -> ExcCodes | None:
        model = self.model
        writing = values is not None and fc in (5, 15, 6, 16)
        # fc 5/6 read back what they wrote through a second call without values: not a request of its own.
        primary = writing or fc in (1, 2, 3, 4)
        if primary:
            mono_ns, wall = time.monotonic_ns(), time.time()
            model.count("requests")
            faults = model.faults
            if faults.delay_ms:
                await asyncio.sleep(faults.delay_ms / 1000)
            if faults.exception:
                model.count("exceptions")
                return ExcCodes(faults.exception)
            if writing:
                model.count("writes")
                if fc in (5, 15):
                    model.write_coils(address, [bool(v) for v in values], fc=fc, mono_ns=mono_ns, wall=wall)
                else:
                    model.write_registers(address, [int(v) for v in values])
                return None
            model.count("reads")
        if fc in (1, 2, 5, 15):
            bits = model.read_bits("c" if fc != 2 else "d", start * 16, len(registers) * 16)
            registers[:] = SimUtils.bitsToRegisters(bits)
        elif fc in (3, 6, 16):
            registers[:] = model.read_registers(start, len(registers))
        return None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        faults = self.model.faults
        if faults.drop:
            self.model.count("dropped")
            return b""
        if faults.garbage:
            self.model.count("garbage")
            if self.framer == FramerType.SOCKET:
                tid, dev = int.from_bytes(data[0:2], "big"), data[6]
                return FramerSocket(DecodePDU(False)).encode(GARBAGE_PDUS[faults.garbage], dev, tid)
            return FramerRTU(DecodePDU(False)).encode(GARBAGE_PDUS[faults.garbage], data[0], 0)
        return data

    # ------------------------------------------------------------------ lifecycle

    async def _serve(self, record: dict[str, Any] | None = None) -> None:
        server = ModbusTcpServer([self._device], address=(self.host, self.port), framer=self.framer,
                                 trace_packet=self._trace_packet)
        await server.serve_forever(background=True)
        self._server = server
        if not self.port:
            self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if record is not None:
            record["up_ns"] = time.monotonic_ns()
        self._up.set()

    async def _shutdown(self) -> None:
        self._up.clear()
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    def start(self) -> "BarrierSimulator":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gate-sim barrier", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        if self.control_port is not None:
            self._http = ThreadingHTTPServer((self.host, self.control_port), _control_handler(self))
            self._http.daemon_threads = True
            self.control_port = self._http.server_address[1]
            self._http_thread = threading.Thread(target=self._http.serve_forever, name="gate-sim control",
                                                 daemon=True)
            self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._loop is None:
            return
        loop = self._loop
        if self._restart_task is not None:
            loop.call_soon_threadsafe(self._restart_task.cancel)
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            loop.close()
            self._loop = None

    def __enter__(self) -> "BarrierSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    @property
    def up(self) -> bool:
        """Whether the Modbus server is listening (False during a restart)."""
        return self._up.is_set()

    def wait_up(self, timeout: float = 10) -> bool:
        return self._up.wait(timeout)

    def restart(self, down_s: float = 1.0, *, power_cycle: bool = False) -> dict[str, Any]:
        """Close the listener and every connection now, come back after ``down_s``; returns at once
        (with the time it went down) — use :meth:`wait_up` or :attr:`restarts` to follow it."""
        if self._loop is None:
            raise RuntimeError("simulator not started")
        if not 0 <= down_s <= 3600:
            raise ValueError("down_s must be 0..3600")
        record: dict[str, Any] = {"down_s": down_s, "power_cycle": power_cycle}
        done = threading.Event()

        async def cycle() -> None:
            await self._shutdown()
            record["down_ns"] = time.monotonic_ns()
            if power_cycle:
                self.model.power_cycle()
            done.set()
            await asyncio.sleep(down_s)
            await self._serve(record)

        def launch() -> None:
            self._restart_task = asyncio.ensure_future(cycle())

        self.restarts.append(record)
        self._loop.call_soon_threadsafe(launch)
        done.wait(10)
        return dict(record)

    def set_loop(self, occupied: bool, for_s: float | None = None) -> None:
        self.model.set_loop(occupied, for_s)

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Any of ``stuck, delay_ms, drop, garbage, exception, fault_code``; returns the faults now set."""
        faults = dict(faults)
        if "fault_code" in faults:
            code = int(faults.pop("fault_code"))
            if not 0 <= code <= 0xFFFF:
                raise ValueError("fault_code must be 0..65535")
            self.model.write_registers(self.model.map.hr_fault_code, [code]) if self.model.map.hr_fault_code \
                is not None else None
            self.model.fault_code = code
        if "stuck" in faults:
            self.model.set_stuck(bool(faults.pop("stuck")))
        self.model.faults.update(**faults)
        return {**asdict(self.model.faults), "fault_code": self.model.fault_code}

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(stuck=False, delay_ms=0, drop=False, garbage=None, exception=None, fault_code=0)

    def configure(self, *, command: str | None = None, travel_s: float | None = None) -> None:
        if command is not None:
            if command not in ("pulse", "latched"):
                raise ValueError("command must be 'pulse' or 'latched'")
            self.model.command_mode = command
        if travel_s is not None:
            if not 0 <= travel_s <= 60:
                raise ValueError("travel_s must be 0..60")
            self.model.travel_s = float(travel_s)

    def state(self) -> dict[str, Any]:
        return {**self.model.snapshot(), "up": self.up, "host": self.host, "port": self.port,
                "control_port": self.control_port, "unit": self.unit, "restarts": [dict(r) for r in self.restarts]}

    def stats(self) -> dict[str, Any]:
        return self.model.stats()

    def command_log(self, since: int = 0) -> list[dict[str, Any]]:
        return self.model.commands(since)

    def clear_log(self) -> None:
        self.model.clear_log()


# -------------------------------------------------------------------------------- HTTP control


def _control_handler(sim: BarrierSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "gate-sim-barrier/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Quiet: the control channel is for tests and the site runner."""

        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            n = int(self.headers.get("Content-Length") or 0)
            if not n:
                return {}
            body = json.loads(self.rfile.read(n))
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            return body

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            url = urlparse(self.path)
            if url.path == "/state":
                self._reply(200, sim.state())
            elif url.path == "/log":
                since = int(parse_qs(url.query).get("since", ["0"])[0])
                self._reply(200, {"commands": sim.command_log(since)})
            elif url.path == "/stats":
                self._reply(200, sim.stats())
            elif url.path == "/healthz":
                self._reply(200, {"ok": True, "up": sim.up})
            else:
                self._reply(404, {"error": f"no such endpoint: GET {url.path}"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            path = urlparse(self.path).path
            try:
                body = self._body()
                if path == "/loop":
                    sim.set_loop(bool(body.get("occupied", True)), body.get("for_s"))
                    self._reply(200, {"loop_occupied": sim.model.snapshot()["loop_occupied"]})
                elif path == "/faults":
                    self._reply(200, sim.set_faults(**body))
                elif path == "/faults/clear":
                    self._reply(200, sim.clear_faults())
                elif path == "/restart":
                    self._reply(200, sim.restart(float(body.get("down_s", 1.0)),
                                                 power_cycle=bool(body.get("power_cycle", False))))
                elif path == "/config":
                    sim.configure(command=body.get("command"), travel_s=body.get("travel_s"))
                    self._reply(200, {"command": sim.model.command_mode, "travel_s": sim.model.travel_s})
                elif path == "/log/clear":
                    sim.clear_log()
                    self._reply(200, {"cleared": True})
                else:
                    self._reply(404, {"error": f"no such endpoint: POST {path}"})
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})

    return Handler


# ---------------------------------------------------------------------------------------- CLI


@click.command("barrier")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (Modbus and control)")
@click.option("--port", type=click.IntRange(0, 65535), default=5020, show_default=True,
              help="Modbus TCP port (0: any free port)")
@click.option("--control-port", type=click.IntRange(0, 65535), default=5021, show_default=True,
              help="HTTP JSON control port (0: any free port)")
@click.option("--unit", type=click.IntRange(0, 247), default=1, show_default=True, help="Modbus unit id")
@click.option("--travel-s", type=click.FloatRange(0, 60), default=1.0, show_default=True,
              help="Time the arm takes to open or close")
@click.option("--command", "command_mode", type=click.Choice(["pulse", "latched"]), default="pulse",
              show_default=True, help="How the PLC reads its coils (as the driver's `command` setting)")
@click.option("--framer", type=click.Choice(["socket", "rtu"]), default="socket", show_default=True,
              help="socket: Modbus TCP; rtu: RTU frames over TCP (serial_port = socket://HOST:PORT)")
def command(host: str, port: int, control_port: int, unit: int, travel_s: float, command_mode: str,
            framer: str) -> None:
    """A barrier PLC on Modbus TCP: arm with travel time, limit switches, loop, fault code, fault injection."""
    sim = BarrierSimulator(host, port, control_port=control_port, unit=unit, travel_s=travel_s,
                           command=command_mode, framer=framer)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sim.start()
    click.echo(json.dumps({"event": "ready", "host": host, "port": sim.port, "control_port": sim.control_port,
                           "unit": unit, "command": command_mode, "framer": framer}), nl=True)
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
