"""``gate-sim site --chaos``: daemons SIGKILLed and restarted, uplinks cut, PLCs restarted, a full disk,
corrupt camera streams, all while trucks flow; the audit still finds nothing lost or duplicated,
no arm closed on a truck, and every truck that was cleared (declared, not refused) left the site.

The drain is long (the run ends as soon as the site is empty, so it costs nothing when all is well):
a truck caught behind a fault needs time to finish, and "cleared but never passed" must mean stuck,
not "the run stopped watching"."""

from __future__ import annotations

from pathlib import Path

from tests.test_site import run_site


def test_a_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    s = run_site(tmp_path / "run", "--minutes", "10", "--chaos", "--chaos-every", "0.7", "--seed", "3",
                 "--drain-s", "150", timeout=480)
    assert s["_rc"] == 0, s["_stderr"][-3000:]
    kinds = {f["kind"] for f in s["faults"] if "error" not in f}
    assert len(s["faults"]) >= 5 and len(kinds) >= 3, s["faults"]
    assert not [f for f in s["faults"] if "error" in f]
    assert s["events_lost"] == 0 and s["events_duplicated"] == 0 and s["unsafe_closes"] == 0
    assert s["audit"]["events_lost_marked_sent"] == 0 and s["audit"]["events_phantom"] == 0
    assert s["outboxes_synced"] and s["audit"]["events_outbox"] == s["audit"]["events_central"]
    assert s["trucks_completed"] >= 5
    assert s["trucks_cleared_not_completed"] == 0 and s["trucks_in_site_at_end"] == 0, s["trucks_spawned"]
    if "kill" in kinds:
        assert sum(g["kills"] for g in s["per_gate"].values()) >= 1
