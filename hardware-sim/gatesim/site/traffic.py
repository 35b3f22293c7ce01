"""The traffic generator: trucks arrive (Poisson), companies declare, agencies confirm after their
delays, trucks move gate to gate along their route and leave the site.

All people act through the central service's API (:class:`~gatesim.site.central.People`); trucks act
only through the lanes (camera and loop). A truck heads for its next gate once its time in between is
up and every step that gate requires has been confirmed, plus ``sync_margin_s`` of real time for
the gate to pull the new permit (gates poll every second).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from edge.config.models import SiteConfig
from edge.plate.text import normalize, skeleton
from gatesim.site.central import ApiError, People
from gatesim.site.clock import Scheduler
from gatesim.site.lane import GateLane
from gatesim.site.plan import TrafficPlan, required_steps, routes_for_run
from gatesim.site.truth import Ledger, Truck

log = logging.getLogger(__name__)

VN_PROVINCES = [11, 12, 14, 15, 19, 20, 21, 22, 23, 24, 29, 30, 34, 36, 51, 59, 88, 89, 98, 99]
VN_SERIES = "CDEFGHKLMNPRSTUVXY"
CN_PROVINCES = "桂云粤川贵湘琼"  # as on plates (Yunnan is 云, not 滇)
GOODS = ["thanh long", "sầu riêng", "chuối", "vải thiều", "xoài", "linh kiện điện tử", "phân bón", "máy móc"]


@dataclass(frozen=True)
class TrafficOptions:
    minutes: float  # simulated minutes during which trucks arrive
    rate_per_day: float
    seed: int = 0
    max_attempts: int = 6  # refusals at one gate before a driver gives up
    retry_s: float = 3.0  # real seconds a refused truck waits before it tries again (> the gate's repeat_read_s)
    sync_margin_s: float = 2.5  # real seconds between the last confirmation and the truck at the gate


class Traffic:
    def __init__(self, site: SiteConfig, plan: TrafficPlan, gates: list[str], people: People, sched: Scheduler,
                 lanes: dict[str, GateLane], ledger: Ledger, opts: TrafficOptions):
        self.site, self.plan, self.people, self.sched = site, plan, people, sched
        self.lanes, self.ledger, self.opts = lanes, ledger, opts
        self.routes = routes_for_run(plan, gates)
        if not self.routes:
            raise ValueError(f"no route of the traffic plan passes any of the gates {gates}")
        self.rng = random.Random(opts.seed)
        self._plates: set[str] = set()
        self._skeletons: set[str] = set()
        self._ids = 0
        self.api_errors = 0
        self.closed = False
        for lane in lanes.values():
            lane.on_passed, lane.on_refused = self.passed, self.refused

    # ------------------------------------------------------------------ arrivals

    def start(self) -> None:
        self.sched.at(self._gap(), self.spawn)

    def _gap(self) -> float:
        return self.rng.expovariate(self.opts.rate_per_day / 86400.0)

    def spawn(self) -> None:
        now = self.sched.clock.now()
        if now > self.opts.minutes * 60 or self.closed:
            return
        self.sched.at(now + self._gap(), self.spawn)
        truck = self._new_truck(now)
        self.ledger.add_truck(truck)
        if not truck.undeclared:
            truck.trip_id = self._api(self.people.declare, truck.company, truck.plate, truck.flow,
                                      truck.conditional, self.rng.choice(GOODS))
            if truck.trip_id is None:
                truck.undeclared = True  # the declaration never got through: the truck is turned away
        self._leg(truck, lead=True)

    def _new_truck(self, now: float) -> Truck:
        names = list(self.routes)
        shares = [self.plan.routes[n].share for n in names]
        name = self.rng.choices(names, weights=shares)[0]
        spec = self.plan.routes[name]
        conditional = sorted(s for s, p in spec.conditional.items() if self.rng.random() < p)
        self._ids += 1
        r = self.rng.random()
        return Truck(id=self._ids, plate=self._plate(spec.plates), route_name=name, flow=spec.flow,
                     route=self.routes[name], conditional=conditional,
                     company=self.rng.randrange(len(self.people.companies)),
                     refused=r < self.plan.refused_share,
                     undeclared=self.plan.refused_share <= r < self.plan.refused_share + self.plan.undeclared_share,
                     spawned_sim=now)

    def _plate(self, kind: str) -> str:
        """A plate no other truck of the run has, nor one OCR-confusable with it."""
        while True:
            if kind == "cn":
                text = f"{self.rng.choice(CN_PROVINCES)}{self.rng.choice('ABCDEFGH')}{self.rng.randrange(100000):05d}"
            else:
                prov, series = self.rng.choice(VN_PROVINCES), self.rng.choice(VN_SERIES)
                digits = f"{self.rng.randrange(100000):05d}"
                sep = " " if self.rng.random() < self.plan.two_row_share else "-"
                text = f"{prov}{series}{sep}{digits[:3]}.{digits[3:]}"
            norm = normalize(text).text
            if norm not in self._plates and skeleton(norm) not in self._skeletons:
                self._plates.add(norm)
                self._skeletons.add(skeleton(norm))
                return text

    # ------------------------------------------------------------------ legs

    def _leg(self, truck: Truck, lead: bool = False) -> None:
        """Ask for the next gate's confirmations and send the truck on its way there."""
        gate = truck.route[truck.leg]
        truck.status = "approaching" if lead else "between"
        lo, hi = self.plan.declare_lead if lead else self.plan.dwell_after(truck.route[truck.leg - 1])
        travel = self.rng.uniform(lo, hi) * 60
        if truck.trip_id is not None:
            steps = [s for s in required_steps(self.site, gate, truck.flow, set(truck.conditional))
                     if s not in truck.confirmed]
            refuse = truck.refused and truck.leg == 0
            for i, step in enumerate(steps):
                truck.outstanding += 1
                delay = self.rng.uniform(*self.plan.delay_of(step)) * 60
                decision = "refused" if refuse and i == 0 else "confirmed"
                self.sched.after(delay, self._confirm, truck, step, decision)
        self.sched.after(travel, self._arrive, truck)

    def _confirm(self, truck: Truck, step: str, decision: str) -> None:
        yard = self._yard_for(step, truck)
        if self._api(self.people.confirm, truck.trip_id, step, yard, decision) is not False:
            truck.confirmed.add(step)
        truck.last_confirm_real = time.monotonic()
        truck.outstanding -= 1
        if truck.outstanding == 0 and truck.waiting:
            truck.waiting = False
            self._to_lane(truck)

    def _yard_for(self, step: str, truck: Truck) -> str | None:
        """The yard whose operator gives a yard step: the one whose gate on the route records it."""
        for gid in truck.route:
            g = self.site.gate(gid)
            if step in g.records and g.yard:
                return g.yard
        return next((g.yard for g in self.site.gates if step in g.records and g.yard), None)

    def _arrive(self, truck: Truck) -> None:
        if truck.outstanding > 0:
            truck.waiting = True  # at the approach, waiting for the agencies
            return
        self._to_lane(truck)

    def _to_lane(self, truck: Truck) -> None:
        ready = max(time.monotonic(), truck.last_confirm_real + self.opts.sync_margin_s)
        if truck.first_ready_sim is None:
            truck.first_ready_sim = self.sched.clock.now() + (ready - time.monotonic()) * self.sched.clock.speed
        self.lanes[truck.route[truck.leg]].enqueue(truck, ready)

    def _api(self, fn, *args):  # type: ignore[no-untyped-def]
        """One API call with a few retries; False (and counted) when it keeps failing."""
        for attempt in range(5):
            try:
                result = fn(*args)
                return True if result is None else result
            except ApiError as exc:
                if exc.status < 500:
                    break
            except Exception as exc:  # noqa: BLE001 - network trouble: retried, then counted
                log.warning("api_call_failed", extra={"call": fn.__name__, "error": str(exc)})
            time.sleep(0.5 * (attempt + 1))
        self.api_errors += 1
        return None if fn is self.people.declare else False

    # ------------------------------------------------------------------ lane callbacks

    def passed(self, truck: Truck, gate: str) -> None:
        now = self.sched.clock.now()
        truck.passed.append((gate, now))
        truck.leg += 1
        if truck.leg >= len(truck.route):
            truck.status, truck.completed_sim = "completed", now
            return
        self._leg(truck)

    def refused(self, truck: Truck, gate: str) -> None:
        truck.attempts[gate] += 1
        if truck.refused or truck.undeclared or truck.attempts[gate] >= self.opts.max_attempts:
            truck.status = "turned_away"
            return
        truck.status = "at_gate"
        self.lanes[gate].enqueue(truck, time.monotonic() + self.opts.retry_s)
