"""gatectl: status, events, permits lookup, override, watchlist, barrier, sync, config validate, selftest.

Works beside a running daemon: it reads the same SQLite file (WAL allows concurrent readers) and asks
the daemon's local status endpoint for live state. It never creates or moves the daemon's database.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import requests

from edge.barrier.commands import run_direct, submit, wait
from edge.config import ConfigErrors, load_gate_config, validate_file
from edge.config.models import GateConfig, SiteConfig
from edge.daemon import runtime_file
from edge.decision import DecisionEngine
from edge.gatectl.selftest import run_selftest
from edge.localstore import LocalStore, StoreError
from edge.plate.text import InvalidPlate, normalize

DEFAULT_CONFIG = "/etc/border-gate/gate.toml"


def emit(obj: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str) if as_json else human(obj))


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")(f)


class Ctx:
    def __init__(self, config: Path):
        self.config_path = config
        self._loaded: tuple[GateConfig, SiteConfig] | None = None

    def load(self) -> tuple[GateConfig, SiteConfig]:
        if self._loaded is None:
            try:
                self._loaded = load_gate_config(self.config_path)
            except ConfigErrors as exc:
                raise click.ClickException(f"configuration errors:\n{exc}") from exc
        return self._loaded

    def store(self) -> LocalStore:
        cfg, _ = self.load()
        try:
            return LocalStore.from_config(cfg.store.model_copy(update={"on_corrupt": "refuse"}), create=False)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc

    def daemon(self) -> dict[str, Any] | None:
        """Live status from the running daemon, or None when it is not running/reachable."""
        cfg, _ = self.load()
        try:
            info = json.loads(runtime_file(cfg).read_text(encoding="utf-8"))
            headers = {}
            token = os.environ.get("GATE_STATUS_TOKEN")
            if token:
                headers["Authorization"] = f"Bearer {token}"
            r = requests.get(info["status_url"] + "/status", timeout=2, headers=headers)
            r.raise_for_status()
            return r.json()
        except (OSError, ValueError, KeyError, requests.RequestException):
            return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", type=click.Path(path_type=Path), envvar="GATE_CONFIG", default=DEFAULT_CONFIG,
              show_default=True, help="Gate configuration file (or $GATE_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config: Path) -> None:
    """Technician's tool for a border-gate box."""
    ctx.obj = Ctx(config)


# ------------------------------------------------------------------------------------------ status


@cli.command()
@json_option
@click.pass_obj
def status(obj: Ctx, as_json: bool) -> None:
    """Daemon state, store figures and the last decision."""
    cfg, site = obj.load()
    store = obj.store()
    try:
        from edge.sync import SyncState
        last = store.outbox.tail(1)
        sync_state = SyncState(store.db).status()
        out = {"gate_id": cfg.gate_id, "site": site.id, "daemon": obj.daemon(),
               "store": {"path": str(cfg.store.path), "outbox_backlog": store.outbox.backlog(),
                         "permits": store.permits.count(), "permits_cursor": store.permits.cursor(),
                         "last_event": last[0].as_dict() if last else None},
               "sync": {"endpoint": cfg.sync.endpoint, "state": sync_state["state"],
                        "last_success": sync_state["last_success"], "sync_age_s": sync_state["sync_age_s"],
                        "last_error": sync_state["last_error"]}}
    finally:
        store.close()

    def human(o: dict[str, Any]) -> str:
        d = o["daemon"]
        lines = [f"gate {o['gate_id']} ({o['site']})",
                 f"daemon   {'running, pid %s, up %ss, %s' % (d['pid'], d['uptime_s'], 'healthy' if d['healthy'] else 'DEGRADED') if d else 'NOT RUNNING'}"]
        if d:
            lines.append(f"barrier  {d['barrier']['position']}, loop {'occupied' if d['barrier']['loop_occupied'] else 'clear'}")
            lines.append(f"camera   {d['camera']['fps']:.1f} fps")
        s = o["store"]
        lines.append(f"store    {s['path']}: {s['permits']} permits (cursor {s['permits_cursor']}), "
                     f"{s['outbox_backlog']} events unsent")
        if s["last_event"]:
            e = s["last_event"]
            lines.append(f"last     #{e['seq']} {e['ts']} {e['type']} {e['plate'] or ''} {e['reason'] or ''}")
        y = o["sync"]
        if not y["endpoint"]:
            lines.append("sync     off (no sync.endpoint: offline box)")
        else:
            err = y["last_error"] or {}
            lines.append(f"sync     {y['state']}, last success {y['last_success'] or 'never'}"
                         + (f"; last error {err.get('at')}: {err.get('message')}"
                            if y["state"] not in ("ok", "never") else ""))
        return "\n".join(lines)

    emit(out, as_json, human)


# ------------------------------------------------------------------------------------------ events


def _event_line(e: dict[str, Any]) -> str:
    sent = "sent" if e["sent_at"] else "unsent"
    return f"#{e['seq']:<7} {e['ts'][:23]} {e['type']:<9} {e['plate'] or '-':<12} {e['reason'] or '-':<22} {sent}"


def _utc(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time") from exc
    if dt.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a timezone (e.g. +07:00 or Z)")
    return dt.astimezone(timezone.utc).isoformat()


@cli.group()
def events() -> None:
    """Tail and search the event outbox."""


@events.command("tail")
@click.option("-n", "count", type=click.IntRange(1, 10000), default=20, show_default=True, help="How many.")
@json_option
@click.pass_obj
def events_tail(obj: Ctx, count: int, as_json: bool) -> None:
    """The newest events, oldest first."""
    store = obj.store()
    try:
        rows = [e.as_dict() for e in store.outbox.tail(count)]
    finally:
        store.close()
    emit({"events": rows}, as_json, lambda o: "\n".join(_event_line(e) for e in o["events"]) or "(no events)")


@events.command("search")
@click.option("--plate", help="Plate (any spelling; normalised).")
@click.option("--type", "etype", help="Event type: decision, passage, barrier, alert, override, fault, system.")
@click.option("--reason", help="Reason, e.g. no_permit, watchlist.")
@click.option("--since", help="ISO-8601 time with timezone.")
@click.option("--until", help="ISO-8601 time with timezone.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True, help="Most rows.")
@json_option
@click.pass_obj
def events_search(obj: Ctx, plate: str | None, etype: str | None, reason: str | None, since: str | None,
                  until: str | None, limit: int, as_json: bool) -> None:
    """Events matching every given filter."""
    if plate:
        try:
            plate = normalize(plate).text
        except InvalidPlate as exc:
            raise click.BadParameter(str(exc), param_hint="--plate") from exc
    store = obj.store()
    try:
        rows = [e.as_dict() for e in store.outbox.search(plate=plate, type=etype, reason=reason, since=_utc(since),
                                                          until=_utc(until), limit=limit)]
    finally:
        store.close()
    emit({"events": rows}, as_json, lambda o: "\n".join(_event_line(e) for e in o["events"]) or "(no events)")


# ------------------------------------------------------------------------------------------ permits


@cli.group()
def permits() -> None:
    """Inspect the permits cache."""


@permits.command("lookup")
@click.argument("plate")
@json_option
@click.pass_obj
def permits_lookup(obj: Ctx, plate: str, as_json: bool) -> None:
    """How PLATE matches the cached permits (exact, fuzzy over OCR-confusable characters, or not)."""
    cfg, site = obj.load()
    try:
        text = normalize(plate).text
    except InvalidPlate as exc:
        raise click.BadParameter(str(exc), param_hint="PLATE") from exc
    store = obj.store()
    try:
        m = DecisionEngine(store, site.gate(cfg.gate_id), cfg.decision).lookup(text)
        out = m.as_dict() | {"input": plate, "watchlist": [dict(r) for r in store.watchlist.match(text)]}
    finally:
        store.close()

    def human(o: dict[str, Any]) -> str:
        lines = [f"{o['input']!r} normalised to {o['query']}"]
        how = {"exact": "exact match", "fuzzy": f"fuzzy match on {o['plate']} ({o['substitutions']} confusable "
               "character(s) differ)", "ambiguous": "AMBIGUOUS: several confusable plates", "none": "no permit"}
        lines.append(how[o["kind"]])
        for c in o["candidates"]:
            lines.append(f"  candidate {c['plate']} ({c['substitutions']} substitution(s))")
        for p in o["permits"]:
            lines.append(f"  permit {p['permit_id']} trip {p['trip_id']} {p['flow']}/{p['direction']} "
                         f"{p['valid_from']} .. {p['valid_until']}")
        for w in o["watchlist"]:
            lines.append(f"  WATCHLIST {w['plate']}: {w['reason']}")
        return "\n".join(lines)

    emit(out, as_json, human)


# ------------------------------------------------------------------------------------------ override / watchlist


@cli.command()
@click.argument("plate")
@click.option("--operator", required=True, help="Who authorises (name or staff id).")
@click.option("--reason", required=True, help="Why the truck may pass.")
@json_option
@click.pass_obj
def override(obj: Ctx, plate: str, operator: str, reason: str, as_json: bool) -> None:
    """Let PLATE pass once within the override window, whatever the permits say (audited)."""
    cfg, _ = obj.load()
    try:
        text = normalize(plate).text
    except InvalidPlate as exc:
        raise click.BadParameter(str(exc), param_hint="PLATE") from exc
    store = obj.store()
    try:
        event = store.state.add_override(text, operator, reason, cfg.decision.override_ttl_s)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    emit(event.as_dict(), as_json, lambda e: f"override for {text} by {operator} recorded (event #{e['seq']}), "
         f"valid {cfg.decision.override_ttl_s:.0f} s")


@cli.group()
def watchlist() -> None:
    """Local watchlist (plates to stop and report)."""


@watchlist.command("add")
@click.argument("plate")
@click.option("--reason", required=True, help="Why the plate is listed.")
@json_option
@click.pass_obj
def watchlist_add(obj: Ctx, plate: str, reason: str, as_json: bool) -> None:
    """Add PLATE to the watchlist."""
    store = obj.store()
    try:
        text = store.watchlist.add(plate, reason)
    except InvalidPlate as exc:
        raise click.BadParameter(str(exc), param_hint="PLATE") from exc
    finally:
        store.close()
    emit({"plate": text, "reason": reason}, as_json, lambda o: f"{o['plate']} added to the watchlist")


# ------------------------------------------------------------------------------------------ barrier


@cli.group()
def barrier() -> None:
    """Move the barrier by hand (audited) or test a full cycle."""


def _barrier_command(obj: Ctx, action: str, operator: str, reason: str, timeout: float, as_json: bool) -> None:
    """Through the running daemon when there is one (it owns the device); else straight to the device."""
    cfg, _ = obj.load()
    if obj.daemon() is not None:
        store = obj.store()
        try:
            command_id = submit(store, action, operator, reason)
            row = wait(store, command_id, timeout)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            store.close()
        if row is None:
            raise click.ClickException(f"the daemon did not finish command #{command_id} within {timeout:.0f} s")
        out = {"via": "daemon", "command_id": command_id, "status": row["status"], "result": row["result"]}
    else:
        if not operator.strip() or not reason.strip():
            raise click.ClickException("a barrier command needs the operator's identity and a reason")
        result = run_direct(cfg, action, operator, reason, timeout)
        out = {"via": "direct", "status": "done" if result.get("ok") else "failed", "result": result}

    def human(o: dict[str, Any]) -> str:
        r = o["result"]
        timing = ", ".join(f"{k} {r[k]} s" for k in ("open_s", "close_s") if k in r)
        return f"barrier {action}: {o['status']} (via {o['via']})" + (f": {timing}" if timing else "") + (
            f" - {r['why']}" if r.get("why") else "")

    emit(out, as_json, human)
    if out["status"] != "done":
        sys.exit(1)


def _barrier_options(f: Callable) -> Callable:
    f = click.option("--operator", required=True, help="Who acts (name or staff id).")(f)
    f = click.option("--reason", required=True, help="Why (recorded in the audit event).")(f)
    f = click.option("--timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
                     help="Seconds to wait for the barrier.")(f)
    return json_option(f)


@barrier.command("open")
@_barrier_options
@click.pass_obj
def barrier_open(obj: Ctx, operator: str, reason: str, timeout: float, as_json: bool) -> None:
    """Raise the arm and hold it up until `barrier close`."""
    _barrier_command(obj, "open", operator, reason, timeout, as_json)


@barrier.command("close")
@_barrier_options
@click.pass_obj
def barrier_close(obj: Ctx, operator: str, reason: str, timeout: float, as_json: bool) -> None:
    """Lower the arm (waits for a clear loop: never closes on a vehicle)."""
    _barrier_command(obj, "close", operator, reason, timeout, as_json)


@barrier.command("test")
@_barrier_options
@click.pass_obj
def barrier_test(obj: Ctx, operator: str, reason: str, timeout: float, as_json: bool) -> None:
    """Run one full open/close cycle and report the arm's travel times."""
    _barrier_command(obj, "test", operator, reason, timeout, as_json)


# ------------------------------------------------------------------------------------------ sync


@cli.group()
def sync() -> None:
    """The link to the central service: what is waiting, what the last rounds did, a round now."""


def _sync_figures(store: LocalStore) -> dict[str, Any]:
    from edge.sync import SyncState
    state = SyncState(store.db)
    return {"outbox_backlog": store.outbox.backlog(), "unsynced_snapshots": store.snapshots.unsynced_count(),
            "permits": store.permits.count(), "permits_cursor": store.permits.cursor(), **state.status(),
            "rejected": state.rejected(10)}


def _sync_human(o: dict[str, Any]) -> str:
    err = o.get("last_error") or {}
    lines = [f"endpoint   {o['endpoint'] or 'NOT SET (offline box)'}",
             f"state      {o['state']}" + (f" (since {err.get('at')})" if o["state"] not in ("ok", "never") else ""),
             f"last ok    {o['last_success'] or 'never'}"
             + (f" ({o['sync_age_s']} s ago)" if o["sync_age_s"] is not None else ""),
             f"backlog    {o['outbox_backlog']} events unsent, {o['unsynced_snapshots']} snapshots unsynced",
             f"permits    {o['permits']} cached, cursor {o['permits_cursor']}"]
    if err:
        lines.append(f"last error {err.get('at')} {err.get('kind')}: {err.get('message')}")
    if o.get("rejected_events"):
        lines.append(f"REFUSED    {o['rejected_events']} event(s) refused by the service (kept unsent; see --json)")
    d = o.get("daemon")
    if d is not None:
        live = d.get("live")
        lines.append(f"daemon     sync thread {'running' if d.get('running') else 'NOT RUNNING'}"
                     + (f", live channel {'connected' if live['connected'] else 'DISCONNECTED'} ({live['broker']})"
                        if live else ", live channel off") + (f" - {d['problem']}" if d.get("problem") else ""))
    return "\n".join(lines)


@sync.command("status")
@json_option
@click.pass_obj
def sync_status(obj: Ctx, as_json: bool) -> None:
    """Backlog, unsynced snapshots, permits cursor, last success and last error (from the store, so it
    works whether the daemon runs or not; the daemon's sync thread and live channel when it runs)."""
    cfg, _ = obj.load()
    store = obj.store()
    try:
        out = {"endpoint": cfg.sync.endpoint, **_sync_figures(store)}
    finally:
        store.close()
    daemon = obj.daemon()
    out["daemon"] = daemon.get("sync") if daemon else None
    emit(out, as_json, _sync_human)


@sync.command("now")
@json_option
@click.pass_obj
def sync_now(obj: Ctx, as_json: bool) -> None:
    """Run one sync round from here (pull permits, push events and snapshots) against the daemon's store.

    Safe beside a running daemon: the service stores each event once and marking sent is idempotent.
    The gate token comes from $CREDENTIALS_DIRECTORY/gate-token or $GATE_TOKEN, as for the daemon.
    """
    from edge.config.secrets import MissingSecret, gate_token
    from edge.sync import SyncClient

    cfg, site = obj.load()
    if not cfg.sync.endpoint:
        raise click.ClickException("sync.endpoint is not set in the gate file: this box is configured offline")
    try:
        token = gate_token()
    except MissingSecret as exc:
        raise click.ClickException(str(exc)) from exc
    store = obj.store()
    try:
        client = SyncClient(cfg.sync, store, site.id, cfg.gate_id, token)
        try:
            result = client.sync_once()
        finally:
            client.close()
        out = result.as_dict() | {"endpoint": cfg.sync.endpoint, "after": _sync_figures(store)}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()

    def human(o: dict[str, Any]) -> str:
        p, q = o["push"], o["pull"]
        head = (f"sync {'OK' if o['ok'] else 'FAILED'} in {o['duration_s']} s"
                + ("" if o["ok"] else f": {o['state']}: {o['error']}"))
        return "\n".join([
            head,
            f"pulled     {q['pages']} page(s){' (full snapshot)' if q['full'] else ''}: {q['upserts']} permits in, "
            f"{q['deletes']} out, cursor {q['cursor']}",
            f"pushed     {p['events_sent']} events in {p['batches']} request(s), {p['snapshots_uploaded']} snapshots"
            + (f"; {p['refused']} refused" if p["refused"] else ""),
            f"left       {o['after']['outbox_backlog']} events, {o['after']['unsynced_snapshots']} snapshots"])

    emit(out, as_json, human)
    if not result.ok:
        sys.exit(1)


# ------------------------------------------------------------------------------------------ config


@cli.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def config_validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Check gate or site files; name the file, line, key and reason of every error."""
    errors = [e for f in files for e in validate_file(f)]
    out = {"ok": not errors, "files": [str(f) for f in files], "errors": [e.__dict__ for e in errors]}
    emit(out, as_json, lambda o: "\n".join(str(e) for e in errors) if errors else f"{len(files)} file(s) valid")
    if errors:
        sys.exit(1)


# ------------------------------------------------------------------------------------------ selftest


@cli.command()
@json_option
@click.pass_obj
def selftest(obj: Ctx, as_json: bool) -> None:
    """Store, disk, clock, camera, barrier and cloud reachability, each pass/fail with a hint."""
    cfg, _ = obj.load()
    last_ts = None
    try:
        store = obj.store()
        try:
            tail = store.outbox.tail(1)
            last_ts = tail[0].ts if tail else None
        finally:
            store.close()
    except click.ClickException:
        pass  # reported by the store check itself
    checks = run_selftest(cfg, obj.daemon(), last_ts)
    out = {"ok": all(c.status != "fail" for c in checks), "checks": [c.as_dict() for c in checks]}

    def human(o: dict[str, Any]) -> str:
        return "\n".join(f"{c['status'].upper():<5} {c['name']:<8} {c['detail']}" + (f"\n      hint: {c['hint']}"
                         if c["hint"] else "") for c in o["checks"])

    emit(out, as_json, human)
    if not out["ok"]:
        sys.exit(1)


from edge.gatectl.camera_cmd import camera  # noqa: E402  (registered after the core commands)
from edge.gatectl.plate_cmd import plate  # noqa: E402

cli.add_command(plate)
cli.add_command(camera)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
