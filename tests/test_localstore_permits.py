"""Local store: permits cache (deltas, cursor, validation, lookups) and the watchlist, on real SQLite files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge.localstore import LocalStore
from edge.plate.text import InvalidPlate, skeleton

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    yield s
    s.close()


def permit(pid: str, plate: str = "29C12345", **kw) -> dict:
    d = {"permit_id": pid, "plate": plate, "trip_id": f"T-{pid}", "flow": "export", "direction": "in",
         "valid_from": T0.isoformat(), "valid_until": (T0 + timedelta(days=2)).isoformat()}
    d.update(kw)
    return d


def _faults(store):
    return store.outbox.search(type="fault", reason="permit_rejected")


# ---------------------------------------------------------------- apply_delta


def test_upsert_insert_and_fields(store):
    res = store.permits.apply_delta(
        [permit("P1", "29c-123.45", max_passes=2, company="ACME", info={"goods": "durian", "driver": "Nguyễn"})],
        [], cursor=10)
    assert (res.applied, res.deleted, res.rejected, res.cursor) == (1, 0, [], 10)
    assert store.permits.cursor() == 10
    [p] = store.permits.by_plate("29C12345")  # normalised on the way in
    assert p.permit_id == "P1" and p.trip_id == "T-P1" and p.flow == "export" and p.direction == "in"
    assert p.valid_from == T0.timestamp()
    assert p.valid_until == (T0 + timedelta(days=2)).timestamp()
    assert p.max_passes == 2 and p.company == "ACME"
    assert p.info == {"goods": "durian", "driver": "Nguyễn"}
    d = p.as_dict()
    assert datetime.fromisoformat(d["valid_from"]) == T0
    assert _faults(store) == []


def test_upsert_updates_existing(store):
    store.permits.apply_delta([permit("P1", "29C12345")], [], cursor=1)
    store.permits.apply_delta([permit("P1", "51D67890", direction="out", max_passes=3)], [], cursor=2)
    assert store.permits.count() == 1
    assert store.permits.by_plate("29C12345") == []
    [p] = store.permits.by_plate("51D67890")
    assert p.direction == "out" and p.max_passes == 3
    assert store.permits.by_skeleton(skeleton("51D67890"))[0].permit_id == "P1"


def test_delete(store):
    store.permits.apply_delta([permit("P1"), permit("P2", "51D67890"), permit("P3", "30A11111")], [], cursor=1)
    res = store.permits.apply_delta([], ["P2", "NOPE"], cursor=2)
    assert res.deleted == 1 and res.applied == 0
    assert store.permits.count() == 2
    assert store.permits.by_plate("51D67890") == []
    assert store.permits.cursor() == 2


def test_delete_then_upsert_same_id_in_one_delta(store):
    store.permits.apply_delta([permit("P1", "29C12345")], [], cursor=1)
    res = store.permits.apply_delta([permit("P1", "51D67890")], ["P1"], cursor=2)
    assert res.deleted == 1 and res.applied == 1
    assert [p.plate for p in store.permits.by_plate("51D67890")] == ["51D67890"]


def test_full_snapshot_replaces_everything(store):
    store.permits.apply_delta([permit(f"P{i}", f"29C1234{i}") for i in range(5)], [], cursor=50)
    res = store.permits.apply_delta([permit("Q1", "51D67890"), permit("Q2", "30A11111")], ["ignored"],
                                    cursor=7, full=True)
    assert res.deleted == 5 and res.applied == 2
    assert store.permits.count() == 2
    assert store.permits.by_plate("29C12340") == []
    assert store.permits.cursor() == 7  # a full snapshot may move the cursor back (server reset)


def test_cursor_starts_at_zero_and_advances(store):
    assert store.permits.cursor() == 0
    store.permits.apply_delta([], [], cursor=3)
    assert store.permits.cursor() == 3
    store.permits.apply_delta([], [], cursor=3)  # same cursor again is fine (retry)
    store.permits.apply_delta([permit("P1")], [], cursor=9)
    assert store.permits.cursor() == 9


def test_cursor_going_back_is_refused_and_nothing_applies(store):
    store.permits.apply_delta([permit("P1")], [], cursor=10)
    with pytest.raises(ValueError, match="back"):
        store.permits.apply_delta([permit("P2", "51D67890"), {"permit_id": "BAD"}], ["P1"], cursor=9)
    assert store.permits.cursor() == 10
    assert [p.permit_id for p in store.permits.by_plate("29C12345")] == ["P1"]
    assert store.permits.by_plate("51D67890") == []
    assert _faults(store) == []  # the refused delta left no trace


def test_cursor_persists_across_reopen(tmp_path):
    path = tmp_path / "box.db"
    s = LocalStore(path, tmp_path / "snaps")
    s.permits.apply_delta([permit("P1")], [], cursor=123)
    s.close()
    s = LocalStore(path, tmp_path / "snaps")
    try:
        assert s.permits.cursor() == 123
        assert s.permits.count() == 1
        with pytest.raises(ValueError):
            s.permits.apply_delta([], [], cursor=122)
    finally:
        s.close()


@pytest.mark.parametrize("bad, field", [
    (permit("J1", "29C;DROP TABLE"), "plate"),
    (permit("J2", "  "), "plate"),
    (permit("J3", valid_from="2024-05-01T08:00:00"), "valid_from"),  # naive
    (permit("J4", valid_until=T0.isoformat()), "impossible validity window"),  # until == from
    (permit("J5", valid_until=(T0 - timedelta(hours=1)).isoformat()), "impossible validity window"),
    (permit("J6", colour="red"), "colour"),  # unknown field
    (permit("J7", flow="smuggling"), "flow"),
    (permit("J8", max_passes=0), "max_passes"),
    ({"plate": "29C12345"}, "permit_id"),  # missing fields
])
def test_invalid_permit_rejected_individually(store, bad, field):
    res = store.permits.apply_delta([permit("OK1", "51D67890"), bad, permit("OK2", "30A11111")], [], cursor=5)
    assert res.applied == 2
    assert len(res.rejected) == 1
    rej = res.rejected[0]
    assert rej["permit_id"] == bad.get("permit_id", "?")
    assert field in rej["error"]
    assert store.permits.count() == 2
    assert {p.permit_id for p in store.permits.by_plate("51D67890") + store.permits.by_plate("30A11111")} == \
        {"OK1", "OK2"}
    assert store.permits.cursor() == 5

    [fault] = _faults(store)
    assert fault.type == "fault" and fault.reason == "permit_rejected"
    assert fault.payload["count"] == 1
    assert fault.payload["permits"][0]["permit_id"] == rej["permit_id"]


def test_naive_datetime_object_rejected(store):
    res = store.permits.apply_delta([permit("N1", valid_from=datetime(2024, 5, 1, 8, 0))], [], cursor=1)
    assert res.applied == 0 and res.rejected[0]["permit_id"] == "N1"
    assert "timezone" in res.rejected[0]["error"]
    assert store.permits.count() == 0
    assert len(_faults(store)) == 1


def test_non_dict_upsert_rejected(store):
    res = store.permits.apply_delta(["junk", None, permit("OK")], [], cursor=1)
    assert res.applied == 1
    assert [r["permit_id"] for r in res.rejected] == ["?", "?"]
    assert _faults(store)[0].payload["count"] == 2


def test_many_rejections_are_capped_in_the_fault_payload(store):
    bad = [permit(f"B{i}", "!!") for i in range(80)]
    res = store.permits.apply_delta(bad, [], cursor=1)
    assert len(res.rejected) == 80 and res.applied == 0
    [fault] = _faults(store)
    assert fault.payload["count"] == 80
    assert len(fault.payload["permits"]) == 50


def test_timezone_offsets_are_kept_as_instants(store):
    ict = timezone(timedelta(hours=7))
    store.permits.apply_delta([permit("P1", valid_from=T0.astimezone(ict).isoformat(),
                                      valid_until=(T0 + timedelta(hours=5)).astimezone(ict).isoformat())],
                              [], cursor=1)
    [p] = store.permits.by_plate("29C12345")
    assert p.valid_from == T0.timestamp()
    assert p.valid_until - p.valid_from == 5 * 3600


# ---------------------------------------------------------------- lookups


def test_lookup_by_plate_and_skeleton(store):
    store.permits.apply_delta([
        permit("P1", "29C12345"),
        permit("P2", "29C12345", direction="out"),
        permit("P3", "29C1Z345"),  # confusable with 29C12345 (2/Z)
        permit("P4", "51D67890"),
    ], [], cursor=1)
    assert {p.permit_id for p in store.permits.by_plate("29C12345")} == {"P1", "P2"}
    assert {p.permit_id for p in store.permits.by_skeleton(skeleton("29C12345"))} == {"P1", "P2", "P3"}
    assert {p.permit_id for p in store.permits.by_skeleton(skeleton("Z9CIZ34S"))} == {"P1", "P2", "P3"}
    assert store.permits.by_plate("29C12346") == []
    assert store.permits.by_skeleton(skeleton("99Z99999")) == []


def test_cn_plate_permit(store):
    store.permits.apply_delta([permit("C1", "桂A·12345", flow="import")], [], cursor=1)
    [p] = store.permits.by_plate("桂A12345")
    assert p.flow == "import"


def test_hundred_thousand_permits_apply(store):
    vf, vu = T0.isoformat(), (T0 + timedelta(days=30)).isoformat()
    ups = [{"permit_id": f"P{i}", "plate": f"29C{i:05d}", "trip_id": f"T{i}", "flow": "export",
            "direction": "in", "valid_from": vf, "valid_until": vu} for i in range(100_000)]
    res = store.permits.apply_delta(ups, [], cursor=100_000, full=True)
    assert res.applied == 100_000 and res.rejected == []
    assert store.permits.count() == 100_000
    assert store.permits.cursor() == 100_000
    [p] = store.permits.by_plate("29C54321")
    assert p.permit_id == "P54321"
    # skeleton index finds the confusable spelling too
    assert "P54321" in {q.permit_id for q in store.permits.by_skeleton(skeleton("Z9C5432I"))}


# ---------------------------------------------------------------- watchlist


def test_watchlist_add_match_remove(store):
    assert store.watchlist.add("29c-123.45", "stolen") == "29C12345"
    rows = store.watchlist.match("29C12345")
    assert [(r["plate"], r["reason"]) for r in rows] == [("29C12345", "stolen")]
    assert store.watchlist.match("51D67890") == []

    assert store.watchlist.remove("29C 12345") is True
    assert store.watchlist.match("29C12345") == []
    assert store.watchlist.remove("29C12345") is False


def test_watchlist_add_twice_updates_reason(store):
    store.watchlist.add("29C12345", "stolen")
    store.watchlist.add("29C12345", "unpaid fines")
    assert [(r["plate"], r["reason"]) for r in store.watchlist.match("29C12345")] == [("29C12345", "unpaid fines")]
    assert store.db.query("SELECT count(*) FROM watchlist")[0][0] == 1


def test_watchlist_confusable_match_exact_first(store):
    store.watchlist.add("29C1Z345", "confusable twin")
    store.watchlist.add("29C12345", "stolen")
    store.watchlist.add("51D67890", "other")
    rows = store.watchlist.match("29C12345")
    assert [r["plate"] for r in rows] == ["29C12345", "29C1Z345"]
    rows = store.watchlist.match("29C1Z345")
    assert [r["plate"] for r in rows] == ["29C1Z345", "29C12345"]
    # an OCR read with several confusions still hits both, neither exact
    rows = store.watchlist.match("Z9CIZ34S")
    assert {r["plate"] for r in rows} == {"29C12345", "29C1Z345"}


def test_watchlist_refuses_junk(store):
    with pytest.raises(InvalidPlate):
        store.watchlist.add("29C;--", "x")
    assert store.db.query("SELECT count(*) FROM watchlist")[0][0] == 0


def test_watchlist_persists(tmp_path):
    path = tmp_path / "box.db"
    s = LocalStore(path, tmp_path / "snaps")
    s.watchlist.add("29C12345", "stolen")
    s.close()
    s = LocalStore(path, tmp_path / "snaps")
    try:
        assert [r["reason"] for r in s.watchlist.match("29C12345")] == ["stolen"]
    finally:
        s.close()
