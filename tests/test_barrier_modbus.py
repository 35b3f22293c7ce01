"""The Modbus barrier driver against the simulated PLC over real TCP on loopback (no mocks)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from edge.barrier.base import BarrierFault, BarrierUnavailable
from edge.barrier.config import ModbusBarrier, ModbusMap
from edge.barrier.modbus import ModbusBarrierDriver, bus_key, bus_lock
from gatesim.barrier import BarrierSimulator

TRAVEL_S = 0.1


@pytest.fixture
def sim() -> Iterator[BarrierSimulator]:
    s = BarrierSimulator(travel_s=TRAVEL_S).start()
    yield s
    s.stop()


@pytest.fixture
def make_driver(sim: BarrierSimulator) -> Iterator[Any]:
    drivers: list[ModbusBarrierDriver] = []

    def make(**overrides: Any) -> ModbusBarrierDriver:
        fields: dict[str, Any] = {"type": "modbus", "host": "127.0.0.1", "port": sim.port, "pulse_s": 0.05,
                                  "timeout_s": 0.1, "retries": 1, "reconnect_min_s": 0.05, "reconnect_max_s": 0.4}
        fields.update(overrides)
        d = ModbusBarrierDriver(ModbusBarrier(**fields))
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        d.release()


def wait_for(cond: Any, timeout: float = 2.0, poll: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(poll)
    return bool(cond())


def commands(sim: BarrierSimulator) -> list[str]:
    return [e["command"] for e in sim.command_log() if e["command"]]


# ---------------------------------------------------------------------------------------- commands


def test_pulse_open_close_reach_the_plc_and_read_back(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver(pulse_s=0.5)
    assert d.position() == "closed"
    started = time.monotonic()
    d.open()
    took = time.monotonic() - started
    assert took < 0.25, "the caller must not wait for the pulse"
    assert sim.state()["coils"]["open"] is True  # still pulsing when open() returned
    assert wait_for(lambda: d.position() == "open")
    assert wait_for(lambda: sim.state()["coils"]["open"] is False)  # the timer ended the pulse
    d.close()
    assert wait_for(lambda: d.position() == "closed")
    assert wait_for(lambda: sim.state()["coils"]["close"] is False)
    log = sim.command_log()
    assert [(e["coil"], e["value"]) for e in log] == [("open", True), ("open", False), ("close", True),
                                                       ("close", False)]
    assert commands(sim) == ["open", "close"]
    assert d.available is True


def test_new_command_ends_a_running_pulse_first(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver(pulse_s=1.0)
    d.open()
    d.close()  # the open pulse is still running: it must end before the close coil rises
    state = sim.state()["coils"]
    assert state == {"open": False, "close": True}
    assert [(e["coil"], e["value"]) for e in sim.command_log()] == [("open", True), ("open", False),
                                                                     ("close", True)]
    assert commands(sim) == ["open", "close"]


def test_latched_mode_holds_the_open_coil(sim: BarrierSimulator, make_driver: Any) -> None:
    sim.configure(command="latched")
    d = make_driver(command="latched")
    d.open()
    time.sleep(0.1)
    assert sim.state()["coils"]["open"] is True  # held, no pulse end
    assert wait_for(lambda: d.position() == "open")
    d.close()
    assert wait_for(lambda: d.position() == "closed")
    assert [(e["coil"], e["value"], e["command"]) for e in sim.command_log()] == [
        ("open", True, "open"), ("open", False, "close")]


def test_position_loop_and_fault_code_reads(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver()
    assert d.loop_occupied() is False
    sim.set_loop(True)
    assert d.loop_occupied() is True
    sim.set_loop(False)
    assert d.loop_occupied() is False
    assert d.fault_code() == 0
    sim.set_faults(fault_code=17)
    assert d.fault_code() == 17
    d.open()
    time.sleep(TRAVEL_S / 3)
    assert d.position() == "moving"
    no_hr = make_driver(map=ModbusMap(hr_fault_code=None))
    reads = sim.stats()["reads"]
    assert no_hr.fault_code() == 0 and sim.stats()["reads"] == reads  # not configured: no request at all


def test_position_reads_both_limits_in_one_request(make_driver: Any, sim: BarrierSimulator) -> None:
    d = make_driver()
    before = sim.stats()["reads"]
    d.position()
    assert sim.stats()["reads"] == before + 1


def test_limits_far_apart_are_read_separately() -> None:
    far = ModbusMap(di_open_limit=0, di_closed_limit=200, di_loop=1)
    with BarrierSimulator(travel_s=TRAVEL_S, map=far) as s:
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=s.port, map=far, timeout_s=0.2))
        try:
            before = s.stats()["reads"]
            assert d.position() == "closed"
            assert s.stats()["reads"] == before + 2
        finally:
            d.release()


def test_overlapping_or_incomplete_maps_are_refused() -> None:
    with pytest.raises(ValidationError, match="coil addresses overlap"):
        ModbusMap(coil_open=3, coil_close=3)
    with pytest.raises(ValidationError, match="discrete input addresses overlap"):
        ModbusMap(di_open_limit=2, di_closed_limit=1, di_loop=2)
    with pytest.raises(ValidationError, match="pulse mode needs map.coil_close"):
        ModbusBarrier(type="modbus", host="plc", map=ModbusMap(coil_close=None))
    with pytest.raises(ValidationError, match="needs host"):
        ModbusBarrier(type="modbus")
    with pytest.raises(ValidationError, match="needs serial_port"):
        ModbusBarrier(type="modbus", transport="rtu")
    with pytest.raises(ValidationError, match="reconnect_max_s"):
        ModbusBarrier(type="modbus", host="plc", reconnect_min_s=2, reconnect_max_s=1)
    # latched mode does not need the close coil
    assert ModbusBarrier(type="modbus", host="plc", command="latched", map=ModbusMap(coil_close=None))


# ---------------------------------------------------------------------------------------- faults


def test_exception_reply_is_a_fault_and_the_write_is_not_executed(sim: BarrierSimulator, make_driver: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    d = make_driver()
    sim.set_faults(exception=4)
    with pytest.raises(BarrierFault, match=r"exception 4 \(device failure\)") as exc:
        d.position()
    assert not isinstance(exc.value, BarrierUnavailable)
    with pytest.raises(BarrierFault, match="exception 4"):
        d.open()
    assert sim.command_log() == []
    sim.set_faults(exception=2)
    with pytest.raises(BarrierFault, match="illegal data address"):
        d.loop_occupied()
    assert "barrier_unavailable" not in caplog.text  # it answered: it is there, just unhappy
    sim.clear_faults()
    assert d.position() == "closed"


def test_garbage_reply_is_a_fault_and_the_link_recovers(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver()
    sim.set_faults(garbage=True)
    with pytest.raises(BarrierFault, match="garbled reply") as exc:
        d.position()
    assert not isinstance(exc.value, BarrierUnavailable)
    with pytest.raises(BarrierFault, match="garbled reply"):
        d.fault_code()
    sim.set_faults(garbage="wrong_function")
    with pytest.raises(BarrierFault, match="garbled reply .*function code 4, expected 3"):
        d.fault_code()
    with pytest.raises(BarrierFault, match="garbled reply"):
        d.open()  # executed by the PLC, answered with junk: the caller hears of it, nothing is re-sent
    sim.clear_faults()
    assert d.position() in ("moving", "open") and d.fault_code() == 0
    assert commands(sim) == ["open"]


def test_dropped_replies_time_out_after_retries_then_fail_fast(sim: BarrierSimulator, make_driver: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.barrier.modbus")
    d = make_driver(timeout_s=0.1, retries=2, reconnect_min_s=0.5, reconnect_max_s=1.0)
    assert d.position() == "closed"
    sim.set_faults(drop=True)
    started = time.monotonic()
    with pytest.raises(BarrierUnavailable, match=r"no reply within 0.1 s \(3 attempt"):
        d.position()
    took = time.monotonic() - started
    assert 0.28 <= took < 1.0  # three attempts of 0.1 s
    assert sim.stats()["dropped"] == 3
    for _ in range(20):  # the link is down now: each poll fails at once
        t = time.monotonic()
        with pytest.raises(BarrierUnavailable):
            d.loop_occupied()
        assert time.monotonic() - t < 0.08  # well under one request timeout
    assert caplog.text.count("barrier_unavailable") == 1
    sim.clear_faults()
    assert wait_for(lambda: _ok(d.position), timeout=2.5)
    assert caplog.text.count("barrier_back") == 1


def _ok(fn: Any) -> bool:
    try:
        fn()
        return True
    except BarrierUnavailable:
        return False


def test_a_command_whose_reply_is_lost_is_not_sent_again(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver(retries=3)
    sim.set_faults(drop=True)
    with pytest.raises(BarrierUnavailable):
        d.open()
    writes = [e for e in sim.command_log() if e["coil"] == "open" and e["value"]]
    assert len(writes) == 1, "the PLC executed the write once; the driver must not have re-sent it"
    sim.clear_faults()
    # The pulse that may have started is still ended once the link is back (idempotent reset).
    assert wait_for(lambda: _ok(d.position), timeout=2)
    d.close()
    assert sim.state()["coils"]["open"] is False
    assert commands(sim) == ["open", "close"]


def test_stuck_arm_is_seen_as_a_position_that_does_not_change(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver()
    sim.set_faults(stuck=True)
    d.open()  # the PLC takes the command (read back fine); the arm does not move
    time.sleep(TRAVEL_S * 2)
    assert d.position() == "closed"
    log = sim.command_log()
    assert log[0]["command"] == "open" and log[0]["ignored"] is True
    sim.clear_faults()
    d.open()
    assert wait_for(lambda: d.position() == "open")


def test_unreachable_plc_fails_fast_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.barrier.modbus")
    with BarrierSimulator() as s:
        port = s.port
    d = ModbusBarrierDriver(ModbusBarrier(type="modbus", host="127.0.0.1", port=port, timeout_s=0.2,
                                          reconnect_min_s=0.05, reconnect_max_s=0.2))
    try:
        for _ in range(30):
            t = time.monotonic()
            with pytest.raises(BarrierUnavailable):
                d.position()
            assert time.monotonic() - t < 0.15  # under the 0.2 s connect timeout
            time.sleep(0.01)
        assert caplog.text.count("barrier_unavailable") == 1
        rec = next(r for r in caplog.records if r.getMessage() == "barrier_unavailable")
        assert rec.bus == f"tcp:127.0.0.1:{port}" and rec.unit == 1 and "connect" in rec.reason
        assert d.bus.reconnects == 0
    finally:
        d.release()


# ---------------------------------------------------------------------------------------- restart


def test_plc_restart_each_command_exactly_once_and_back_within_2s(sim: BarrierSimulator, make_driver: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.barrier.modbus")
    sim.configure(command="latched")
    d = make_driver(command="latched", timeout_s=0.2, reconnect_min_s=0.1, reconnect_max_s=1.5)
    done: list[str] = []  # commands that returned: each must be in the PLC's log exactly once
    failed: list[str] = []
    d.open()
    done.append("open")
    d.close()
    done.append("close")
    record = sim.restart(1.0)
    assert not sim.up
    outage_calls = 0
    while not sim.up:
        t = time.monotonic()
        with pytest.raises(BarrierUnavailable):
            d.position()
        assert time.monotonic() - t < 0.25  # never blocked for the reconnect
        outage_calls += 1
        if outage_calls == 3:  # well inside the 1 s outage: asked after the loop, the PLC may be back
            with pytest.raises(BarrierUnavailable):  # a command in the outage raises: the caller decides
                d.open()
            failed.append("open")
            assert d.available is False
        time.sleep(0.02)
    assert failed == ["open"]
    up_ns = sim.restarts[-1]["up_ns"]
    while not _ok(d.position):
        time.sleep(0.01)
    back_s = (time.monotonic_ns() - up_ns) / 1e9
    assert back_s <= 2.0, f"reconnected {back_s:.2f} s after the PLC came back"
    d.open()
    done.append("open")
    d.close()
    done.append("close")
    assert [e["command"] for e in sim.command_log()] == done  # none lost, none duplicated, none replayed
    assert outage_calls > 10
    assert caplog.text.count("barrier_unavailable") == 1
    assert caplog.text.count("barrier_back") == 1
    back = next(r for r in caplog.records if r.getMessage() == "barrier_back")
    assert back.down_s >= record["down_s"] * 0.9
    assert d.bus.reconnects == 1


def test_power_cycled_plc_mid_pulse_is_cleaned_up(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver(pulse_s=0.1, timeout_s=0.1)
    d.open()
    sim.restart(0.5, power_cycle=True)  # the pulse end falls into the outage
    assert sim.state()["coils"]["open"] is False  # the power cycle cleared the coils
    assert sim.wait_up(3)
    assert wait_for(lambda: _ok(d.position), timeout=2.5)
    d.close()  # first writes the pulse end it owes (idempotent), then the close pulse
    assert wait_for(lambda: sim.state()["coils"] == {"open": False, "close": False})
    assert commands(sim) == ["open", "close"]


# ---------------------------------------------------------------------------------------- the bus


def test_one_bus_one_lock_for_every_device_on_it(sim: BarrierSimulator, make_driver: Any) -> None:
    a = make_driver()
    b = make_driver(map=ModbusMap(unit_id=1, coil_open=2, coil_close=3))
    key = bus_key("tcp", host="127.0.0.1", port=sim.port)
    assert a.bus is b.bus and a.bus.key == key
    assert bus_lock(key) is a.bus.lock
    assert bus_lock("tcp:other:502") is not a.bus.lock
    errors: list[BaseException] = []

    def hammer(drv: ModbusBarrierDriver) -> None:
        try:
            for _ in range(30):
                drv.position()
                drv.loop_occupied()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(x,)) for x in (a, b, a)]
    for t in threads:
        t.start()
    for _ in range(5):
        a.open()
        b.open()
        a.close()
        b.close()
    for t in threads:
        t.join()
    assert not errors
    assert commands(sim).count("open") == 5  # b's coils are not the arm's
    b.release()
    assert a.position() in ("open", "closed", "moving")  # the bus stays open for the other user


def test_rtu_framing_over_a_socket() -> None:
    pytest.importorskip("serial")
    with BarrierSimulator(travel_s=TRAVEL_S, framer="rtu") as s:
        d = ModbusBarrierDriver(ModbusBarrier(type="modbus", transport="rtu", serial_port=f"socket://127.0.0.1:{s.port}",
                                              timeout_s=0.3, pulse_s=0.05))
        try:
            assert d.position() == "closed" and d.loop_occupied() is False and d.fault_code() == 0
            d.open()
            assert wait_for(lambda: d.position() == "open")
            s.set_faults(exception=6)
            with pytest.raises(BarrierFault, match="device busy"):
                d.position()
            s.set_faults(exception=None, garbage="wrong_function")  # undecodable junk on RTU is just noise
            with pytest.raises(BarrierFault, match="garbled reply .*function code 4, expected 2"):
                d.position()
            s.clear_faults()
            assert wait_for(lambda: _ok(d.position))
            assert [e["command"] for e in s.command_log() if e["command"]] == ["open"]
        finally:
            d.release()


def test_released_driver_refuses_commands(sim: BarrierSimulator, make_driver: Any) -> None:
    d = make_driver(pulse_s=1.0)
    d.open()
    d.release()  # ends the running pulse on the way out
    assert sim.state()["coils"]["open"] is False
    with pytest.raises(BarrierUnavailable):
        d.open()
    d.release()  # twice is fine
