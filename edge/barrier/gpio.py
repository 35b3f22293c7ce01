"""Barrier relays and limit/loop inputs on the box's own GPIO header, through gpiozero.

Two relay outputs (open, close) and three inputs (open limit, closed limit, loop detector). In
``pulse`` mode each command energises one relay for ``pulse_s`` (the barrier controller latches
the movement itself); in ``latched`` mode the open relay is held on while the arm should be up and
switched off to lower it.

Every write is read back from the output device; the relays are never energised together (the
other one is switched off, and read back as off, before one is switched on).
"""

from __future__ import annotations

import logging
import threading
import warnings
from gpiozero import Device, DigitalInputDevice, DigitalOutputDevice, GPIOZeroError
from gpiozero.pins import Factory

from edge.barrier.base import BarrierFault, BarrierUnavailable, position_from_limits
from edge.barrier.config import GpioBarrier

log = logging.getLogger(__name__)


def _resolve_factory(cfg: GpioBarrier, pin_factory: Factory | None) -> Factory:
    """The factory passed in, else gpiozero's default (``GPIOZERO_PIN_FACTORY`` or the first that loads).

    gpiozero reports each factory it failed to load as a warning and then raises a bare
    "Unable to load any default pin factory!"; the warnings are collected here so that the
    :class:`BarrierUnavailable` says why each one failed.
    """
    if pin_factory is not None:
        return pin_factory
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            Device.ensure_pin_factory()
            return Device.pin_factory
        except Exception as e:  # BadPinFactory, or ImportError from a named factory's library
            reasons = [str(w.message) for w in caught] + [f"{type(e).__name__}: {e}"]
            pins = _pin_summary(cfg)
            raise BarrierUnavailable(
                f"no GPIO available for the gpio barrier ({pins}): gpiozero could not load a pin factory "
                f"({'; '.join(reasons)}). On a Raspberry Pi install lgpio (or RPi.GPIO/pigpio) or set "
                f"GPIOZERO_PIN_FACTORY to one that works; on a box without a GPIO header use "
                f'barrier type="modbus".'
            ) from e


def _pin_summary(cfg: GpioBarrier) -> str:
    parts = [f"open relay GPIO{cfg.pin_open}"]
    if cfg.pin_close is not None:
        parts.append(f"close relay GPIO{cfg.pin_close}")
    parts += [f"open limit GPIO{cfg.pin_open_limit}", f"closed limit GPIO{cfg.pin_closed_limit}",
              f"loop GPIO{cfg.pin_loop}"]
    return ", ".join(parts)


class GpioBarrierDriver:
    """:class:`~edge.barrier.base.Barrier` on GPIO pins (BCM numbers, as gpiozero takes them).

    ``pin_factory`` is a gpiozero pin factory (tests pass ``MockFactory()``); ``None`` uses gpiozero's
    default and raises :class:`BarrierUnavailable` when there is none (no GPIO on the machine).
    """

    OPEN = "open relay"
    CLOSE = "close relay"

    def __init__(self, cfg: GpioBarrier, pin_factory: Factory | None = None) -> None:
        self.cfg = cfg
        self.factory = _resolve_factory(cfg, pin_factory)
        self._pin_of = {self.OPEN: cfg.pin_open, self.CLOSE: cfg.pin_close}
        self._lock = threading.Lock()
        # Pulse bookkeeping: one pending "switch off" timer per relay; the generation lets a timer
        # that fired just as a newer command took the lock see that it is stale and do nothing.
        self._timers: dict[str, threading.Timer] = {}
        self._generation = 0
        self._released = False
        self._devices: list[DigitalOutputDevice | DigitalInputDevice] = []
        try:
            self.relay_open = self._output(self.OPEN, cfg.pin_open)
            # In latched mode a configured close relay is unused; it is still claimed so that it is
            # held off rather than left in whatever state the pin powered up in.
            self.relay_close = self._output(self.CLOSE, cfg.pin_close) if cfg.pin_close is not None else None
            self.open_limit = self._input("open limit", cfg.pin_open_limit)
            self.closed_limit = self._input("closed limit", cfg.pin_closed_limit)
            self.loop = self._input("loop detector", cfg.pin_loop)
        except BaseException:
            self._close_devices()
            raise

    # --- setup -------------------------------------------------------------------------------

    def _output(self, role: str, pin: int) -> DigitalOutputDevice:
        try:
            dev = DigitalOutputDevice(pin, active_high=self.cfg.active_high, initial_value=False,
                                      pin_factory=self.factory)
        except (GPIOZeroError, OSError) as e:
            raise BarrierFault(f"cannot claim GPIO{pin} for the {role}: {e}") from e
        self._devices.append(dev)
        return dev

    def _input(self, role: str, pin: int) -> DigitalInputDevice:
        try:
            dev = DigitalInputDevice(pin, pull_up=self.cfg.pull_up, pin_factory=self.factory)
        except (GPIOZeroError, OSError) as e:
            raise BarrierFault(f"cannot claim GPIO{pin} for the {role}: {e}") from e
        self._devices.append(dev)
        return dev

    # --- relay writes ------------------------------------------------------------------------

    def _write(self, relay: DigitalOutputDevice, role: str, on: bool) -> None:
        """Set a relay and read it back (the output latch: catches a pin that did not take the write)."""
        try:
            relay.value = on
            got = relay.value
        except (GPIOZeroError, OSError) as e:
            raise BarrierFault(f"writing the {role} (GPIO{self._pin_of[role]}): {e}") from e
        if bool(got) != on:
            raise BarrierFault(f"{role} (GPIO{self._pin_of[role]}) read back {'on' if got else 'off'} "
                               f"after switching it {'on' if on else 'off'}")

    def _cancel_timers(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        self._generation += 1

    def _pulse(self, relay: DigitalOutputDevice, role: str) -> None:
        """Switch ``relay`` on now and off after ``pulse_s`` on a timer, so the caller never waits."""
        try:
            self._write(relay, role, True)
        except BarrierFault:
            # No timer will end this pulse: make sure the relay is not left energised.
            try:
                relay.off()
            except (GPIOZeroError, OSError):
                pass
            raise
        gen = self._generation
        t = threading.Timer(self.cfg.pulse_s, self._end_pulse, args=(relay, role, gen))
        t.daemon = True
        self._timers[role] = t
        t.start()

    def _end_pulse(self, relay: DigitalOutputDevice, role: str, gen: int) -> None:
        with self._lock:
            if gen != self._generation or self._released:
                return  # a newer command (or release) has taken over this relay
            self._timers.pop(role, None)
            try:
                self._write(relay, role, False)
            except BarrierFault:
                # Nobody to raise to on a timer thread; the next command switches this relay off
                # again first, reads it back and raises there.
                log.exception("ending the %s pulse failed", role)

    def _check_open(self) -> None:
        if self._released:
            raise BarrierUnavailable("gpio barrier released")

    # --- Barrier protocol --------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            self._check_open()
            self._cancel_timers()
            if self.relay_close is not None:
                self._write(self.relay_close, self.CLOSE, False)  # interlock: never both on
            if self.cfg.command == "pulse":
                self._pulse(self.relay_open, self.OPEN)
            else:
                self._write(self.relay_open, self.OPEN, True)

    def close(self) -> None:
        with self._lock:
            self._check_open()
            self._cancel_timers()
            self._write(self.relay_open, self.OPEN, False)  # interlock, and the latched "close"
            if self.cfg.command == "pulse":
                assert self.relay_close is not None  # the config requires pin_close in pulse mode
                self._pulse(self.relay_close, self.CLOSE)

    def _read(self, dev: DigitalInputDevice, role: str) -> bool:
        self._check_open()
        try:
            return bool(dev.is_active)  # is_active accounts for pull_up (active low with a pull-up)
        except (GPIOZeroError, OSError) as e:
            raise BarrierUnavailable(f"reading the {role}: {e}") from e

    def position(self) -> str:
        return position_from_limits(self._read(self.open_limit, "open limit"),
                                    self._read(self.closed_limit, "closed limit"))

    def loop_occupied(self) -> bool:
        return self._read(self.loop, "loop detector")

    def fault_code(self) -> int:
        """Always 0: a GPIO barrier has no fault register (faults show as limit-switch timeouts)."""
        return 0

    def release(self) -> None:
        """Switch the relays off and free every pin (idempotent).

        In latched mode this drops the held open relay, as the process exiting would anyway: the
        arm cannot be held up by a process that no longer owns the pin.
        """
        with self._lock:
            if self._released:
                return
            self._released = True
            self._cancel_timers()
            for relay in (self.relay_open, self.relay_close):
                if relay is not None:
                    try:
                        relay.off()
                    except (GPIOZeroError, OSError):
                        log.warning("could not switch a relay off at release", exc_info=True)
            self._close_devices()

    def _close_devices(self) -> None:
        for dev in self._devices:
            try:
                dev.close()
            except (GPIOZeroError, OSError):
                log.warning("closing %r failed", dev, exc_info=True)
        self._devices.clear()
