"""Central service, storage: migrations and the cursor counter on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import (  # noqa: F401  (fixtures)
    SITE,
    db,
    fast_passwords,
    pg_database,
    pg_database_exists,
    pg_reachable,
    pg_url,
)
from sqlalchemy import delete, insert, inspect, select, text

from cloud.queuecalls import calls_since
from cloud.reports import statistics
from cloud.store import schema
from cloud.store.db import MIGRATIONS, Database, next_value
from tests.conftest import service_missing

ALL_TABLES = {t.name for t in schema.metadata.sorted_tables}


def together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..n-1) in n threads released at the same instant; results in index order."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def versions(database: Database) -> list[int]:
    with database.begin() as conn:
        return sorted(conn.execute(select(schema.schema_version.c.version)).scalars())


def test_migrations_create_the_schema_and_are_idempotent(db: Database) -> None:  # noqa: F811
    # The fixture migrated once already: again changes nothing, with this object or a new one.
    assert db.migrate() == []
    again = Database(db.url)
    try:
        assert again.migrate() == []
    finally:
        again.dispose()
    assert versions(db) == sorted(MIGRATIONS) == [1, 2, 3, 4, 5, 6]
    assert set(inspect(db.engine).get_table_names()) >= ALL_TABLES
    # Data survives a re-run of the migrations.
    with db.begin() as conn:
        conn.execute(insert(schema.gates).values(id="kb2_in", name="KB2", active=True))
    assert db.migrate() == []
    with db.begin() as conn:
        assert conn.execute(select(schema.gates.c.id)).scalars().all() == ["kb2_in"]


def test_migrations_2_and_3_add_their_indexes_to_a_database_made_before_them(db: Database) -> None:  # noqa: F811
    """A database migrated to 1 before the indexes were in schema.py: migrations 2 (statistics) and 3
    (queue calls by gate) create them, and the queries they serve still answer."""
    added = {"confirmations_at": "confirmations", "trips_status_updated": "trips",
             "queue_numbers_calls": "queue_numbers"}
    with db.begin() as conn:
        for name in sorted(added):
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version.in_([2, 3])))
    names = lambda: {i["name"] for t in set(added.values()) for i in inspect(db.engine).get_indexes(t)}  # noqa: E731
    assert not names() & set(added)
    assert db.migrate() == [2, 3]
    assert names() >= set(added)
    assert versions(db) == [1, 2, 3, 4, 5, 6]
    with db.begin() as conn:
        stats = statistics(conn, SITE, days=7)
        assert calls_since(conn, "export_waiting_in", datetime(2020, 1, 1, tzinfo=timezone.utc)) == []
    assert len(stats.days) == 7 and sum(n for _, n in stats.clearance) == 0


def test_migration_6_adds_session_use_to_a_database_made_before_it(db: Database) -> None:  # noqa: F811
    """The idle timeout's column (tokens.last_used_at) joins a database that lacks it; sessions still work."""
    from cloud.auth import issue_token, principal_for

    with db.begin() as conn:
        conn.execute(text("ALTER TABLE tokens DROP COLUMN last_used_at"))
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 6))
    assert "last_used_at" not in {c["name"] for c in inspect(db.engine).get_columns("tokens")}
    assert db.migrate() == [6]
    assert "last_used_at" in {c["name"] for c in inspect(db.engine).get_columns("tokens")}
    assert db.migrate() == []
    with db.begin() as conn:
        admin = conn.execute(schema.accounts.insert().values(
            username="a", password_hash="x", role="admin", display_name="A", active=True,
            created_at=datetime.now(timezone.utc))
            .returning(schema.accounts.c.id)).scalar()
        token = issue_token(conn, account_id=admin)
        assert principal_for(conn, token) is not None


def test_concurrent_first_migrations_of_one_sqlite_file_apply_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    dbs = [Database(url) for _ in range(4)]
    try:
        applied = together(4, lambda i: dbs[i].migrate())
        assert sorted(applied) == [[], [], [], [1, 2, 3, 4, 5, 6]]
        assert versions(dbs[0]) == [1, 2, 3, 4, 5, 6]
    finally:
        for d in dbs:
            d.dispose()


def test_concurrent_first_migrations_of_one_postgresql_database_apply_once() -> None:
    why = pg_reachable()
    if why:
        service_missing(why)
    with pg_database("test_cloud_migrate") as url:
        dbs = [Database(url) for _ in range(6)]
        try:
            applied = together(6, lambda i: dbs[i].migrate())
            assert sorted(applied) == [[]] * 5 + [[1, 2, 3, 4, 5, 6]]
            with dbs[0].begin() as conn:
                rows = conn.execute(select(schema.schema_version)).all()
            assert [r.version for r in rows] == [1, 2, 3, 4, 5, 6]
            assert set(inspect(dbs[0].engine).get_table_names()) >= ALL_TABLES
            assert all(d.migrate() == [] for d in dbs)
        finally:
            for d in dbs:
                d.dispose()
        assert pg_database_exists(url)
    assert not pg_database_exists(url)  # the helper drops what it made


def test_next_value_counts_from_one_per_name_and_rolls_back_with_its_transaction(db: Database) -> None:  # noqa: F811
    with db.begin() as conn:
        assert [next_value(conn, "a") for _ in range(3)] == [1, 2, 3]
        assert next_value(conn, "b") == 1
    with pytest.raises(RuntimeError):
        with db.begin() as conn:
            assert next_value(conn, "a") == 4
            raise RuntimeError("abort")
    with db.begin() as conn:
        assert next_value(conn, "a") == 4  # the aborted value was never handed out


def test_next_value_from_many_threads_and_engines_is_unique_and_gapless(db: Database) -> None:  # noqa: F811
    others = [Database(db.url) for _ in range(2)]
    engines = [db, *others]

    def take(i: int) -> list[int]:
        got = []
        for _ in range(15):
            with engines[i % 3].begin() as conn:
                got.append(next_value(conn, "fresh_counter"))  # created by whichever thread comes first
        return got

    try:
        per_thread = together(6, take)
    finally:
        for d in others:
            d.dispose()
    flat = [v for got in per_thread for v in got]
    assert sorted(flat) == list(range(1, 91))
    assert all(got == sorted(got) for got in per_thread)  # each thread sees its own values increase
