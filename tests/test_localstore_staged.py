"""Large permit deltas take the staged path (edge/localstore/staged.py): same outcome as the plain path,
refusals recorded, order kept for repeated ids, and a failure in the writer thread rolls the whole delta
back. Real SQLite files; sizes just above the threshold."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from edge.localstore import LocalStore, StoreError
from edge.localstore import permits as permits_mod
from edge.localstore import staged

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
N = permits_mod.STAGED_MIN_ROWS + 1_001  # just over the threshold, not a multiple of the chunk count


def permit(i: int, *, plate: str | None = None, **kw) -> dict:
    d = {"permit_id": f"P{i:06d}", "plate": plate or f"{10 + i % 80}C{i % 100_000:05d}", "trip_id": f"T{i}",
         "flow": "export" if i % 2 else "import", "direction": "in",
         "valid_from": T0.isoformat(), "valid_until": (T0 + timedelta(days=1 + i % 5)).isoformat(),
         "max_passes": 1 + i % 3, "company": f"Co {i % 7}", "info": {"goods": "rice", "n": i}}
    d.update(kw)
    return d


def _dump(store: LocalStore) -> list[tuple]:
    return [tuple(r) for r in store.db.query(
        "SELECT permit_id, plate, skeleton, trip_id, flow, direction, valid_from, valid_until, max_passes, company,"
        " info FROM permits ORDER BY permit_id")]


@pytest.fixture
def stores(tmp_path):
    made = []

    def make(name: str) -> LocalStore:
        s = LocalStore(tmp_path / f"{name}.db", tmp_path / f"{name}-snaps")
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_staged_path_is_available_here(stores):
    """The suite must exercise the staged path, not silently fall back to the plain one."""
    assert staged.available(stores("probe").db.conn)


def test_staged_equals_plain(stores, monkeypatch):
    base = [permit(i) for i in range(3_000)]
    delta = [permit(i, plate="51D67890" if i % 10 == 0 else None, max_passes=5) for i in range(0, N)]
    staged_store, plain_store = stores("staged"), stores("plain")
    for s in (staged_store, plain_store):
        s.permits.apply_delta(base, [], cursor=1)
    res_staged = staged_store.permits.apply_delta(delta, ["P000001", "P000002"], cursor=2)
    monkeypatch.setattr(permits_mod, "STAGED_MIN_ROWS", 10**9)
    res_plain = plain_store.permits.apply_delta(delta, ["P000001", "P000002"], cursor=2)
    assert res_staged == res_plain
    assert (res_staged.applied, res_staged.deleted) == (N, 2)
    assert _dump(staged_store) == _dump(plain_store)
    assert staged_store.permits.count() == N
    assert staged_store.permits.cursor() == 2
    # Every chunk landed: permits from the first and the last chunk are found by plate.
    assert [p.permit_id for p in staged_store.permits.by_plate(delta[-2]["plate"])] == [delta[-2]["permit_id"]]
    assert len(staged_store.permits.by_plate("51D67890")) == len([d for d in delta if d["plate"] == "51D67890"])
    # The staging schemas are gone, and the store takes ordinary writes again.
    names = {r[1] for r in staged_store.db.conn.execute("PRAGMA database_list")}
    assert names == {"main"} or names == {"main", "temp"}
    staged_store.outbox.append("decision", plate="51D67890", reason="permit_ok", payload={})
    assert staged_store.outbox.backlog() == 1


def test_staged_refusals_recorded_and_rest_applied(stores):
    store = stores("refusals")
    delta = [permit(i) for i in range(N)]
    delta[5] = permit(5, plate="29C;DROP")
    delta[-3] = permit(N - 3, valid_until=T0.isoformat())
    delta.insert(7_000, "not a permit")  # type: ignore[arg-type]
    delta.insert(9_000, permit(9_000_000, permit_id=["not", "hashable"]))
    res = store.permits.apply_delta(delta, [], cursor=9)
    assert res.applied == N - 2
    assert sorted(r["permit_id"] for r in res.rejected) == ["?", "P000005", f"P{N - 3:06d}", "['not', 'hashable']"]
    assert store.permits.count() == N - 2
    [fault] = store.outbox.search(type="fault", reason="permit_rejected")
    assert fault.payload["count"] == 4


def test_staged_repeated_id_last_wins(stores):
    store = stores("repeat")
    delta = [permit(i) for i in range(N)]
    delta.append(permit(17, plate="30A11111", max_passes=9))  # the same permit again, in another chunk
    res = store.permits.apply_delta(delta, [], cursor=3)
    assert res.applied == N + 1
    assert store.permits.count() == N
    [p] = store.permits.by_plate("30A11111")
    assert (p.permit_id, p.max_passes) == ("P000017", 9)


def test_staged_writer_failure_rolls_everything_back(stores):
    store = stores("failure")
    store.permits.apply_delta([permit(i) for i in range(10)], [], cursor=4)
    before = _dump(store)
    # A fault inside SQLite while the writer thread inserts the last chunk (as a full disk would be).
    store.db.conn.execute(
        "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.permits WHEN NEW.permit_id = 'P%06d'"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END" % (N - 1))
    with pytest.raises(StoreError):
        store.permits.apply_delta([permit(i, max_passes=7) for i in range(N)], ["P000001"], cursor=5)
    assert _dump(store) == before
    assert store.permits.cursor() == 4
    store.db.conn.execute("DROP TRIGGER boom")
    # Nothing left attached or locked: the same delta applies now.
    res = store.permits.apply_delta([permit(i, max_passes=7) for i in range(N)], [], cursor=5)
    assert res.applied == N and store.permits.count() == N


def test_staged_full_snapshot_replaces(stores):
    store = stores("full")
    store.permits.apply_delta([permit(i, plate="51D67890") for i in range(N, N + 50)], [], cursor=8)
    res = store.permits.apply_delta([permit(i) for i in range(N)], [], cursor=2, full=True)
    assert (res.applied, res.deleted) == (N, 50)
    assert store.permits.count() == N
    assert store.permits.by_plate("51D67890") == []
    assert store.permits.cursor() == 2


def test_chunks_cover_exactly():
    for n in (1, 7, 8, 9, 20_000, 20_001):
        parts = list(staged.chunks(n))
        assert len(parts) <= staged.STAGES
        assert [i for s in parts for i in range(n)[s]] == list(range(n))


def test_writer_refuses_more_chunks_than_schemas(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (a)")
    with staged.memory_schemas(conn, "st", 2) as schemas:
        conn.execute("BEGIN")
        writer = staged.StagedWriter(conn, schemas, "INSERT INTO t SELECT a FROM {schema}.s")
        for k in range(2):
            writer.put(staged.serialise("CREATE TABLE s (a)", "INSERT INTO s VALUES (?)", [(k,), (k + 10,)]))
        with pytest.raises(RuntimeError, match="more chunks"):
            writer.put(b"")
        writer.close()
        conn.execute("COMMIT")
    assert sorted(r[0] for r in conn.execute("SELECT a FROM t")) == [0, 1, 10, 11]
    conn.close()
