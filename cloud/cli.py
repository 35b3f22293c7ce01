"""``gate-cloud``: run the central service and administer it.

The database URL comes from ``--db`` or ``$GATE_CLOUD_DB`` (a PostgreSQL URL carries a password, so it
belongs in the environment, not in a file); SQLite at var/cloud/cloud.db by default.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from pathlib import Path

import click

from cloud.store.db import DEFAULT_URL, Database

REPO_SITE = Path(__file__).resolve().parent.parent / "config" / "sites" / "kim-thanh.toml"


def _db(url: str | None) -> Database:
    db = Database(url or os.environ.get("GATE_CLOUD_DB") or DEFAULT_URL)
    db.migrate()
    return db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Central service of the border gates."""


@cli.command()
@click.option("--db", help="Database URL (default $GATE_CLOUD_DB or SQLite var/cloud/cloud.db).")
@click.option("--site", type=click.Path(exists=True, path_type=Path), default=REPO_SITE, show_default=True,
              help="Site file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", type=click.IntRange(1, 65535), default=8400, show_default=True, help="Listen port.")
@click.option("--mqtt", "mqtt_url", default=None, help="MQTT broker of the live channel: host:port, or mqtts://host:port for TLS (off if unset).")
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True, help="HTTP worker processes.")
def serve(db: str | None, site: Path, host: str, port: int, mqtt_url: str | None, workers: int) -> None:
    """Run the HTTP API."""
    import uvicorn

    from edge.logs import setup

    setup("INFO")
    database = _db(db)  # migrate once, before any worker starts
    if workers > 1:
        # Worker processes each build their own app (engine, MQTT publisher) from the environment:
        # uvicorn needs an import string to start workers, and ignores ``workers`` given an app object.
        os.environ.update({"GATE_CLOUD_DB": database.url, "GATE_CLOUD_SITE": str(site),
                           "GATE_CLOUD_MQTT": mqtt_url or ""})
        database.dispose()
        uvicorn.run("cloud.cli:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_config=None, access_log=False)
        return
    uvicorn.run(_app(database, site, mqtt_url), host=host, port=port, log_config=None, access_log=False)


def _app(database: Database, site: Path, mqtt_url: str | None):  # type: ignore[no-untyped-def]
    from cloud.api.app import create_app
    from cloud.api.deps import Service
    from edge.config import load_site_config

    site_cfg = load_site_config(site)
    service = Service(database, site_cfg)
    if mqtt_url:
        from cloud.live import LivePublisher, listen_status, parse_broker, service_password
        host_, port_, tls = parse_broker(mqtt_url)
        password = service_password()
        publisher = LivePublisher(site_cfg.id, host_, port_, password=password, tls=tls)
        service.notify = publisher.permits_changed
        service.announce = publisher.queue_call
        listen_status(service, host_, port_, password=password, tls=tls)  # gates' online/offline for the monitor
    return create_app(service)


def app_from_env():  # type: ignore[no-untyped-def]
    """The app of one ``serve --workers N`` worker process (settings passed by ``serve`` in the environment)."""
    from edge.logs import setup

    setup("INFO")
    return _app(Database(os.environ["GATE_CLOUD_DB"]), Path(os.environ.get("GATE_CLOUD_SITE") or REPO_SITE),
                os.environ.get("GATE_CLOUD_MQTT") or None)


@cli.command()
@click.option("--db", help="Database URL.")
def migrate(db: str | None) -> None:
    """Create or upgrade the database schema."""
    click.echo(json.dumps({"url": _db(db).safe_url, "migrated": True}))


@cli.command("create-admin")
@click.argument("username")
@click.option("--db", help="Database URL.")
@click.option("--display-name", default="Ban quản lý khu kinh tế", show_default=True, help="Shown name.")
def create_admin(username: str, db: str | None, display_name: str) -> None:
    """Create a management-board account (password from $GATE_CLOUD_ADMIN_PASSWORD or asked for)."""
    from cloud.auth import create_account

    password = os.environ.get("GATE_CLOUD_ADMIN_PASSWORD") or getpass.getpass("password: ")
    if len(password) < 10:
        raise click.ClickException("password needs at least 10 characters")
    with _db(db).begin() as conn:
        account_id = create_account(conn, username, password, "admin", display_name)
    click.echo(json.dumps({"account_id": account_id, "username": username}))


@cli.command("gate-token")
@click.argument("gate_id")
@click.option("--db", help="Database URL.")
@click.option("--site", type=click.Path(exists=True, path_type=Path), default=REPO_SITE, show_default=True,
              help="Site file.")
def gate_token(gate_id: str, db: str | None, site: Path) -> None:
    """Register a gate and print a new device token (earlier ones are revoked); put it in the box's
    credential file, never in its config."""
    from cloud.auth import register_gate_token
    from edge.config import load_site_config

    site_cfg = load_site_config(site)
    gate = next((g for g in site_cfg.gates if g.id == gate_id), None)
    if gate is None:
        raise click.ClickException(f"gate {gate_id!r} is not in site {site_cfg.id}")
    with _db(db).begin() as conn:
        token, _ = register_gate_token(conn, gate_id, gate.name)
    click.echo(token)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    cli()
