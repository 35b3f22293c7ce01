"""Local store: an event acknowledged by append() survives kill -9 of the process (real subprocess)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge.localstore import LocalStore

REPO = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from edge.localstore import LocalStore

    store = LocalStore(Path(sys.argv[1]), Path(sys.argv[2]))
    print("ready", flush=True)
    i = 0
    while True:
        if i % 10 == 0:
            # a multi-statement transaction too: state change and its event commit together
            with store.transaction() as conn:
                store.state.record_passage(conn, "29C12345", "P1", at=1000.0 + i)
                ev = store.record(conn, "passage", plate="29C12345", payload={"i": i, "pad": "x" * 300})
        else:
            ev = store.outbox.append("read", plate="29C12345", payload={"i": i, "pad": "x" * 300})
        # printed only after the commit (fsync) has returned
        print(ev.seq, ev.event_id, i, flush=True)
        i += 1
""")


def _run_and_kill(tmp_path: Path, lines_wanted: int) -> list[tuple[int, str, int]]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "box.db"), str(tmp_path / "snaps")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)
    acked: list[tuple[int, str, int]] = []
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == "ready", (first, proc.stderr.read() if proc.poll() is not None else "")
        deadline = time.monotonic() + 20
        while len(acked) < lines_wanted:
            line = proc.stdout.readline()
            assert line, f"writer died early: {proc.stderr.read()}"
            seq, eid, i = line.split()
            acked.append((int(seq), eid, int(i)))
            assert time.monotonic() < deadline, "writer too slow"
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: it keeps appending while we read
        proc.wait(timeout=10)
        # lines already in the pipe were acknowledged too
        for line in proc.stdout.read().splitlines():
            parts = line.split()
            if len(parts) == 3:  # a line cut by the kill is not an acknowledgement
                acked.append((int(parts[0]), parts[1], int(parts[2])))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill(tmp_path):
    acked = _run_and_kill(tmp_path, lines_wanted=300)
    assert len(acked) >= 300
    assert [a[0] for a in acked] == list(range(1, len(acked) + 1))

    # the kill left the WAL behind: recovery happens on open, without quarantine
    assert (tmp_path / "box.db-wal").exists()
    conn = sqlite3.connect(str(tmp_path / "box.db"))
    assert [r[0] for r in conn.execute("PRAGMA quick_check")] == ["ok"]
    conn.close()

    store = LocalStore(tmp_path / "box.db", tmp_path / "snaps", on_corrupt="refuse")
    try:
        assert store.db.quarantined is None
        rows = {r["seq"]: (r["event_id"], r["payload"]) for r in store.db.query("SELECT seq, event_id, payload FROM events")}
        for seq, eid, i in acked:
            assert seq in rows, f"acknowledged seq {seq} lost"
            assert rows[seq][0] == eid
            assert f'"i":{i},' in rows[seq][1]
        # nothing beyond at most the one write in flight when killed
        assert max(rows) <= len(acked) + 1
        assert sorted(rows) == list(range(1, max(rows) + 1))  # no holes
        # every committed passage event has its passage row, and vice versa
        passage_events = store.outbox.search(type="passage", limit=100_000)
        assert store.state.passes_used("P1") == len(passage_events)
        assert [r[0] for r in store.db.query("PRAGMA quick_check")] == ["ok"]
        # and the store carries on from where it stopped
        assert store.outbox.append("boot").seq == max(rows) + 1
    finally:
        store.close()
