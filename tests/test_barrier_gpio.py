"""GpioBarrierDriver on gpiozero's own MockFactory (no GPIO header needed).

Output pins record every state change into one shared, ordered log (see ``RecordingPin``), so the
interlock (open and close relays never energised together) is checked over the whole history, not
sampled. Input pins are driven with ``MockPin.drive_high()`` / ``drive_low()``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero import Device, DigitalInputDevice, DigitalOutputDevice
from gpiozero.exc import BadPinFactory, PinFactoryFallback
from gpiozero.pins.mock import MockFactory, MockPin

from edge.barrier.base import BarrierFault, BarrierUnavailable
from edge.barrier.config import GpioBarrier
from edge.barrier.gpio import GpioBarrierDriver

OPEN, CLOSE, OPEN_LIMIT, CLOSED_LIMIT, LOOP = 17, 27, 5, 6, 13


class RecordingPin(MockPin):
    """A MockPin that appends (monotonic time, pin number, state) to its factory's shared log, and
    can be made to ignore writes (``stuck = True``) to model a pin that does not take a write."""

    def __init__(self, factory: "RecordingFactory", info: Any) -> None:
        self.stuck = False
        super().__init__(factory, info)

    def _set_state(self, value: Any) -> None:
        if self.stuck:
            return
        super()._set_state(value)

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed:
            self.factory.log.append((time.monotonic(), int(self.info.name[4:]), value))
        return changed


class RecordingFactory(MockFactory):
    def __init__(self) -> None:
        self.log: list[tuple[float, int, bool]] = []
        super().__init__(pin_class=RecordingPin)

    def mpin(self, n: int) -> RecordingPin:
        return self.pin(n)  # the same pin object the driver's devices use


def make_cfg(**kw: Any) -> GpioBarrier:
    base: dict[str, Any] = dict(type="gpio", pin_open=OPEN, pin_close=CLOSE, pin_open_limit=OPEN_LIMIT,
                                pin_closed_limit=CLOSED_LIMIT, pin_loop=LOOP, pulse_s=0.1)
    base.update(kw)
    return GpioBarrier(**base)


@pytest.fixture
def factory() -> Iterator[RecordingFactory]:
    f = RecordingFactory()
    yield f
    f.reset()


@pytest.fixture
def make(factory: RecordingFactory) -> Iterator[Callable[..., GpioBarrierDriver]]:
    made: list[GpioBarrierDriver] = []

    def _make(**kw: Any) -> GpioBarrierDriver:
        d = GpioBarrierDriver(make_cfg(**kw), pin_factory=factory)
        made.append(d)
        factory.log.clear()  # only what the test's commands do
        return d

    yield _make
    for d in made:
        d.release()


def wait_for(cond: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return cond()


def energised(log: list[tuple[float, int, bool]], pin: int, active_high: bool = True) -> list[bool]:
    """The relay's on/off transitions on ``pin`` from the log (pin level mapped through active_high)."""
    return [state == active_high for _, p, state in log if p == pin]


def assert_never_both_on(log: list[tuple[float, int, bool]], active_high: bool = True) -> None:
    on = {OPEN: False, CLOSE: False}
    for _, pin, state in log:
        if pin in on:
            on[pin] = state == active_high
            assert not (on[OPEN] and on[CLOSE]), f"both relays energised: {log}"


# --- pulse mode -------------------------------------------------------------------------------


def test_pulse_open_returns_at_once_and_relay_drops_after_pulse_s(make: Callable[..., GpioBarrierDriver],
                                                                   factory: RecordingFactory) -> None:
    d = make(pulse_s=0.2)
    t0 = time.monotonic()
    d.open()
    assert time.monotonic() - t0 < 0.1, "open() must not block for the pulse"
    assert factory.mpin(OPEN).state is True and d.relay_open.value == 1
    assert wait_for(lambda: factory.mpin(OPEN).state is False)
    on_t, off_t = (t for t, p, _ in factory.log if p == OPEN)
    assert 0.18 <= off_t - on_t < 0.7
    assert energised(factory.log, OPEN) == [True, False]
    assert energised(factory.log, CLOSE) == []  # the close relay was never touched on


def test_pulse_close_pulses_close_relay(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory) -> None:
    d = make(pulse_s=0.05)
    d.close()
    assert factory.mpin(CLOSE).state is True
    assert wait_for(lambda: factory.mpin(CLOSE).state is False)
    assert energised(factory.log, CLOSE) == [True, False]
    assert energised(factory.log, OPEN) == []


def test_repeated_open_extends_pulse_and_stale_timer_does_not_cut_it(make: Callable[..., GpioBarrierDriver],
                                                                     factory: RecordingFactory) -> None:
    d = make(pulse_s=0.15)
    d.open()
    time.sleep(0.1)
    d.open()  # restarts the pulse: the first timer (due at 0.15 s) must not switch it off
    assert wait_for(lambda: factory.mpin(OPEN).state is False)
    assert energised(factory.log, OPEN) == [True, False]  # one continuous pulse
    on_t, off_t = (t for t, p, _ in factory.log if p == OPEN)
    assert off_t - on_t >= 0.1 + 0.15 - 0.02


def test_timer_that_fired_as_it_was_cancelled_is_ignored(make: Callable[..., GpioBarrierDriver],
                                                         factory: RecordingFactory) -> None:
    """Timer.cancel() cannot stop a callback already running: it must see it is stale and do nothing."""
    d = make(pulse_s=0.3)
    d.open()
    stale = d._timers[d.OPEN]
    d.open()  # a new pulse; ``stale`` is cancelled
    stale.function(*stale.args, **stale.kwargs)  # ...but suppose it had already fired
    assert factory.mpin(OPEN).state is True
    assert energised(factory.log, OPEN) == [True]


def test_interlock_close_during_open_pulse(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory) -> None:
    d = make(pulse_s=0.3)
    d.open()
    d.close()  # open relay is still on: it must go off before the close relay goes on
    assert factory.mpin(OPEN).state is False and factory.mpin(CLOSE).state is True
    [(t_open_off, _, _)] = [e for e in factory.log if e[1] == OPEN and e[2] is False]
    [(t_close_on, _, _)] = [e for e in factory.log if e[1] == CLOSE and e[2] is True]
    assert t_open_off <= t_close_on
    assert factory.log.index((t_open_off, OPEN, False)) < factory.log.index((t_close_on, CLOSE, True))
    assert_never_both_on(factory.log)


def test_interlock_under_rapid_alternation_with_timers_firing(make: Callable[..., GpioBarrierDriver],
                                                              factory: RecordingFactory) -> None:
    d = make(pulse_s=0.05)
    for i in range(40):
        (d.open if i % 2 == 0 else d.close)()
        time.sleep(0.003 * (i % 25))  # some commands land mid-pulse, some after the timer fired
    assert wait_for(lambda: not factory.mpin(OPEN).state and not factory.mpin(CLOSE).state)
    assert energised(factory.log, OPEN).count(True) == 20
    assert energised(factory.log, CLOSE).count(True) == 20
    assert_never_both_on(factory.log)


def test_active_low_relays(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory) -> None:
    d = make(active_high=False, pulse_s=0.05)
    # initial_value False on an active-low relay: the pin idles high (relay off)
    assert factory.mpin(OPEN).state is True and factory.mpin(CLOSE).state is True
    assert d.relay_open.value == 0
    d.open()
    assert factory.mpin(OPEN).state is False and d.relay_open.value == 1
    assert wait_for(lambda: factory.mpin(OPEN).state is True)
    d.close()
    assert factory.mpin(CLOSE).state is False
    assert wait_for(lambda: factory.mpin(CLOSE).state is True)
    assert energised(factory.log, OPEN, active_high=False) == [True, False]
    assert energised(factory.log, CLOSE, active_high=False) == [True, False]
    assert_never_both_on(factory.log, active_high=False)


# --- latched mode ------------------------------------------------------------------------------


def test_latched_holds_open_relay_until_close(make: Callable[..., GpioBarrierDriver],
                                              factory: RecordingFactory) -> None:
    d = make(command="latched", pin_close=None, pulse_s=0.05)
    assert d.relay_close is None
    d.open()
    time.sleep(0.15)  # well past pulse_s: latched mode must not drop it
    assert factory.mpin(OPEN).state is True
    d.close()
    assert factory.mpin(OPEN).state is False
    assert energised(factory.log, OPEN) == [True, False]


def test_latched_with_close_pin_keeps_close_relay_off(make: Callable[..., GpioBarrierDriver],
                                                      factory: RecordingFactory) -> None:
    d = make(command="latched")
    d.open()
    d.close()
    d.open()
    assert factory.mpin(OPEN).state is True
    assert factory.mpin(CLOSE).state is False and energised(factory.log, CLOSE) == []


# --- read-back ---------------------------------------------------------------------------------


def test_read_back_mismatch_raises(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory) -> None:
    d = make()
    factory.mpin(OPEN).stuck = True  # the pin does not take the write
    with pytest.raises(BarrierFault, match=r"open relay \(GPIO17\) read back off after switching it on"):
        d.open()


def test_stuck_on_close_relay_blocks_open(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory,
                                          caplog: pytest.LogCaptureFixture) -> None:
    d = make(pulse_s=0.05)
    d.close()
    factory.mpin(CLOSE).stuck = True  # stuck on: the end of the pulse cannot switch it off
    time.sleep(0.15)
    assert factory.mpin(CLOSE).state is True
    assert "ending the close relay pulse failed" in caplog.text
    with pytest.raises(BarrierFault, match="close relay"):
        d.open()
    assert factory.mpin(OPEN).state is False, "open relay energised while the close relay is on"
    assert_never_both_on(factory.log)


# --- inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pull_up", [True, False])
@pytest.mark.parametrize(("open_limit", "closed_limit", "expected"), [
    (True, False, "open"), (False, True, "closed"), (False, False, "moving"), (True, True, "unknown"),
])
def test_position_from_limit_inputs(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory,
                                    pull_up: bool, open_limit: bool, closed_limit: bool, expected: str) -> None:
    d = make(pull_up=pull_up)
    assert factory.mpin(OPEN_LIMIT).pull == ("up" if pull_up else "down")

    def drive(pin: int, active: bool) -> None:
        # with a pull-up the switch pulls the input to ground: active means low
        (factory.mpin(pin).drive_low if active == pull_up else factory.mpin(pin).drive_high)()

    drive(OPEN_LIMIT, open_limit)
    drive(CLOSED_LIMIT, closed_limit)
    assert d.position() == expected


@pytest.mark.parametrize("pull_up", [True, False])
def test_loop_input_and_idle_levels(make: Callable[..., GpioBarrierDriver], factory: RecordingFactory,
                                    pull_up: bool) -> None:
    d = make(pull_up=pull_up)
    # nothing connected: the pull holds every input inactive
    assert d.loop_occupied() is False and d.position() == "moving"
    loop = factory.mpin(LOOP)
    (loop.drive_low if pull_up else loop.drive_high)()
    assert d.loop_occupied() is True
    (loop.drive_high if pull_up else loop.drive_low)()
    assert d.loop_occupied() is False


def test_fault_code_is_zero(make: Callable[..., GpioBarrierDriver]) -> None:
    assert make().fault_code() == 0


# --- release and pin ownership -----------------------------------------------------------------


def test_release_frees_pins_and_switches_relays_off(factory: RecordingFactory) -> None:
    cfg = make_cfg(command="latched")
    d = GpioBarrierDriver(cfg, pin_factory=factory)
    d.open()
    with pytest.raises(BarrierFault, match="GPIO17"):  # pins are held while the driver lives
        GpioBarrierDriver(cfg, pin_factory=factory)
    d.release()
    d.release()  # idempotent
    assert factory.mpin(OPEN).function == "input"  # relay dropped, pin handed back
    with pytest.raises(BarrierUnavailable, match="released"):
        d.open()
    with pytest.raises(BarrierUnavailable):
        d.position()
    again = GpioBarrierDriver(cfg, pin_factory=factory)
    again.open()
    assert factory.mpin(OPEN).state is True
    again.release()


def test_release_during_pulse_cancels_timer(factory: RecordingFactory, caplog: pytest.LogCaptureFixture) -> None:
    d = GpioBarrierDriver(make_cfg(pulse_s=0.05), pin_factory=factory)
    d.open()
    d.release()
    time.sleep(0.12)
    assert not d._timers and "failed" not in caplog.text
    # the freed pins can be claimed by anything else
    DigitalOutputDevice(OPEN, pin_factory=factory).close()


def test_failed_setup_frees_pins_already_claimed(factory: RecordingFactory) -> None:
    squatter = DigitalInputDevice(LOOP, pin_factory=factory)  # the loop pin is taken
    with pytest.raises(BarrierFault, match=r"GPIO13 for the loop detector") as exc:
        GpioBarrierDriver(make_cfg(), pin_factory=factory)
    # ``exc`` keeps the half-built driver alive (its frame is in the traceback), so gpiozero's
    # close-on-garbage-collection cannot be what frees the pins: the driver must have closed them.
    assert exc.traceback is not None
    for pin in (OPEN, CLOSE):
        assert factory.mpin(pin).function == "input"
    for pin in (OPEN, CLOSE, OPEN_LIMIT, CLOSED_LIMIT):
        DigitalInputDevice(pin, pin_factory=factory).close()
    squatter.close()


# --- no GPIO on the machine --------------------------------------------------------------------


def test_unknown_pin_factory_name_raises_unavailable_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    with pytest.raises(BarrierUnavailable) as exc:
        GpioBarrierDriver(make_cfg())
    msg = str(exc.value)
    for part in ("GPIO17", "GPIO27", "GPIO5", "GPIO6", "GPIO13", "no-such-factory", "GPIOZERO_PIN_FACTORY",
                 'type="modbus"'):
        assert part in msg
    assert Device.pin_factory is None


def test_no_default_factory_reports_each_fallback_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a box without a GPIO header sees: every default factory fails to load."""

    def no_factory() -> None:
        warnings.warn(PinFactoryFallback("Falling back from lgpio: No module named 'lgpio'"))
        warnings.warn(PinFactoryFallback("Falling back from native: unable to locate Pi revision"))
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(no_factory))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback warnings are folded into the error, not leaked
        with pytest.raises(BarrierUnavailable) as exc:
            GpioBarrierDriver(make_cfg())
    msg = str(exc.value)
    assert "No module named 'lgpio'" in msg and "unable to locate Pi revision" in msg
    assert "GPIOZERO_PIN_FACTORY" in msg and 'type="modbus"' in msg


def test_default_factory_from_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPIOZERO_PIN_FACTORY=mock (as a bench box without relays might run) is honoured."""
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    d = GpioBarrierDriver(make_cfg(command="latched"))
    try:
        assert isinstance(d.factory, MockFactory)
        d.open()
        assert d.factory.pin(OPEN).state is True
    finally:
        d.release()
        d.factory.close()
