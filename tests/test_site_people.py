"""gate-sim's simulated people keep working when the service ends their sessions for idleness: an account a
run uses rarely (a small yard's operator, an agency with few steps) sits idle longer than the service's
session idle limit during a long run. A real service in a thread, on SQLite."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from cloud.auth import SESSION_IDLE
from cloud.store import schema
from cloud.store.db import utcnow
from gatesim.site.central import People
from tests.cloudsvc import CloudService


def test_people_log_in_again_when_a_session_ended_idle(tmp_path) -> None:
    svc = CloudService(tmp_path)
    try:
        people = People(svc.url, svc.db.url, svc.site, companies=1, seed=3)
        trip_id = people.declare(0, "29C-456.78", "export", [], "vải thiều")
        with svc.db.begin() as conn:  # every session of the run idle past the limit
            conn.execute(update(schema.tokens).where(schema.tokens.c.kind == "session")
                         .values(last_used_at=utcnow() - SESSION_IDLE - timedelta(seconds=5)))
        again = people.declare(0, "29C-456.79", "export", [], "vải thiều")  # logs in again, then declares
        assert again != trip_id
        assert people.call(people.companies[0], "GET", f"/api/v1/trips/{again}")["id"] == again
        step = next(s for s in svc.site.steps if s.agency != "yard_operator")
        people.confirm(again, step.id, None)  # the agency's session had ended too
        assert {people._username[t] for t in people._renewed} == {"cty1.sim", f"{step.agency.replace('_', '.')}.sim"}
    finally:
        svc.close()
