"""Decision engine: every reason from a scenario, on a real SQLite store and the shipped kb2_in gate."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from edge.config import load_gate_config
from edge.config.models import DecisionConfig, StoreConfig
from edge.decision import Decision, DecisionEngine, Reason
from edge.decision.engine import allows
from edge.decision.reasons import ALLOWING, PERMIT_FAILURE_ORDER
from edge.localstore import LocalStore
from edge.plate.types import PlateRead

REPO = Path(__file__).resolve().parents[1]
GATE_FILE = REPO / "config" / "dev" / "kb2_in.toml"
CFG, SITE = load_gate_config(GATE_FILE)
KB2_IN = SITE.gate("kb2_in")  # direction in, flows [export], yard kb2
KB2_OUT = SITE.gate("kb2_out")
NOW = time.time()  # the engine's clock is pinned here (overrides are stamped with the wall clock)


class Clock:
    def __init__(self, t: float = NOW):
        self.t = t

    def __call__(self) -> float:
        return self.t


def permit(pid: str, plate: str, *, flow: str = "export", direction: str = "in",
           hours: tuple[float, float] = (-1, 8), max_passes: int = 1) -> dict[str, Any]:
    at = datetime.fromtimestamp(NOW, timezone.utc)
    return {"permit_id": pid, "plate": plate, "trip_id": f"trip-{pid}", "flow": flow, "direction": direction,
            "valid_from": (at + timedelta(hours=hours[0])).isoformat(),
            "valid_until": (at + timedelta(hours=hours[1])).isoformat(), "max_passes": max_passes}


def read(text: str, confidence: float = 0.95) -> PlateRead:
    return PlateRead(text=text, confidence=confidence, ts=NOW, source="test")


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    s.state.set_yard("kb2", SITE.yard("kb2").capacity, 0)
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(store, clock):
    return DecisionEngine(store, KB2_IN, CFG.decision, clock=clock)


def load(store: LocalStore, *permits: dict[str, Any]) -> None:
    result = store.permits.apply_delta(list(permits), [], cursor=store.permits.cursor() + 1)
    assert result.rejected == [], result.rejected


def passage(store: LocalStore, plate: str, permit_id: str | None, at: float) -> None:
    with store.transaction() as conn:
        store.state.record_passage(conn, plate, permit_id, at=at)


# ------------------------------------------------------------------------------------ the shipped gate


def test_shipped_gate_and_rules():
    assert KB2_IN.direction == "in" and KB2_IN.flows == ["export"] and KB2_IN.yard == "kb2"
    assert CFG.decision.min_confidence == 0.6 and CFG.decision.fuzzy_min_confidence == 0.8
    assert CFG.decision.max_fuzzy_substitutions == 2 and CFG.decision.anti_passback_s == 600


# ------------------------------------------------------------------------------------ one scenario per reason


def _permit_ok(store, engine, clock):
    load(store, permit("p1", "29C12345"))
    return engine.decide(read("29C-123.45"))


def _operator_override(store, engine, clock):
    store.state.add_override("桂A88888", "Nguyen Van An", "xe Trung Quoc, giay to kiem tra tai cho", 120)
    return engine.decide(read("桂A 88888"))


def _invalid_plate(store, engine, clock):
    return engine.decide(read("29C';DROP"))


def _low_confidence(store, engine, clock):
    load(store, permit("p1", "29C12345"))
    return engine.decide(read("29C12345", 0.59))


def _no_permit(store, engine, clock):
    load(store, permit("p1", "29C12345"))
    return engine.decide(read("30A11111"))


def _fuzzy_ambiguous(store, engine, clock):
    load(store, permit("p1", "29C12345"), permit("p2", "29CL2345"))
    return engine.decide(read("29CI2345"))  # I is confusable with both 1 and L


def _fuzzy_low_confidence(store, engine, clock):
    load(store, permit("p2", "51F06532"))
    return engine.decide(read("51F-O65.32", 0.7))  # enough for an exact match, not for a fuzzy one


def _not_yet_valid(store, engine, clock):
    load(store, permit("p1", "29C12345", hours=(1, 8)))
    return engine.decide(read("29C12345"))


def _expired(store, engine, clock):
    load(store, permit("p4", "98H77777", hours=(-30, -6)))
    return engine.decide(read("98H-777.77"))


def _wrong_direction(store, engine, clock):
    load(store, permit("p5", "14C45678", direction="out"))
    return engine.decide(read("14C-456.78"))


def _wrong_flow(store, engine, clock):
    load(store, permit("p6", "14C45678", flow="import"))
    return engine.decide(read("14C-456.78"))


def _anti_passback(store, engine, clock):
    load(store, permit("p1", "29C12345", max_passes=5))
    passage(store, "29C12345", "p1", NOW - 60)
    return engine.decide(read("29C12345"))


def _passes_used(store, engine, clock):
    load(store, permit("p1", "29C12345", max_passes=1))
    passage(store, "29C12345", "p1", NOW - 3600)
    return engine.decide(read("29C12345"))


def _watchlist(store, engine, clock):
    load(store, permit("p1", "29C99999"))
    store.watchlist.add("29C-999.99", "bao cao cua Bien phong")
    return engine.decide(read("29C99999"))


def _yard_full(store, engine, clock):
    load(store, permit("p1", "29C12345"))
    store.state.set_yard("kb2", 300, 300)
    return engine.decide(read("29C12345"))


def _store_unavailable(store, engine, clock):
    # The engine itself raises StoreError on a dead store; the runtime turns it into this reason.
    from edge.drivers import build_drivers
    from edge.gate import GateRuntime
    from edge.metrics import GateMetrics

    cfg = CFG.model_copy(update={"store": StoreConfig(path=store.db.path, snapshot_dir=store.db.path.parent / "s")})
    drivers = build_drivers(cfg)
    rt = GateRuntime(cfg, SITE, store, drivers.camera, drivers.reader, drivers.barrier, drivers.board,
                     GateMetrics("kb2_in"))
    load(store, permit("p1", "29C12345"))
    store.db.conn.close()  # the writer is gone: reads still work, the decision cannot be recorded
    return rt.handle(read("29C12345"))


SCENARIOS = {
    Reason.PERMIT_OK: _permit_ok,
    Reason.OPERATOR_OVERRIDE: _operator_override,
    Reason.INVALID_PLATE: _invalid_plate,
    Reason.LOW_CONFIDENCE: _low_confidence,
    Reason.NO_PERMIT: _no_permit,
    Reason.FUZZY_AMBIGUOUS: _fuzzy_ambiguous,
    Reason.FUZZY_LOW_CONFIDENCE: _fuzzy_low_confidence,
    Reason.NOT_YET_VALID: _not_yet_valid,
    Reason.EXPIRED: _expired,
    Reason.WRONG_DIRECTION: _wrong_direction,
    Reason.WRONG_FLOW: _wrong_flow,
    Reason.ANTI_PASSBACK: _anti_passback,
    Reason.PASSES_USED: _passes_used,
    Reason.WATCHLIST: _watchlist,
    Reason.YARD_FULL: _yard_full,
    Reason.STORE_UNAVAILABLE: _store_unavailable,
}


def test_every_reason_has_a_scenario():
    assert set(SCENARIOS) == set(Reason)


@pytest.mark.parametrize("reason", list(SCENARIOS), ids=str)
def test_scenario_produces_reason(reason, store, engine, clock):
    d = SCENARIOS[reason](store, engine, clock)
    assert isinstance(d, Decision)
    assert d.reason == reason
    assert d.allow == (reason in ALLOWING) == allows(reason)
    out = d.as_dict()
    assert out["reason"] == str(reason) and out["allow"] == d.allow
    if reason in PERMIT_FAILURE_ORDER or reason in (Reason.PERMIT_OK, Reason.YARD_FULL, Reason.STORE_UNAVAILABLE):
        assert d.permit_id is not None and d.trip_id == f"trip-{d.permit_id}"
    else:
        assert d.permit_id is None


# ------------------------------------------------------------------------------------ details of each rule


def test_permit_ok_details(store, engine):
    load(store, permit("p1", "29C12345", max_passes=2))
    d = engine.decide(read("29c 123.45", 0.91))
    assert (d.allow, d.reason, d.plate, d.match, d.substitutions) == (True, Reason.PERMIT_OK, "29C12345", "exact", 0)
    assert (d.permit_id, d.trip_id, d.read_text, d.confidence) == ("p1", "trip-p1", "29c 123.45", 0.91)
    assert d.alert is None and d.override is None


def test_confidence_at_the_threshold_is_enough(store, engine):
    load(store, permit("p1", "29C12345"))
    assert engine.decide(read("29C12345", 0.6)).reason == Reason.PERMIT_OK
    d = engine.decide(read("29C12345", 0.5999))
    assert d.reason == Reason.LOW_CONFIDENCE and d.detail == {"min": 0.6} and not d.allow


def test_invalid_plate_details(engine):
    d = engine.decide(read("29C12345🚚"))
    assert (d.allow, d.reason, d.plate) == (False, Reason.INVALID_PLATE, None)
    assert "not allowed" in d.detail["error"] and d.read_text == "29C12345🚚"


def test_cn_plate_exact(store, engine):
    load(store, permit("c1", "桂A12345"))
    d = engine.decide(read("桂A·12345"))
    assert (d.reason, d.plate, d.permit_id) == (Reason.PERMIT_OK, "桂A12345", "c1")


def test_fuzzy_match_accepted(store, engine):
    load(store, permit("p2", "51F06532"))
    d = engine.decide(read("51F-O65.32", 0.95))
    assert d.allow and d.reason == Reason.PERMIT_OK
    assert (d.match, d.substitutions, d.plate, d.permit_id) == ("fuzzy", 1, "51F06532", "p2")
    assert d.as_dict()["match"] == "fuzzy" and d.read_text == "51F-O65.32"


def test_fuzzy_at_its_confidence_threshold(store, engine):
    load(store, permit("p2", "51F06532"))
    assert engine.decide(read("51FO6532", 0.8)).reason == Reason.PERMIT_OK
    d = engine.decide(read("51FO6532", 0.79))
    assert (d.reason, d.match, d.substitutions, d.plate) == (Reason.FUZZY_LOW_CONFIDENCE, "fuzzy", 1, "51F06532")
    assert d.detail == {"min": 0.8} and not d.allow


def test_fuzzy_ambiguous_lists_candidates(store, engine):
    load(store, permit("p1", "29C12345"), permit("p2", "29CL2345"))
    d = engine.decide(read("29CI2345"))
    assert (d.allow, d.reason, d.match) == (False, Reason.FUZZY_AMBIGUOUS, "ambiguous")
    assert sorted(d.detail["candidates"]) == ["29C12345", "29CL2345"]
    m = engine.lookup("29CI2345")
    assert m.kind == "ambiguous" and sorted(m.candidates) == [("29C12345", 1), ("29CL2345", 1)]
    assert m.as_dict()["kind"] == "ambiguous"


def test_exact_match_wins_over_confusable_permits(store, engine):
    load(store, permit("p1", "29C12345"), permit("p2", "29CL2345"))
    m = engine.lookup("29CL2345")
    assert (m.kind, m.plate, [p.permit_id for p in m.permits]) == ("exact", "29CL2345", ["p2"])
    assert engine.decide(read("29CL2345")).permit_id == "p2"


def test_fuzzy_substitution_bound(store, clock):
    load(store, permit("p2", "51F06532"))
    three = "SIF06S32"  # S/5, I/1, S/5: three confusable substitutions away from 51F06532
    eng = DecisionEngine(store, KB2_IN, CFG.decision, clock=clock)  # max 2
    m = eng.lookup(three)
    assert m.kind == "none" and m.candidates == ()
    assert eng.decide(read(three)).reason == Reason.NO_PERMIT
    assert eng.lookup("SIF06532").kind == "fuzzy"  # two substitutions are within the bound

    eng3 = DecisionEngine(store, KB2_IN, DecisionConfig(max_fuzzy_substitutions=3), clock=clock)
    d = eng3.decide(read(three))
    assert (d.reason, d.match, d.substitutions, d.plate) == (Reason.PERMIT_OK, "fuzzy", 3, "51F06532")

    eng0 = DecisionEngine(store, KB2_IN, DecisionConfig(max_fuzzy_substitutions=0), clock=clock)
    assert eng0.lookup("51FO6532").kind == "none"
    assert eng0.decide(read("51FO6532")).reason == Reason.NO_PERMIT
    assert eng0.decide(read("51F06532")).reason == Reason.PERMIT_OK


def test_fuzzy_ambiguity_counts_only_plates_within_the_bound(store, engine):
    # Z9CLZ345 has the read's skeleton but lies 3 substitutions away: not a candidate, so the
    # plate 1 substitution away is a unique fuzzy match.
    load(store, permit("p1", "29C12345"), permit("p9", "Z9CLZ345"))
    m = engine.lookup("29CI2345")
    assert (m.kind, m.plate, m.substitutions) == ("fuzzy", "29C12345", 1)
    assert m.candidates == (("29C12345", 1),)


def test_non_confusable_difference_is_no_match(store, engine):
    load(store, permit("p1", "29C12345"))
    assert engine.decide(read("29C12346")).reason == Reason.NO_PERMIT  # 5 and 6 are not confusable


def test_validity_window_edges(store, engine, clock):
    load(store, permit("p1", "29C12345", hours=(1, 2)))
    p = store.permits.by_plate("29C12345")[0]
    clock.t = p.valid_from - 0.001
    assert engine.decide(read("29C12345")).reason == Reason.NOT_YET_VALID
    clock.t = p.valid_from
    assert engine.decide(read("29C12345")).reason == Reason.PERMIT_OK
    clock.t = p.valid_until - 0.001
    assert engine.decide(read("29C12345")).reason == Reason.PERMIT_OK
    clock.t = p.valid_until
    assert engine.decide(read("29C12345")).reason == Reason.EXPIRED


def test_wrong_direction_at_an_out_gate(store, clock):
    load(store, permit("p1", "29C12345", direction="in"))
    d = DecisionEngine(store, KB2_OUT, CFG.decision, clock=clock).decide(read("29C12345"))
    assert d.reason == Reason.WRONG_DIRECTION


def test_anti_passback_window(store, engine, clock):
    load(store, permit("p1", "29C12345", max_passes=5))
    passage(store, "29C12345", "p1", NOW - 599)
    assert engine.decide(read("29C12345")).reason == Reason.ANTI_PASSBACK
    clock.t = NOW + 2  # 601 s after the passage
    d = engine.decide(read("29C12345"))
    assert d.reason == Reason.PERMIT_OK and d.permit_id == "p1"


def test_anti_passback_applies_to_a_fuzzy_read_of_the_same_plate(store, engine):
    load(store, permit("p1", "29C12345", max_passes=5))
    passage(store, "29C12345", "p1", NOW - 10)
    d = engine.decide(read("29CI2345"))
    assert (d.reason, d.plate, d.match) == (Reason.ANTI_PASSBACK, "29C12345", "fuzzy")


def test_passes_used_counts_passages(store, engine):
    load(store, permit("p1", "29C12345", max_passes=2))
    passage(store, "29C12345", "p1", NOW - 7200)
    assert engine.decide(read("29C12345")).reason == Reason.PERMIT_OK
    passage(store, "29C12345", "p1", NOW - 3600)
    d = engine.decide(read("29C12345"))
    assert (d.reason, d.permit_id) == (Reason.PASSES_USED, "p1")


def test_watchlist_exact(store, engine):
    load(store, permit("p1", "29C99999"))
    store.watchlist.add("29C-999.99", "nghi van buon lau")
    d = engine.decide(read("29C-999.99"))
    assert (d.allow, d.reason, d.plate) == (False, Reason.WATCHLIST, "29C99999")
    assert d.alert and "29C99999" in d.alert and "nghi van buon lau" in d.alert
    assert d.detail == {"listed_plate": "29C99999", "why": "nghi van buon lau", "exact": True}
    assert d.as_dict()["alert"] == d.alert


def test_watchlist_confusable(store, engine):
    load(store, permit("p1", "29CI2345"))  # even with a permit for exactly what was read
    store.watchlist.add("29C12345", "xe bi mat cap")
    d = engine.decide(read("29CI2345"))
    assert (d.allow, d.reason) == (False, Reason.WATCHLIST)
    assert d.detail["exact"] is False and d.detail["listed_plate"] == "29C12345"
    assert d.alert is not None and "29C12345" in d.alert


def test_watchlist_wins_over_low_confidence(store, engine):
    store.watchlist.add("29C12345", "stolen")
    d = engine.decide(read("29C12345", 0.3))
    assert d.reason == Reason.WATCHLIST and d.alert


def test_override_details_and_expiry(store, engine, clock):
    store.state.add_override("桂A88888", "Nguyen Van An", "giay to kiem tra tai cho", 120)
    d = engine.decide(read("桂A88888", 0.2))  # an override does not depend on the read's confidence
    assert (d.allow, d.reason, d.plate) == (True, Reason.OPERATOR_OVERRIDE, "桂A88888")
    assert d.override is not None and d.override.operator == "Nguyen Van An"
    assert d.detail == {"operator": "Nguyen Van An", "why": "giay to kiem tra tai cho"}
    assert d.as_dict()["override"]["operator"] == "Nguyen Van An"
    clock.t = NOW + 3600  # long after its 120 s
    assert engine.decide(read("桂A88888")).reason == Reason.NO_PERMIT


def test_override_on_a_watchlisted_plate_lets_it_pass_with_an_alert(store, engine):
    store.watchlist.add("29C12345", "kiem tra")
    store.state.add_override("29C12345", "Tran Thi B", "da kiem tra tai cho", 60)
    d = engine.decide(read("29C12345"))
    assert d.reason == Reason.OPERATOR_OVERRIDE and d.allow and d.alert and "29C12345" in d.alert


def test_yard_full_and_not_full(store, engine):
    load(store, permit("p1", "29C12345"))
    store.state.set_yard("kb2", 300, 299)
    assert engine.decide(read("29C12345")).reason == Reason.PERMIT_OK
    store.state.set_yard("kb2", 300, 300)
    d = engine.decide(read("29C12345"))
    assert (d.allow, d.reason, d.permit_id) == (False, Reason.YARD_FULL, "p1")
    assert d.detail == {"yard": "kb2", "capacity": 300, "occupancy": 300}
    store.state.set_yard("kb2", 300, 301)
    assert engine.decide(read("29C12345")).reason == Reason.YARD_FULL


def test_full_yard_does_not_stop_leaving_it(store, clock):
    load(store, permit("p1", "29C12345", direction="out"))
    store.state.set_yard("kb2", 300, 300)
    d = DecisionEngine(store, KB2_OUT, CFG.decision, clock=clock).decide(read("29C12345"))
    assert d.reason == Reason.PERMIT_OK


def test_full_yard_does_not_hide_a_refusal(store, engine):
    load(store, permit("p1", "29C12345", hours=(-30, -6)))
    store.state.set_yard("kb2", 300, 300)
    assert engine.decide(read("29C12345")).reason == Reason.EXPIRED


# ------------------------------------------------------------------------------------ several permits


def test_the_valid_permit_wins(store, engine):
    load(store,
         permit("old", "29C12345", hours=(-30, -6)),
         permit("out", "29C12345", direction="out"),
         permit("imp", "29C12345", flow="import"),
         permit("good", "29C12345"),
         permit("later", "29C12345", hours=(5, 9)))
    d = engine.decide(read("29C12345"))
    assert (d.allow, d.reason, d.permit_id, d.trip_id) == (True, Reason.PERMIT_OK, "good", "trip-good")


def test_the_valid_permit_wins_when_another_is_used_up(store, engine):
    load(store, permit("a", "29C12345", max_passes=1), permit("b", "29C12345", max_passes=1))
    passage(store, "29C12345", "a", NOW - 3600)
    d = engine.decide(read("29C12345"))
    assert (d.reason, d.permit_id) == (Reason.PERMIT_OK, "b")


@pytest.mark.parametrize(
    ("permits", "reason", "pid"),
    [
        ([("wf", dict(flow="import")), ("wd", dict(direction="out"))], Reason.WRONG_DIRECTION, "wd"),
        ([("wd", dict(direction="out")), ("ex", dict(hours=(-30, -6)))], Reason.EXPIRED, "ex"),
        ([("ex", dict(hours=(-30, -6))), ("ny", dict(hours=(2, 9)))], Reason.NOT_YET_VALID, "ny"),
        ([("ny", dict(hours=(2, 9))), ("wf", dict(flow="import"))], Reason.NOT_YET_VALID, "ny"),
    ],
)
def test_all_failing_reports_the_closest_permit(store, engine, permits, reason, pid):
    load(store, *(permit(p, "29C12345", **kw) for p, kw in permits))
    d = engine.decide(read("29C12345"))
    assert (d.allow, d.reason, d.permit_id) == (False, reason, pid)


def test_used_up_permit_reported_over_an_expired_one(store, engine):
    load(store, permit("ex", "29C12345", hours=(-30, -6)), permit("used", "29C12345", max_passes=1))
    passage(store, "29C12345", "used", NOW - 3600)
    d = engine.decide(read("29C12345"))
    assert (d.reason, d.permit_id) == (Reason.PASSES_USED, "used")
