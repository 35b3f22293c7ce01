"""End-of-run audit: every gate's outbox against the service's store against the runner's ground truth.

Pure functions over plain records (:func:`audit`), so a test can hand it tampered records and see the
loss or duplication found; :func:`read_outbox` and :func:`read_central` load the records from the
gates' and the service's SQLite files (read-only).

- **lost**: an event in a gate's outbox that the service does not hold (``lost_marked_sent``: and the
  box believes it was delivered — the serious kind);
- **duplicated**: the service holds one gate event more than once (same id twice, or two ids for
  one gate sequence number), or records one real passage twice;
- **phantom**: the service holds an event no outbox has;
- **passages_unrecorded**: the truck drove through (ground truth) but no passage event exists;
- **plate reads**: each decision taken while a truck stood at the camera, its read against the plate.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.plate.text import InvalidPlate, normalize
from gatesim.site.truth import Visit


@dataclass(frozen=True)
class Rec:
    """One gate event, as an outbox or the service holds it."""

    event_id: str
    gate: str
    seq: int
    ts: float  # epoch seconds
    type: str
    plate: str | None
    reason: str | None
    payload: dict[str, Any]
    sent: bool = False


def _epoch(ts: Any) -> float:
    """Stored times are UTC; SQLite hands them back as text, sometimes without the offset."""
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def read_outbox(gate: str, db: Path) -> list[Rec]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT event_id, seq, ts, type, plate, reason, payload, sent_at FROM events "
                            "ORDER BY seq").fetchall()
    return [Rec(r[0], gate, r[1], _epoch(r[2]), r[3], r[4], r[5], json.loads(r[6] or "{}"), r[7] is not None)
            for r in rows]


def read_central(db: Path) -> list[Rec]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT event_id, gate_id, seq, ts, type, plate, reason, payload FROM gate_events").fetchall()
    return [Rec(r[0], r[1], r[2], _epoch(r[3]), r[4], r[5], r[6],
                r[7] if isinstance(r[7], dict) else json.loads(r[7] or "{}")) for r in rows]


def _norm(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return normalize(text).text
    except InvalidPlate:
        return None


def audit(outboxes: dict[str, list[Rec]], central: list[Rec], visits: list[Visit],
          slack_s: float = 1.0) -> dict[str, Any]:
    held = {r.event_id for r in central}
    local = {r.event_id for recs in outboxes.values() for r in recs}
    lost = [r for recs in outboxes.values() for r in recs if r.event_id not in held]
    by_id = Counter(r.event_id for r in central)
    by_seq = Counter((r.gate, r.seq) for r in central)
    dup_ids = sum(n - 1 for n in by_id.values() if n > 1)
    dup_seqs = sum(n - 1 for n in by_seq.values() if n > 1) - dup_ids
    phantom = [r for r in central if r.event_id not in local]

    # ground truth: each visit's passages and decisions, matched by gate, plate and time
    passages: dict[str, list[Rec]] = defaultdict(list)
    decisions: dict[str, list[Rec]] = defaultdict(list)
    for r in {r.event_id: r for r in central}.values():
        if r.type == "passage":
            passages[r.gate].append(r)
        elif r.type == "decision":
            decisions[r.gate].append(r)
    unrecorded, dup_passages = [], 0
    matched_passages: set[str] = set()
    for v in visits:
        if not v.passed:
            continue
        plate = _norm(v.plate)
        hits = [p for p in passages[v.gate] if v.shown_ts - slack_s <= p.ts <= v.left_ts + 10.0
                and _norm(p.plate) == plate and p.event_id not in matched_passages]
        if not hits:
            unrecorded.append(v.as_dict())
        matched_passages.update(p.event_id for p in hits)
        dup_passages += max(0, len(hits) - 1)
    reads, correct = _reads(decisions, visits, slack_s)
    unexpected = [p for g in passages.values() for p in g if p.event_id not in matched_passages and p.plate]
    denials = Counter(r.reason for recs in outboxes.values() for r in recs
                      if r.type == "decision" and r.payload.get("allow") is False)
    return {
        "events_outbox": len(local), "events_central": len(held),
        "events_lost": len(lost), "events_lost_marked_sent": sum(1 for r in lost if r.sent),
        "events_duplicated": dup_ids + dup_seqs + dup_passages, "events_phantom": len(phantom),
        "passages_unrecorded": len(unrecorded), "passages_unexpected": len(unexpected),
        "plate_reads": reads, "plate_reads_correct": correct,
        "plate_accuracy": round(correct / reads, 4) if reads else None,
        "denials_by_reason": dict(sorted(denials.items())),
        "lost_sample": [r.event_id for r in lost[:5]], "unrecorded_sample": unrecorded[:5],
    }


def _reads(decisions: dict[str, list[Rec]], visits: list[Visit], slack_s: float) -> tuple[int, int]:
    """Each decision belongs to the visit that was in front of the camera when it was taken: the
    latest one shown before it, if that one had not left yet. Returns (reads, reads matching the plate)."""
    by_gate: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_gate[v.gate].append(v)
    reads = correct = 0
    for gate, recs in decisions.items():
        vs = sorted(by_gate.get(gate, []), key=lambda v: v.shown_ts)
        starts = [v.shown_ts for v in vs]
        for d in recs:
            i = bisect.bisect_right(starts, d.ts) - 1
            if i < 0 or d.ts > vs[i].left_ts + slack_s:
                continue  # no truck was in view (an operator's override, a replayed read)
            reads += 1
            correct += _norm(str(d.payload.get("read") or "")) == _norm(vs[i].plate)
    return reads, correct
