"""The decision: normalise the read, find the permit (exact, then bounded fuzzy), apply the gate's rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config.models import DecisionConfig, SiteGate
from edge.decision.reasons import ALLOWING, PERMIT_FAILURE_ORDER, Reason
from edge.localstore import LocalStore, Permit
from edge.localstore.gatestate import Override
from edge.plate.text import InvalidPlate, normalize, skeleton, substitutions
from edge.plate.types import PlateRead


@dataclass(frozen=True)
class Match:
    """How a read was matched to cached permits (also what ``gatectl permits lookup`` shows)."""

    query: str
    kind: str  # "exact", "fuzzy", "ambiguous" or "none"
    plate: str | None = None
    substitutions: int = 0
    permits: tuple[Permit, ...] = ()
    candidates: tuple[tuple[str, int], ...] = ()  # confusable plates considered, with their distance

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "kind": self.kind, "plate": self.plate, "substitutions": self.substitutions,
                "permits": [p.as_dict() for p in self.permits],
                "candidates": [{"plate": c, "substitutions": n} for c, n in self.candidates]}


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: Reason
    read_text: str
    plate: str | None = None
    confidence: float = 0.0
    match: str = "none"
    substitutions: int = 0
    permit_id: str | None = None
    trip_id: str | None = None
    override: Override | None = None
    alert: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"allow": self.allow, "reason": str(self.reason), "read": self.read_text,
                             "plate": self.plate, "confidence": round(self.confidence, 4), "match": self.match,
                             "substitutions": self.substitutions, "permit_id": self.permit_id,
                             "trip_id": self.trip_id, "detail": self.detail}
        if self.override:
            d["override"] = {"id": self.override.id, "operator": self.override.operator, "why": self.override.reason}
        if self.alert:
            d["alert"] = self.alert
        return d


class DecisionEngine:
    def __init__(self, store: LocalStore, gate: SiteGate, cfg: DecisionConfig,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.gate = gate
        self.cfg = cfg
        self.clock = clock

    # ---------------------------------------------------------------- matching

    def lookup(self, text: str) -> Match:
        """Exact lookup, then permits whose plate differs only in OCR-confusable characters.

        A fuzzy match counts only when exactly one plate lies within ``max_fuzzy_substitutions``.
        """
        exact = self.store.permits.by_plate(text)
        if exact:
            return Match(text, "exact", text, 0, tuple(exact))
        if self.cfg.max_fuzzy_substitutions == 0:
            return Match(text, "none")
        by_plate: dict[str, list[Permit]] = {}
        for p in self.store.permits.by_skeleton(skeleton(text)):
            by_plate.setdefault(p.plate, []).append(p)
        near = sorted((n, plate) for plate in by_plate
                      if (n := substitutions(text, plate)) is not None and 0 < n <= self.cfg.max_fuzzy_substitutions)
        cands = tuple((plate, n) for n, plate in near)
        if not near:
            return Match(text, "none", candidates=cands)
        if len(near) > 1:
            return Match(text, "ambiguous", candidates=cands)
        n, plate = near[0]
        return Match(text, "fuzzy", plate, n, tuple(by_plate[plate]), cands)

    # ---------------------------------------------------------------- deciding

    def decide(self, read: PlateRead) -> Decision:
        base = {"read_text": read.text, "confidence": read.confidence}
        try:
            text = normalize(read.text).text
        except InvalidPlate as exc:
            return Decision(False, Reason.INVALID_PLATE, detail={"error": str(exc)}, **base)
        base["plate"] = text

        alert = None
        hits = self.store.watchlist.match(text)
        if hits:
            alert = f"watchlist: {hits[0]['plate']} ({hits[0]['reason']})"
        override = self.store.state.active_override(text, self.clock())
        if override:
            return Decision(True, Reason.OPERATOR_OVERRIDE, override=override, alert=alert,
                            detail={"operator": override.operator, "why": override.reason}, **base)
        if hits:
            return Decision(False, Reason.WATCHLIST, alert=alert,
                            detail={"listed_plate": hits[0]["plate"], "why": hits[0]["reason"],
                                    "exact": hits[0]["plate"] == text}, **base)
        if read.confidence < self.cfg.min_confidence:
            return Decision(False, Reason.LOW_CONFIDENCE, detail={"min": self.cfg.min_confidence}, **base)

        m = self.lookup(text)
        if m.kind == "none":
            return Decision(False, Reason.NO_PERMIT, **base)
        if m.kind == "ambiguous":
            return Decision(False, Reason.FUZZY_AMBIGUOUS, match="ambiguous",
                            detail={"candidates": [c for c, _ in m.candidates]}, **base)
        matched = {"match": m.kind, "substitutions": m.substitutions}
        if m.kind == "fuzzy":
            base["plate"] = m.plate
            if read.confidence < self.cfg.fuzzy_min_confidence:
                return Decision(False, Reason.FUZZY_LOW_CONFIDENCE, **matched,
                                detail={"min": self.cfg.fuzzy_min_confidence}, **base)
        return self._apply_rules(m, base, matched)

    def _apply_rules(self, m: Match, base: dict[str, Any], matched: dict[str, Any]) -> Decision:
        now = self.clock()
        plate = m.plate or ""
        last = self.store.state.last_passage(plate)
        worst = -1
        failing: Permit | None = None
        for p in m.permits:
            why = self._permit_failure(p, now, last)
            if why is None:
                yard_block = self._yard_full()
                if yard_block:
                    return Decision(False, Reason.YARD_FULL, permit_id=p.permit_id, trip_id=p.trip_id,
                                    detail=yard_block, **matched, **base)
                return Decision(True, Reason.PERMIT_OK, permit_id=p.permit_id, trip_id=p.trip_id,
                                **matched, **base)
            rank = PERMIT_FAILURE_ORDER.index(why)
            if rank > worst:
                worst, failing = rank, p
        assert failing is not None
        return Decision(False, PERMIT_FAILURE_ORDER[worst], permit_id=failing.permit_id, trip_id=failing.trip_id,
                        **matched, **base)

    def _permit_failure(self, p: Permit, now: float, last_passage: float | None) -> Reason | None:
        if p.flow not in self.gate.flows:
            return Reason.WRONG_FLOW
        if p.direction != self.gate.direction:
            return Reason.WRONG_DIRECTION
        if now >= p.valid_until:
            return Reason.EXPIRED
        if now < p.valid_from:
            return Reason.NOT_YET_VALID
        if self.store.state.passes_used(p.permit_id) >= p.max_passes:
            return Reason.PASSES_USED
        if last_passage is not None and now - last_passage < self.cfg.anti_passback_s:
            return Reason.ANTI_PASSBACK
        return None

    def _yard_full(self) -> dict[str, Any] | None:
        if not self.gate.yard or self.gate.direction != "in":
            return None
        state = self.store.state.yard(self.gate.yard)
        if state and state[1] >= state[0]:
            return {"yard": self.gate.yard, "capacity": state[0], "occupancy": state[1]}
        return None


def allows(reason: Reason) -> bool:
    return reason in ALLOWING
