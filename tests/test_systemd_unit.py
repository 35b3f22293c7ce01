"""The unit file keeps the promises the README makes about running under systemd."""

from __future__ import annotations

import configparser

from tests.conftest import REPO


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(REPO / "systemd" / "gate-daemon.service")
    return parser


def test_daemon_unit_is_notify_with_watchdog_and_hardening() -> None:
    svc = _unit()["Service"]
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0
    assert svc["Restart"] == "on-failure" and svc["User"] == "border-gate"
    assert svc["ProtectSystem"] == "strict" and svc["ReadWritePaths"] == "/var/lib/border-gate"
    assert "gate-token:" in (REPO / "systemd" / "gate-daemon.service").read_text()
    assert "--config /etc/border-gate/gate.toml" in svc["ExecStart"]
    assert _unit()["Unit"]["StartLimitBurst"]
