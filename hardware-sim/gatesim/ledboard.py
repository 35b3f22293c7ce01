"""LED board simulator: speaks the board protocols, records what it displays, takes faults on request.

Protocols (the ones ``edge/ledboard`` drives):

* ``text``: frames ``<start> line <sep> line ... <end>`` over TCP (or a pseudo-terminal standing in
  for a serial line); each frame is answered with the ACK byte, or a NAK when it is rejected
  (injected, random ``reject_rate``, or bytes an ASCII board cannot show).
* ``modbus``: a pymodbus Modbus TCP server with ``lines * chars_per_line`` holding registers from
  ``start_register``, one character code per register; a write is displayed once it is stored, a
  rejected one gets an exception reply (DEVICE_FAILURE; ILLEGAL_VALUE for codes the board cannot show).

Faults (``inject``): reject the next N frames/writes, go silent (take requests, never answer, display
nothing), drop every open connection. ``stop()`` + ``start()`` on the same port is a board restart.

Control interface (HTTP JSON, ``control_port``)::

    GET  /state     protocol, ports, current text, counters, fault settings
    GET  /history   every displayed text with its time
    POST /inject    {"reject_next": 2} | {"silent": true} | {"drop_connections": true} | {"reject_rate": 0.1}
    POST /reset     clear history, counters and faults

``gate-sim ledboard --protocol text|modbus --port N --control-port M`` runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import click

NAK = b"\x15"


def _now() -> tuple[float, str]:
    t = time.time()
    return t, datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


class FrameParser:
    """Splits a byte stream into frame payloads (``start`` may be empty; ``end`` may not)."""

    def __init__(self, start: bytes, end: bytes, max_frame: int = 65536) -> None:
        if not end:
            raise ValueError("the simulator needs end bytes to find a frame's end")
        self.start, self.end, self.max_frame = start, end, max_frame
        self.buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        frames = []
        while True:
            if self.start:
                i = self.buf.find(self.start)
                if i < 0:
                    self.buf = self.buf[-(len(self.start) - 1):] if len(self.start) > 1 else b""
                    return frames
                self.buf = self.buf[i:]
            j = self.buf.find(self.end, len(self.start))
            if j < 0:
                if len(self.buf) > self.max_frame:
                    self.buf = b""
                return frames
            frames.append(self.buf[len(self.start):j])
            self.buf = self.buf[j + len(self.end):]


class LedBoardSimulator:
    """An LED board on loopback (or a pty), in-process: ``start()`` / ``stop()``; see the module notes."""

    def __init__(self, protocol: Literal["text", "modbus"] = "text", *, host: str = "127.0.0.1", port: int = 0,
                 control_port: int | None = None, reject_rate: float = 0.0, seed: int | None = None,
                 lines: int = 3, chars_per_line: int = 20, start_register: int = 0, unit_id: int = 1,
                 charset: Literal["unicode", "ascii"] = "unicode", encoding: Literal["utf-8", "ascii"] = "utf-8",
                 start: str = "02", end: str = "03", line_separator: str = "0d", ack: str = "06",
                 serial: bool = False, history_max: int = 10000,
                 on_display: Callable[[dict[str, Any]], None] | None = None) -> None:
        if protocol not in ("text", "modbus"):
            raise ValueError(f"unknown protocol {protocol!r}")
        if serial and protocol != "text":
            raise ValueError("the serial (pty) board speaks the text protocol only")
        self.protocol = protocol
        self.host = host
        self.port = port
        self.control_port = control_port
        self.reject_rate = reject_rate
        self.rng = random.Random(seed)
        self.lines, self.chars_per_line = lines, chars_per_line
        self.start_register, self.unit_id = start_register, unit_id
        self.charset, self.encoding = charset, encoding
        self.start_b, self.end_b = bytes.fromhex(start), bytes.fromhex(end)
        self.sep_b, self.ack_b = bytes.fromhex(line_separator), bytes.fromhex(ack)
        self.serial = serial
        self.serial_path: str | None = None
        self.history_max = history_max
        self.on_display = on_display

        self.lock = threading.Lock()
        self.current: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.frames = 0
        self.rejected = 0
        self.ignored = 0
        self.connections_total = 0
        self.reject_next = 0
        self.silent = False

        self._running = False
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._pty: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mb_server: Any = None
        self._http: ThreadingHTTPServer | None = None

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> "LedBoardSimulator":
        self._running = True
        if self.protocol == "modbus":
            self._start_modbus()
        elif self.serial:
            self._start_pty()
        else:
            self._start_text_tcp()
        if self.control_port is not None and self._http is None:
            self._http = ThreadingHTTPServer((self.host, self.control_port), _control_handler(self))
            self._http.daemon_threads = True
            self.control_port = self._http.server_address[1]
            self._spawn(self._http.serve_forever, "ledboard-sim-http")
        return self

    def stop(self) -> None:
        """Stop the board (a later :meth:`start` on the same port is a restart); the control server stays."""
        self._running = False
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.drop_connections()
        if self._loop is not None:
            loop = self._loop
            asyncio.run_coroutine_threadsafe(self._mb_shutdown(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
        if self._pty is not None:
            for fd in self._pty:
                os.close(fd)
            self._pty = None
        for t in self._threads:
            if t.name != "ledboard-sim-http":
                t.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._loop = None

    def close(self) -> None:
        """Stop the board and the control server."""
        self.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> "LedBoardSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # -- faults and state ------------------------------------------------------------------------

    def inject(self, *, reject_next: int | None = None, silent: bool | None = None,
               drop_connections: bool = False, reject_rate: float | None = None) -> dict[str, Any]:
        with self.lock:
            if reject_next is not None:
                self.reject_next = int(reject_next)
            if silent is not None:
                self.silent = bool(silent)
            if reject_rate is not None:
                self.reject_rate = float(reject_rate)
        if drop_connections:
            self.drop_connections()
        return self.state()

    def reset(self) -> None:
        with self.lock:
            self.history.clear()
            self.frames = self.rejected = self.ignored = self.reject_next = 0
            self.silent = False
            self.reject_rate = 0.0

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"protocol": self.protocol, "port": self.port, "control_port": self.control_port,
                    "serial": self.serial_path, "running": self._running, "current": list(self.current),
                    "frames": self.frames, "rejected": self.rejected, "ignored": self.ignored,
                    "connections": len(self._conns) if self.protocol == "text" else self._mb_connections(),
                    "connections_total": self.connections_total, "reject_next": self.reject_next,
                    "silent": self.silent, "reject_rate": self.reject_rate, "displayed": len(self.history)}

    def history_copy(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for h in self.history]

    def wait_for(self, predicate: Callable[["LedBoardSimulator"], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    def drop_connections(self) -> None:
        if self.protocol == "text":
            with self.lock:
                conns = list(self._conns)
                self._conns.clear()
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
        elif self._loop is not None and self._mb_server is not None:
            server = self._mb_server

            async def close_all() -> None:
                for conn in list(server.active_connections.values()):
                    conn.close()

            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=5)

    def _decide(self) -> str | None:
        """``None`` to take the frame, else why it is refused (lock held)."""
        if self.reject_next > 0:
            self.reject_next -= 1
            return "injected"
        if self.reject_rate and self.rng.random() < self.reject_rate:
            return "random"
        return None

    def _display(self, lines: list[str]) -> None:
        """Lock held."""
        t, iso = _now()
        entry = {"ts": t, "t": iso, "lines": list(lines)}
        self.current = list(lines)
        self.history.append(entry)
        if len(self.history) > self.history_max:
            del self.history[: len(self.history) - self.history_max]
        if self.on_display:
            self.on_display(entry)

    # -- text protocol -----------------------------------------------------------------------------

    def _start_text_tcp(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(8)
        self.port = srv.getsockname()[1]
        self._listener = srv
        self._spawn(self._accept_loop, "ledboard-sim-accept", srv)

    def _accept_loop(self, srv: socket.socket) -> None:
        while self._running:
            try:
                ready = select.select([srv], [], [], 0.1)[0]
                if not ready:
                    continue
                conn, _ = srv.accept()
            except (OSError, ValueError):
                return
            with self.lock:
                self._conns.add(conn)
                self.connections_total += 1
            threading.Thread(target=self._serve_tcp, args=(conn,), name="ledboard-sim-conn", daemon=True).start()

    def _serve_tcp(self, conn: socket.socket) -> None:
        parser = FrameParser(self.start_b, self.end_b)
        try:
            while self._running:
                if not select.select([conn], [], [], 0.1)[0]:
                    continue
                data = conn.recv(4096)
                if not data:
                    break
                for payload in parser.feed(data):
                    reply = self._frame(payload)
                    if reply:
                        conn.sendall(reply)
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                self._conns.discard(conn)
            conn.close()

    def _frame(self, payload: bytes) -> bytes:
        """Handle one frame; the bytes to answer (empty: silent)."""
        with self.lock:
            self.frames += 1
            if self.silent:
                self.ignored += 1
                return b""
            if self._decide() is not None:
                self.rejected += 1
                return NAK
            try:
                if self.encoding == "ascii" and any(b > 0x7E for b in payload):
                    raise UnicodeDecodeError("ascii", payload, 0, 1, "the board has no glyph")
                lines = [part.decode(self.encoding) for part in payload.split(self.sep_b)] if self.sep_b \
                    else [payload.decode(self.encoding)]
            except UnicodeDecodeError:
                self.rejected += 1
                return NAK
            self._display(lines)
            return self.ack_b

    def _start_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline until the driver sets its own
        self._pty = (master, slave)
        self.serial_path = os.ttyname(slave)
        self._spawn(self._serve_pty, "ledboard-sim-pty", master)

    def _serve_pty(self, master: int) -> None:
        parser = FrameParser(self.start_b, self.end_b)
        while self._running:
            try:
                if not select.select([master], [], [], 0.1)[0]:
                    continue
                data = os.read(master, 4096)
            except (OSError, ValueError):
                if not self._running:
                    return
                time.sleep(0.05)
                continue
            for payload in parser.feed(data):
                reply = self._frame(payload)
                if reply:
                    try:
                        os.write(master, reply)
                    except OSError:
                        pass

    # -- Modbus ----------------------------------------------------------------------------------

    def _start_modbus(self) -> None:
        ready: dict[str, Any] = {}
        started = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._mb_listen(ready))
            except Exception as exc:  # noqa: BLE001 - reported to start()
                ready["error"] = exc
            started.set()
            if "error" not in ready:
                loop.run_forever()
            loop.close()

        self._spawn(run, "ledboard-sim-modbus")
        if not started.wait(10):
            raise RuntimeError("modbus board simulator did not start")
        if "error" in ready:
            raise ready["error"]
        self._loop = loop

    async def _mb_listen(self, ready: dict[str, Any]) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        count = self.lines * self.chars_per_line
        device = SimDevice(id=self.unit_id, simdata=[SimData(self.start_register, count=count, values=0x20,
                                                              datatype=DataType.REGISTERS)],
                           action=self._mb_action)
        server = ModbusTcpServer(device, address=(self.host, self.port), trace_packet=self._mb_trace,
                                 trace_connect=self._mb_connected)
        await server.serve_forever(background=True)
        self.port = server.transport.sockets[0].getsockname()[1]
        self._mb_server = server

    async def _mb_shutdown(self) -> None:
        if self._mb_server is not None:
            await self._mb_server.shutdown()
            self._mb_server = None

    def _mb_connections(self) -> int:
        server = self._mb_server
        return len(server.active_connections) if server is not None else 0

    def _mb_connected(self, connected: bool) -> None:
        if connected:
            with self.lock:
                self.connections_total += 1

    def _mb_trace(self, sending: bool, data: bytes) -> bytes:
        """A silent board answers nothing."""
        if sending and self.silent:
            return b""
        return data

    async def _mb_action(self, function_code: int, start_address: int, address: int, count: int,
                         registers: list[int], set_values: list[int] | list[bool] | None) -> Any:
        from pymodbus.constants import ExcCodes

        if set_values is None:
            return None
        offset = address - start_address
        with self.lock:
            self.frames += 1
            if self.silent:
                self.ignored += 1
                set_values[:] = registers[offset:offset + count]  # type: ignore[index]  # nothing changes
                return None
            if self._decide() is not None:
                self.rejected += 1
                return ExcCodes.DEVICE_FAILURE
            top = 0x7E if self.charset == "ascii" else 0xFFFF
            if any(not 0x20 <= int(v) <= top or 0xD800 <= int(v) <= 0xDFFF for v in set_values):
                self.rejected += 1
                return ExcCodes.ILLEGAL_VALUE
            cells = list(registers)
            cells[offset:offset + count] = [int(v) for v in set_values]
            first = self.start_register - start_address
            n = self.chars_per_line
            self._display(["".join(chr(v) for v in cells[first + i * n:first + (i + 1) * n]).rstrip()
                           for i in range(self.lines)])
        return None


def _control_handler(sim: LedBoardSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:  # quiet
            return

        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/state":
                self._reply(200, sim.state())
            elif self.path == "/history":
                self._reply(200, sim.history_copy())
            else:
                self._reply(404, {"error": f"no {self.path}; GET /state, /history; POST /inject, /reset"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
            except ValueError as exc:
                self._reply(400, {"error": str(exc)})
                return
            if self.path == "/inject":
                unknown = set(body) - {"reject_next", "silent", "drop_connections", "reject_rate"}
                if unknown:
                    self._reply(400, {"error": f"unknown keys {sorted(unknown)}"})
                    return
                self._reply(200, sim.inject(**body))
            elif self.path == "/reset":
                sim.reset()
                self._reply(200, sim.state())
            else:
                self._reply(404, {"error": f"no {self.path}"})

    return Handler


@click.command("ledboard")
@click.option("--protocol", type=click.Choice(["text", "modbus"]), default="text", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", type=int, default=5000, show_default=True, help="Board port (0: any free port)")
@click.option("--control-port", type=int, default=None, help="HTTP JSON control interface port (0: any free port)")
@click.option("--reject-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of frames/writes refused at random")
@click.option("--seed", type=int, default=None, help="Seed for --reject-rate")
@click.option("--lines", type=int, default=3, show_default=True)
@click.option("--chars-per-line", type=int, default=20, show_default=True)
@click.option("--start-register", type=int, default=0, show_default=True, help="modbus")
@click.option("--unit-id", type=int, default=1, show_default=True, help="modbus (0: answer any)")
@click.option("--charset", type=click.Choice(["unicode", "ascii"]), default="unicode", show_default=True,
              help="modbus: the board's glyphs")
@click.option("--encoding", type=click.Choice(["utf-8", "ascii"]), default="utf-8", show_default=True,
              help="text: the board's encoding")
@click.option("--start", default="02", show_default=True, help="text: frame start bytes, hex")
@click.option("--end", default="03", show_default=True, help="text: frame end bytes, hex")
@click.option("--line-separator", default="0d", show_default=True, help="text: between lines, hex")
@click.option("--ack", default="06", show_default=True, help="text: acknowledge bytes, hex")
@click.option("--serial", is_flag=True, help="text: serve on a pseudo-terminal (stands in for a serial line)")
def command(protocol: str, host: str, port: int, control_port: int | None, reject_rate: float,
            seed: int | None, lines: int, chars_per_line: int, start_register: int, unit_id: int, charset: str,
            encoding: str, start: str, end: str, line_separator: str, ack: str, serial: bool) -> None:
    """LED board simulator (text or Modbus TCP), with an HTTP JSON control interface."""

    def shown(entry: dict[str, Any]) -> None:
        print(json.dumps({"event": "display", **entry}, ensure_ascii=False), flush=True)

    sim = LedBoardSimulator(protocol, host=host, port=port, control_port=control_port,  # type: ignore[arg-type]
                            reject_rate=reject_rate, seed=seed, lines=lines, chars_per_line=chars_per_line,
                            start_register=start_register, unit_id=unit_id, charset=charset,  # type: ignore[arg-type]
                            encoding=encoding, start=start, end=end, line_separator=line_separator,  # type: ignore[arg-type]
                            ack=ack, serial=serial, on_display=shown)
    try:
        sim.start()
    except (OSError, ValueError, RuntimeError) as exc:
        raise click.ClickException(f"cannot start the board simulator: {exc}") from exc
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(json.dumps({"event": "listening", "protocol": protocol, "host": host, "port": sim.port,
                      "serial": sim.serial_path, "control_port": sim.control_port}), flush=True)
    done.wait()
    sim.close()
    print(json.dumps({"event": "stopped"}), file=sys.stderr, flush=True)
