"""Ground truth of a site run: every truck, where it went, and every time it stood at a gate.

The runner writes it as things happen; the audit holds the gates' and the service's records against
it (a passage the gate never recorded, a read that does not match the plate in front of the camera).
Wall-clock times (epoch seconds) are kept for matching against event timestamps; simulated times for
clearance figures.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Visit:
    """One turn of a truck in front of a gate's camera."""

    gate: str
    truck: int
    plate: str
    shown_ts: float
    left_ts: float = 0.0
    opened: bool = False
    passed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Truck:
    id: int
    plate: str
    route_name: str
    flow: str
    route: list[str]
    conditional: list[str]
    company: int
    refused: bool = False  # an agency refuses its first step: the truck is stopped at its first gate
    undeclared: bool = False  # no trip at all
    trip_id: str | None = None
    spawned_sim: float = 0.0
    first_ready_sim: float | None = None
    completed_sim: float | None = None
    status: str = "approaching"  # approaching, at_gate, between, completed, turned_away
    leg: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    confirmed: set[str] = field(default_factory=set)
    outstanding: int = 0  # confirmations asked for and not given yet
    waiting: bool = False  # reached the next gate's approach and waits for confirmations
    last_confirm_real: float = 0.0
    passed: list[tuple[str, float]] = field(default_factory=list)  # (gate, simulated time)

    @property
    def clearance_sim(self) -> float | None:
        if self.completed_sim is None or self.first_ready_sim is None:
            return None
        return self.completed_sim - self.first_ready_sim


class Ledger:
    """Thread-safe record of the run's trucks and gate visits."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trucks: dict[int, Truck] = {}
        self.visits: list[Visit] = []

    def add_truck(self, truck: Truck) -> None:
        with self.lock:
            self.trucks[truck.id] = truck

    def add_visit(self, visit: Visit) -> None:
        with self.lock:
            self.visits.append(visit)

    def counts(self) -> dict[str, int]:
        with self.lock:
            status = Counter(t.status for t in self.trucks.values())
        return {"spawned": sum(status.values()), "completed": status["completed"],
                "turned_away": status["turned_away"],
                "in_site": sum(n for s, n in status.items() if s not in ("completed", "turned_away"))}

    def snapshot(self) -> tuple[list[Truck], list[Visit]]:
        with self.lock:
            return list(self.trucks.values()), list(self.visits)
