"""The live view of a site run: a redrawn table on a terminal, a plain progress line every few seconds
otherwise (logs, CI), nothing with ``none``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from gatesim.site.stats import percentile

if TYPE_CHECKING:
    from gatesim.site.orchestrator import SiteRun


def _hms(sim_s: float) -> str:
    s = int(sim_s)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LiveView:
    def __init__(self, run: "SiteRun", out: TextIO, mode: str = "auto", every_s: float = 10.0):
        if mode not in ("auto", "tty", "lines", "none"):
            raise ValueError("view must be auto, tty, lines or none")
        if mode == "auto":
            mode = "tty" if out.isatty() else "lines"
        self.run, self.out, self.mode = run, out, mode
        self.every_s = 1.0 if mode == "tty" else every_s
        self._last = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.mode == "none" or (not force and now - self._last < self.every_s):
            return
        self._last = now
        if self.mode == "tty":
            self.out.write("\x1b[H\x1b[J" + "\n".join(self.table()) + "\n")
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()

    def _head(self) -> tuple[str, dict[str, int], float | None]:
        r = self.run
        assert r.clock and r.sched
        counts = r.ledger.counts()
        lag = percentile(r.sched.lags[-2000:], 95)
        return _hms(r.clock.now()), counts, lag

    def line(self) -> str:
        sim, c, lag = self._head()
        queues = {g: lane.queued() for g, lane in self.run.lanes.items()}
        busiest = max(queues, key=lambda g: queues[g]) if queues else "-"
        backlog = sum(rig.backlog() or 0 for rig in self.run.rigs.values())
        down = [g for g, rig in self.run.rigs.items() if not rig.alive()]
        return (f"[sim {sim}] trucks {c['spawned']} arrived, {c['in_site']} on site, {c['completed']} done, "
                f"{c['turned_away']} turned away | passes {sum(ln.passed for ln in self.run.lanes.values())} | "
                f"longest queue {queues.get(busiest, 0)} at {busiest} | outbox backlog {backlog} | "
                f"lag p95 {lag or 0:.3f}s" + (f" | down: {','.join(down)}" if down else ""))

    def table(self) -> list[str]:
        sim, c, lag = self._head()
        r = self.run
        assert r.central
        lines = [f"gate-sim site {r.site.id}   sim {sim} (x{r.opts.speed:g})   central {r.central.url}   "
                 f"lag p95 {lag or 0:.3f}s",
                 f"trucks: {c['spawned']} arrived · {c['in_site']} on site · {c['completed']} completed · "
                 f"{c['turned_away']} turned away",
                 "", f"{'gate':<20}{'queue':>6}{'passed':>8}{'refused':>8}{'backlog':>8}{'permits':>8}  daemon"]
        for gid, rig in r.rigs.items():
            lane = r.lanes[gid]
            lines.append(f"{gid:<20}{lane.queued():>6}{lane.passed:>8}{lane.refused:>8}{rig.backlog() or 0:>8}"
                         f"{rig.permits():>8}  {'up' if rig.alive() else 'DOWN'}")
        if r.chaos and r.chaos.log:
            lines += ["", "recent faults: " + "; ".join(f"{f['kind']} {f['gate']} @{f['at_sim_min']}m"
                                                        for f in r.chaos.log[-4:])]
        return lines
