"""The barrier PLC simulator: its model, its control interface (in-process and over HTTP), the
``gate-sim barrier`` command as a real process, and the actuation benchmark at tiny sizes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


from edge.barrier.base import BarrierUnavailable
from edge.barrier.config import ModbusBarrier
from edge.barrier.modbus import ModbusBarrierDriver
from gatesim.barrier import ArmModel, BarrierSimulator

REPO = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def write(model: ArmModel, address: int, value: bool) -> None:
    model.write_coils(address, [value], fc=5, mono_ns=time.monotonic_ns(), wall=time.time())


def di(model: ArmModel) -> tuple[bool, bool, bool]:
    open_limit, closed_limit, loop = model.read_bits("d", 0, 3)
    return open_limit, closed_limit, loop


# ---------------------------------------------------------------------------------------- the model


def test_arm_travels_and_limits_follow() -> None:
    clock = Clock()
    m = ArmModel(travel_s=1.0, clock=clock)
    assert di(m) == (False, True, False)
    write(m, 0, True)  # rising edge on the open coil
    clock.t += 0.5
    assert di(m) == (False, False, False) and m.snapshot()["moving"] == "opening"
    clock.t += 0.6
    assert di(m) == (True, False, False)
    write(m, 0, False)  # pulse end: no command in pulse mode
    clock.t += 2
    assert di(m)[0] is True
    write(m, 1, True)  # close
    clock.t += 0.25
    write(m, 1, False)
    write(m, 0, True)  # open again while closing: reverses from where it is
    clock.t += 0.25
    assert di(m) == (True, False, False)
    assert [e["command"] for e in m.commands()] == ["open", None, "close", None, "open"]


def test_latched_mode_closes_on_the_falling_edge() -> None:
    clock = Clock()
    m = ArmModel(travel_s=0.5, command="latched", clock=clock)
    write(m, 0, True)
    write(m, 0, True)  # holding, not a new command
    clock.t += 1
    assert di(m)[0]
    write(m, 0, False)
    clock.t += 1
    assert di(m)[1]
    assert [e["command"] for e in m.commands()] == ["open", None, "close"]
    assert m.stats()["opens"] == 1 and m.stats()["closes"] == 1


def test_loop_counters_unsafe_closes_and_opens_without_close() -> None:
    clock = Clock()
    m = ArmModel(travel_s=0.1, clock=clock)
    write(m, 0, True)
    write(m, 0, False)
    m.set_loop(True, for_s=2.0)
    clock.t += 1
    assert di(m)[2] is True
    write(m, 1, True)  # close on an occupied loop
    write(m, 1, False)
    assert m.stats()["unsafe_closes"] == 1
    clock.t += 1.5
    assert di(m)[2] is False  # the vehicle left by itself
    write(m, 0, True)
    write(m, 0, False)
    write(m, 0, True)  # a second open without a close in between
    assert m.stats()["open_without_close"] == 1 and m.stats()["open_pending"] is True
    write(m, 1, True)
    st = m.stats()
    assert st["open_pending"] is False and st["vehicles"] == 1 and st["unsafe_closes"] == 1
    assert m.commands(since=6)[0]["loop_occupied"] is False


def test_stuck_arm_freezes_and_ignores_commands() -> None:
    clock = Clock()
    m = ArmModel(travel_s=1.0, clock=clock)
    write(m, 0, True)
    clock.t += 0.5
    m.set_stuck(True)
    clock.t += 5
    assert di(m) == (False, False, False)  # frozen mid-travel
    write(m, 1, True)
    assert m.commands()[-1]["ignored"] is True and m.stats()["ignored"] == 1
    assert m.read_bits("c", 0, 2) == [True, True]  # the PLC still took the write
    clock.t += 5
    assert di(m) == (False, False, False)
    m.set_stuck(False)
    write(m, 1, False)
    write(m, 1, True)
    clock.t += 0.6
    assert di(m)[1] is True


def test_power_cycle_clears_coils_and_stops_the_arm() -> None:
    clock = Clock()
    m = ArmModel(travel_s=1.0, clock=clock)
    m.fault_code = 9
    write(m, 0, True)
    clock.t += 0.3
    m.power_cycle()
    clock.t += 5
    assert m.read_bits("c", 0, 2) == [False, False] and m.fault_code == 0
    assert di(m)[:2] == (False, False)  # stopped where it was
    assert m.stats()["power_cycles"] == 1


# ---------------------------------------------------------------------------------------- the server


def test_port_zero_is_kept_across_restarts_and_state_survives() -> None:
    with BarrierSimulator(travel_s=0.05) as sim:
        port = sim.port
        assert port > 0 and sim.up
        sim.set_faults(fault_code=5)
        sim.set_loop(True)
        rec = sim.restart(0.2)
        assert not sim.up and rec["down_s"] == 0.2 and "down_ns" in rec
        assert sim.wait_up(3) and sim.port == port
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=port, timeout_s=0.2))
        try:
            assert d.fault_code() == 5 and d.loop_occupied() is True  # same state
            sim.restart(0.1, power_cycle=True)
            assert sim.wait_up(3)
            end = time.monotonic() + 3
            while True:
                try:
                    assert d.fault_code() == 0  # power-cycled
                    break
                except BarrierUnavailable:
                    assert time.monotonic() < end
                    time.sleep(0.02)
            assert d.loop_occupied() is True  # the truck did not move
        finally:
            d.release()
        state = sim.state()
        assert [r["power_cycle"] for r in state["restarts"]] == [False, True]
        assert all(r["up_ns"] > r["down_ns"] for r in state["restarts"])


def test_slow_replies_are_slow() -> None:
    with BarrierSimulator() as sim:
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=sim.port, timeout_s=0.5))
        try:
            d.position()
            sim.set_faults(delay_ms=150)
            t = time.monotonic()
            assert d.position() == "closed"
            assert 0.14 <= time.monotonic() - t < 0.45
        finally:
            d.release()


def http(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_control_interface() -> None:
    with BarrierSimulator(travel_s=0.05, control_port=0) as sim:
        cp = sim.control_port
        assert cp
        code, state = http(cp, "GET", "/state")
        assert code == 200 and state["position"] == "closed" and state["up"] is True and state["port"] == sim.port
        assert http(cp, "POST", "/loop", {"occupied": True})[1] == {"loop_occupied": True}
        code, faults = http(cp, "POST", "/faults", {"stuck": True, "delay_ms": 10, "fault_code": 3})
        assert code == 200 and faults["stuck"] is True and faults["delay_ms"] == 10 and faults["fault_code"] == 3
        assert http(cp, "POST", "/faults", {"garbage": "sometimes"})[0] == 400
        assert http(cp, "POST", "/faults", {"nonsense": 1})[0] == 400
        assert http(cp, "POST", "/faults", {"exception": 99})[0] == 400
        code, faults = http(cp, "POST", "/faults/clear")
        assert faults == {"stuck": False, "delay_ms": 0, "drop": False, "garbage": None, "exception": None,
                          "fault_code": 0}
        assert http(cp, "POST", "/config", {"command": "latched", "travel_s": 0.02})[1] == {
            "command": "latched", "travel_s": 0.02}
        assert http(cp, "POST", "/config", {"command": "sideways"})[0] == 400
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=sim.port, command="latched",
                                              timeout_s=0.3))
        try:
            d.open()
            _, log = http(cp, "GET", "/log")
            assert [(e["command"], e["loop_occupied"]) for e in log["commands"]] == [("open", True)]
            assert isinstance(log["commands"][0]["mono_ns"], int) and log["commands"][0]["ts"] > 1e9
            assert http(cp, "GET", f"/log?since={log['commands'][0]['seq']}")[1] == {"commands": []}
            d.close()
            assert http(cp, "GET", "/stats")[1]["unsafe_closes"] == 1  # closed on the occupied loop
            assert http(cp, "POST", "/log/clear")[0] == 200 and http(cp, "GET", "/log")[1] == {"commands": []}
            code, rec = http(cp, "POST", "/restart", {"down_s": 0.2})
            assert code == 200 and rec["down_s"] == 0.2 and http(cp, "GET", "/healthz")[1] == {"ok": True, "up": False}
            assert sim.wait_up(3)
        finally:
            d.release()
        assert http(cp, "GET", "/nothing")[0] == 404
        assert http(cp, "POST", "/nothing", {})[0] == 404


# ---------------------------------------------------------------------------------------- real process


def gate_sim_command() -> list[str]:
    exe = Path(sys.executable).parent / "gate-sim"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from gatesim.cli import main; main()"]


def test_gate_sim_barrier_as_a_process() -> None:
    proc = subprocess.Popen([*gate_sim_command(), "barrier", "--port", "0", "--control-port", "0", "--travel-s",
                             "0.05", "--unit", "3"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["unit"] == 3
        port, cp = ready["port"], ready["control_port"]
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=port, timeout_s=0.3,
                                              pulse_s=0.05, map={"unit_id": 3}))
        try:
            assert d.position() == "closed"
            d.open()
            end = time.monotonic() + 3
            while d.position() != "open":
                assert time.monotonic() < end
                time.sleep(0.02)
            http(cp, "POST", "/loop", {"occupied": True})
            assert d.loop_occupied() is True
            _, state = http(cp, "GET", "/state")
            assert state["position"] == "open" and state["unit"] == 3
            http(cp, "POST", "/restart", {"down_s": 0.3})
            end = time.monotonic() + 5
            while True:
                try:
                    assert d.loop_occupied() is True
                    break
                except BarrierUnavailable:
                    assert time.monotonic() < end
                    time.sleep(0.02)
            _, log = http(cp, "GET", "/log")
            assert [e["command"] for e in log["commands"] if e["command"]] == ["open"]
        finally:
            d.release()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_gate_sim_lists_barrier() -> None:
    out = subprocess.run([*gate_sim_command(), "barrier", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--control-port" in out.stdout and "--travel-s" in out.stdout


# ---------------------------------------------------------------------------------------- benchmark


def test_actuation_benchmark_tiny() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "actuation", "--commands", "20", "--pulse-commands",
                           "3", "--down-s", "0.3", "--restart-window-s", "0.2", "--safety-cycles", "0", "--json",
                           "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout.strip())
    for key in ("p50_ms", "p99_ms", "reconnect_s", "lost", "duplicated", "goal_p99_ms", "goal_reconnect_s",
                "meets_goal", "commands", "failed", "outage_s"):
        assert key in result, key
    assert result["benchmark"] == "actuation" and result["commands"] == 20
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["reconnect_s"] is not None and result["reconnect_s"] >= 0
    assert "unsafe_closes" not in result  # the safety run was switched off
    assert proc.returncode == (0 if result["meets_goal"] else 1)
