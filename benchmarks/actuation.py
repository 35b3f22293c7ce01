"""``actuation``: decision-to-command-on-the-wire latency over Modbus TCP, and a PLC restart.

Everything runs in one process, over real TCP on loopback: the Modbus driver
(:class:`~edge.barrier.modbus.ModbusBarrierDriver`, default timeouts and reconnect settings) talks to
the simulated PLC (:class:`gatesim.barrier.BarrierSimulator`), whose server stamps each coil write
with ``time.monotonic_ns()`` when it handles it — the same clock the benchmark reads just before
calling ``driver.open()``. So ``p50_ms``/``p99_ms`` are from "the gate decided to open" to "the PLC
has the open command", without any clock offset.

* Latency: ``--commands`` opens (each followed by an untimed close) in latched mode, where a command
  is exactly one coil write; ``open_call_*`` is how long ``open()`` took to return (write + read-back).
  A smaller pulse-mode sample (``pulse_*``) waits for each pulse to end first, as at a real gate.
* Restart: a poller reads the limit switches every 20 ms and a command (open/close in turn) goes out
  every 50 ms while the PLC restarts (down ``--down-s``). ``reconnect_s``: from the PLC listening
  again to the first successful read. Each coil write in the PLC's log is matched to the command
  call whose time window holds it: ``lost`` counts commands that returned but never reached the PLC,
  ``duplicated`` writes beyond one per command (or matching none). Commands that raised are
  ``failed`` (the caller was told); ``failed_but_executed`` is how many of those the PLC did execute.
* Safety: when :func:`edge.barrier.safety.run_safety_cycles` exists, its ``--safety-cycles`` run
  adds ``unsafe_closes``/``missed_closes`` (and its other figures under ``safety``).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import Any

from benchmarks.stats import latency_ms
from edge.barrier.base import BarrierFault
from edge.barrier.config import ModbusBarrier
from edge.barrier.modbus import ModbusBarrierDriver
from gatesim.barrier import BarrierSimulator

log = logging.getLogger("benchmarks")

GOAL_P99_MS = 20.0
GOAL_RECONNECT_S = 2.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--commands", type=int, default=1000, help="timed open commands, latched mode (default 1,000)")
    p.add_argument("--pulse-commands", type=int, default=50,
                   help="timed open commands in pulse mode, each after the last pulse ended (default 50)")
    p.add_argument("--down-s", type=float, default=1.0, help="how long the PLC stays down when it restarts (1.0)")
    p.add_argument("--restart-window-s", type=float, default=1.0,
                   help="traffic before the restart and after the reconnect (default 1.0)")
    p.add_argument("--safety-cycles", type=int, default=10_000,
                   help="cycles of edge.barrier.safety.run_safety_cycles when it exists (default 10,000; 0: skip)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the safety run (default 1)")


def _driver(sim: BarrierSimulator, command: str, **kw: Any) -> ModbusBarrierDriver:
    return ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=sim.port, command=command, **kw))


def _open_latency(sim: BarrierSimulator, driver: ModbusBarrierDriver, n: int, *, settle_s: float = 0.0
                  ) -> tuple[list[int], list[int]]:
    """``n`` timed opens, each followed by an untimed close: (decision-to-wire ns, open() call ns)."""
    wire: list[int] = []
    call: list[int] = []
    since = sim.command_log()[-1]["seq"] if sim.command_log() else 0
    for _ in range(n):
        if settle_s:
            time.sleep(settle_s)
        t0 = time.monotonic_ns()
        driver.open()
        t1 = time.monotonic_ns()
        entries = sim.command_log(since)
        hit = next(e for e in entries if e["coil"] == "open" and e["value"])
        wire.append(hit["mono_ns"] - t0)
        call.append(t1 - t0)
        if settle_s:
            time.sleep(settle_s)
        driver.close()
        since = sim.command_log()[-1]["seq"]
    return wire, call


def _restart(sim: BarrierSimulator, args: argparse.Namespace) -> dict[str, Any]:
    driver = _driver(sim, "latched")  # default timeout, retries and reconnect settings
    sim.clear_log()
    polls: list[tuple[int, int, bool]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.monotonic_ns()
            try:
                driver.position()
                ok = True
            except BarrierFault:
                ok = False
            polls.append((t0, time.monotonic_ns(), ok))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, name="bench poller", daemon=True)
    poller.start()
    calls: list[tuple[int, int, str, bool]] = []  # (start ns, end ns, command, returned normally)

    def command(kind: str) -> None:
        t0 = time.monotonic_ns()
        try:
            driver.open() if kind == "open" else driver.close()
            ok = True
        except BarrierFault:
            ok = False
        calls.append((t0, time.monotonic_ns(), kind, ok))

    def traffic(until: float, i: int) -> int:
        while time.monotonic() < until:
            command("open" if i % 2 == 0 else "close")
            i += 1
            time.sleep(0.05)
        return i

    i = traffic(time.monotonic() + args.restart_window_s, 0)
    sim.restart(args.down_s)
    log.info("PLC down for %.1f s", args.down_s)
    i = traffic(time.monotonic() + args.down_s, i)
    sim.wait_up(args.down_s + 10)
    up_ns = sim.restarts[-1]["up_ns"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(ok and t1 > up_ns for _t0, t1, ok in polls):
        i = traffic(time.monotonic() + 0.05, i)
    traffic(time.monotonic() + args.restart_window_s, i)
    stop.set()
    poller.join()
    driver.release()

    down_ns = sim.restarts[-1]["down_ns"]
    back = [t1 for _t0, t1, ok in polls if ok and t1 > up_ns]
    reconnect_s = round((min(back) - up_ns) / 1e9, 3) if back else None
    writes = [e for e in sim.command_log() if e["coil"] == "open"]
    per_call = [0] * len(calls)
    unmatched = 0
    for e in writes:
        idx = [k for k, (t0, t1, _kind, _ok) in enumerate(calls) if t0 <= e["mono_ns"] <= t1]
        if idx:
            per_call[idx[0]] += 1
        else:
            unmatched += 1
    ok_calls = [k for k, c in enumerate(calls) if c[3]]
    failed_calls = [k for k, c in enumerate(calls) if not c[3]]
    return {
        "reconnect_s": reconnect_s,
        "reconnect_max_s": driver.cfg.reconnect_max_s,  # the backoff cap: the worst case by construction
        "outage_s": round((up_ns - down_ns) / 1e9, 3),
        "commands_sent": len(calls),
        "commands_ok": len(ok_calls),
        "failed": len(failed_calls),
        "failed_but_executed": sum(1 for k in failed_calls if per_call[k]),
        "lost": sum(1 for k in ok_calls if per_call[k] == 0),
        "duplicated": sum(max(0, n - 1) for n in per_call) + unmatched,
        "polls": len(polls),
        "polls_failed": sum(1 for p in polls if not p[2]),
        "slowest_failed_poll_ms": round(max([(t1 - t0) / 1e6 for t0, t1, ok in polls if not ok] or [0]), 2),
    }


def _safety(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.safety_cycles <= 0:
        return None
    try:
        from edge.barrier.safety import run_safety_cycles  # written beside this benchmark; optional here
    except ImportError:
        return None
    started = time.perf_counter()
    figures = dict(run_safety_cycles(cycles=args.safety_cycles, seed=args.seed))
    figures["run_s"] = round(time.perf_counter() - started, 2)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "actuation", "transport": "modbus-tcp loopback"}
    with BarrierSimulator(travel_s=0.02, command="latched") as sim:
        driver = _driver(sim, "latched")
        _open_latency(sim, driver, min(50, args.commands))  # warm-up: connection, code paths
        log.info("timing %d open commands (latched)", args.commands)
        wire, call = _open_latency(sim, driver, args.commands)
        driver.release()
        result["commands"] = args.commands
        result.update(latency_ms(wire))
        result.update({f"open_call_{k}": v for k, v in latency_ms(call).items() if k in ("p50_ms", "p99_ms")})
        result["samples"] = {"open_to_wire_ms": [round(v / 1e6, 4) for v in wire]}  # report plot; not in --json
        if args.pulse_commands > 0:
            sim.configure(command="pulse")
            pulsed = _driver(sim, "pulse", pulse_s=0.05)
            log.info("timing %d open commands (pulse)", args.pulse_commands)
            pwire, _ = _open_latency(sim, pulsed, args.pulse_commands, settle_s=0.06)
            pulsed.release()
            stats = latency_ms(pwire)
            result.update({"pulse_commands": args.pulse_commands, "pulse_p50_ms": stats["p50_ms"],
                           "pulse_p99_ms": stats["p99_ms"]})
            sim.configure(command="latched")
        log.info("restarting the PLC")
        result.update(_restart(sim, args))
    safety = _safety(args)
    if safety is not None:
        result["unsafe_closes"] = safety.get("unsafe_closes")
        result["missed_closes"] = safety.get("missed_closes")
        result["safety"] = safety
    result["goal_p99_ms"] = GOAL_P99_MS
    result["goal_reconnect_s"] = GOAL_RECONNECT_S
    meets = (result["p99_ms"] <= GOAL_P99_MS and result["reconnect_s"] is not None
             and result["reconnect_s"] <= GOAL_RECONNECT_S and result["lost"] == 0 and result["duplicated"] == 0)
    if safety is not None:
        meets = meets and not result["unsafe_closes"] and not result["missed_closes"]
    result["meets_goal"] = bool(meets)
    return result
