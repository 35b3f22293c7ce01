"""``gate-sim site``: the command line of the whole-site run (the only place here that prints)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from gatesim.site.orchestrator import RunOptions, SiteRun
from gatesim.site.plan import PlanError

REPO = Path(__file__).resolve().parents[3]


@click.command("site")
@click.option("--config", "site_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=REPO / "config" / "sites" / "kim-thanh.toml", show_default=True, help="Site file")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
              help="Simulated minutes during which trucks arrive (then the trucks on site finish)")
@click.option("--speed", type=click.FloatRange(0.1, 10_000), default=60.0, show_default=True,
              help="Simulated seconds per real second")
@click.option("--gates", default=None, help="Comma-separated gate ids to run (default: every gate of the site)")
@click.option("--rate", type=click.FloatRange(min=1), default=None,
              help="Trucks per day (default: the traffic file's trucks_per_day)")
@click.option("--traffic", "traffic_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Traffic file (routes, mix, times); default: the one for the site")
@click.option("--chaos", is_flag=True, help="Kill daemons, cut links, restart PLCs, fill disks, corrupt cameras")
@click.option("--chaos-every", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Mean simulated minutes between two faults (with --chaos)")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of traffic and faults")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=REPO / "var" / "site",
              show_default=True, help="Folder for the service's and gates' files (emptied first)")
@click.option("--drain-s", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="After arrivals stop, real seconds the trucks on site get to finish")
@click.option("--view", type=click.Choice(["auto", "tty", "lines", "none"]), default="auto", show_default=True,
              help="Live view: redrawn table (tty), a progress line every few seconds (lines), or none")
@click.option("--openvino-gates", default="",
              help="Comma-separated gates whose box reads the camera's pixels with the OpenVINO reader "
                   "(the others read the stream's truth header with an error model)")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout")
def command(site_path: Path, minutes: float, speed: float, gates: str | None, rate: float | None,
            traffic_path: Path | None, chaos: bool, chaos_every: float, seed: int, workdir: Path, drain_s: float, view: str,
            openvino_gates: str, as_json: bool) -> None:
    """The whole site: central service, a gate daemon per gate on simulated hardware, truck traffic, audit."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    opts = RunOptions(site_path=site_path.resolve(), workdir=workdir.resolve(), minutes=minutes, speed=speed,
                      gates=[g.strip() for g in gates.split(",") if g.strip()] if gates else None,
                      rate_per_day=rate, traffic_path=traffic_path, chaos=chaos, seed=seed, drain_s=drain_s,
                      view=view, chaos_every_min=chaos_every,
                      openvino_gates=[g.strip() for g in openvino_gates.split(",") if g.strip()])
    try:
        run = SiteRun(opts, out=sys.stderr)
    except (ValueError, PlanError) as exc:
        raise click.ClickException(str(exc)) from exc
    summary = run.run()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        click.echo(render(summary))
    bad = summary["events_lost"] or summary["events_duplicated"] or summary["unsafe_closes"]
    sys.exit(1 if bad else 0)


def render(s: dict) -> str:
    c = s["clearance_min"]
    lines = [
        f"site {s['site']}: {len(s['gates'])} gates, {s['sim_minutes']} simulated minutes in {s['real_s']} s "
        f"(x{s['speed']:g}){' with chaos' if s['chaos'] else ''}",
        f"trucks: {s['trucks_spawned']} arrived, {s['trucks_completed']} completed, {s['trucks_turned_away']} "
        f"turned away, {s['trucks_in_site_at_end']} still on site",
        f"clearance: mean {c['mean']} min, p95 {c['p95']} min (n={c['n']})",
        f"plates read correctly: {s['plate_accuracy']} of {s['plate_reads']} reads",
        f"denials by reason: {s['denials_by_reason']}",
        f"events: {s['audit']['events_outbox']} in outboxes, {s['audit']['events_central']} at the service, "
        f"lost {s['events_lost']}, duplicated {s['events_duplicated']}; passages unrecorded "
        f"{s['audit']['passages_unrecorded']}",
        f"unsafe barrier closures: {s['unsafe_closes']}",
        f"runner lag p95 {s['lag_s']['p95']} s, max {s['lag_s']['max']} s ({'kept up' if s['kept_up'] else 'FELL BEHIND'}); "
        f"gate queue wait p95 {s['gate_queue_wait_s']['p95']} s",
    ]
    if s["faults"]:
        lines.append(f"faults injected: {len(s['faults'])} "
                     f"({', '.join(sorted({f['kind'] for f in s['faults']}))})")
    return "\n".join(lines)
