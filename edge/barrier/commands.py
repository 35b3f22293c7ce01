"""Technician commands for the barrier (open, close, test), passed from gatectl to the running daemon
through the box's database: the request and its audit event commit together, the daemon picks it up,
and the result is written back to the same row for gatectl to report."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from edge.barrier.safety import BarrierController
from edge.localstore import LocalStore, StoreError
from edge.localstore.outbox import insert_event

log = logging.getLogger(__name__)
ACTIONS = ("open", "close", "test")


def submit(store: LocalStore, action: str, operator: str, reason: str) -> int:
    """Queue a command for the daemon, audited (who, why) in the same transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown barrier action {action!r}")
    if not operator.strip() or not reason.strip():
        raise ValueError("a barrier command needs the operator's identity and a reason")
    now = datetime.now(timezone.utc).isoformat()
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO barrier_commands (action, operator, reason, requested_at) VALUES (?,?,?,?)",
                           (action, operator.strip(), reason.strip(), now))
        command_id = int(cur.lastrowid or 0)
        insert_event(conn, "command", reason=f"barrier_{action}",
                     payload={"command_id": command_id, "operator": operator.strip(), "why": reason.strip()})
    return command_id


def wait(store: LocalStore, command_id: int, timeout_s: float) -> dict[str, Any] | None:
    """The command's row once done or failed, or None if the daemon did not finish it in time."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        rows = store.db.query("SELECT * FROM barrier_commands WHERE id = ?", (command_id,))
        if rows and rows[0]["status"] in ("done", "failed"):
            row = dict(rows[0])
            row["result"] = json.loads(row["result"] or "{}")
            return row
        time.sleep(0.05)
    return None


class CommandQueue:
    """The daemon's side: pick up pending commands and hand them to the barrier's state machine."""

    def __init__(self, store: LocalStore, controller: BarrierController, every_s: float = 0.25):
        self.store = store
        self.controller = controller
        self.every_s = every_s
        self._next = 0.0

    def poll(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        try:
            rows = self.store.db.query(
                "SELECT id, action, operator, reason FROM barrier_commands WHERE status = 'pending' ORDER BY id")
            for row in rows:
                with self.store.transaction() as conn:
                    conn.execute("UPDATE barrier_commands SET status = 'running' WHERE id = ?", (row["id"],))
                self.controller.request(row["action"], command_id=row["id"], operator=row["operator"],
                                        why=row["reason"])
        except StoreError as exc:
            log.error("barrier_commands_unreadable", extra={"error": str(exc)})

    def done(self, data: dict[str, Any]) -> None:
        command_id = data.get("command_id")
        if command_id is None:
            return
        result = data.get("result", {})
        try:
            with self.store.transaction() as conn:
                conn.execute("UPDATE barrier_commands SET status = ?, result = ?, done_at = ? WHERE id = ?",
                             ("done" if result.get("ok") else "failed", json.dumps(result),
                              datetime.now(timezone.utc).isoformat(), command_id))
        except StoreError as exc:
            log.error("barrier_command_result_lost", extra={"error": str(exc), "command_id": command_id})


def run_direct(cfg: "GateConfig", action: str, operator: str, reason: str, timeout_s: float) -> dict[str, Any]:
    """Drive the device without a daemon (installation, or the daemon stopped): same state machine.

    The audit trail goes to the log only, since the store belongs to the daemon and may not exist yet.
    """
    from edge.drivers import build_barrier
    from edge.sim.world import Lane

    driver = build_barrier(cfg, Lane() if cfg.barrier.type == "sim" else None)
    controller = BarrierController(driver, cfg.safety)
    log.warning("barrier_direct_command", extra={"action": action, "operator": operator, "why": reason})
    try:
        controller.start()
        req = controller.request(action, operator=operator, why=reason)
        if not req.done.wait(timeout_s):
            return {"ok": False, "why": f"not finished within {timeout_s:.0f} s", "state": str(controller.state)}
        return req.result
    finally:
        controller.stop()
        driver.release()


from edge.config.models import GateConfig  # noqa: E402  (type of run_direct's argument; no import cycle)
