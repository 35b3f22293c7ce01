"""gatectl: every command has help and --json; commands work on a real store, beside a running daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edge.config.models import OpenVinoReader
from edge.gatectl.cli import cli
from edge.localstore import LocalStore
from tests.conftest import REPO


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _leaf_commands(cmd, prefix + (name,))
        else:
            out.append((prefix + (name,), cmd))
    return out


LEAVES = _leaf_commands(cli)


def test_there_are_the_commands_technicians_need() -> None:
    names = {" ".join(p) for p, _ in LEAVES}
    assert {"status", "events tail", "events search", "permits lookup", "config validate", "selftest",
            "override", "watchlist add"} <= names


@pytest.mark.parametrize("path", [p for p, _ in LEAVES] + [("events",), ("permits",), ("config",), ()],
                         ids=lambda p: " ".join(p) or "gatectl")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


@pytest.mark.parametrize("path,cmd", LEAVES, ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_command_takes_json(path: tuple[str, ...], cmd: click.Command) -> None:
    assert "--json" in {opt for p in cmd.params for opt in getattr(p, "opts", [])}


@pytest.fixture
def filled(gate_file: Path) -> Path:
    store = LocalStore(gate_file.parent / "var" / "gate.db", gate_file.parent / "var" / "snapshots")
    now = datetime.now(timezone.utc)
    store.permits.apply_delta([{"permit_id": "p1", "plate": "51F-065.32", "trip_id": "t1", "flow": "export",
                                "direction": "in", "valid_from": (now - timedelta(hours=1)).isoformat(),
                                "valid_until": (now + timedelta(hours=1)).isoformat()}], [], cursor=7)
    store.outbox.append("decision", plate="51F06532", reason="permit_ok", payload={"allow": True})
    store.outbox.append("decision", plate="29C12345", reason="no_permit", payload={"allow": False})
    store.close()
    return gate_file


def run(gate_file: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(gate_file), *args])


def test_permits_lookup_explains_a_fuzzy_match(filled: Path) -> None:
    result = run(filled, "permits", "lookup", "51f-O65.32", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["kind"] == "fuzzy" and out["plate"] == "51F06532" and out["substitutions"] == 1
    assert out["permits"][0]["permit_id"] == "p1"
    human = run(filled, "permits", "lookup", "51F-065.32")
    assert "exact match" in human.output


def test_permits_lookup_refuses_junk(filled: Path) -> None:
    result = run(filled, "permits", "lookup", "29C;DROP TABLE")
    assert result.exit_code == 2 and "not allowed in a plate" in result.output


def test_events_tail_and_search(filled: Path) -> None:
    out = json.loads(run(filled, "events", "tail", "-n", "1", "--json").output)
    assert [e["plate"] for e in out["events"]] == ["29C12345"]
    found = json.loads(run(filled, "events", "search", "--plate", "51f 065 32", "--json").output)
    assert [e["reason"] for e in found["events"]] == ["permit_ok"]
    none = json.loads(run(filled, "events", "search", "--since", "2999-01-01T00:00:00+00:00", "--json").output)
    assert none["events"] == []
    naive = run(filled, "events", "search", "--since", "2026-01-01T00:00:00")
    assert naive.exit_code == 2 and "timezone" in naive.output


def test_status_without_daemon(filled: Path) -> None:
    out = json.loads(run(filled, "status", "--json").output)
    assert out["daemon"] is None
    assert out["store"]["permits"] == 1 and out["store"]["permits_cursor"] == 7
    assert out["store"]["outbox_backlog"] == 2
    assert "NOT RUNNING" in run(filled, "status").output


def test_override_is_audited_and_needs_who_and_why(filled: Path) -> None:
    missing = run(filled, "override", "29C-123.45", "--operator", "tran.b")
    assert missing.exit_code == 2 and "--reason" in missing.output
    blank = run(filled, "override", "29C-123.45", "--operator", " ", "--reason", "x")
    assert blank.exit_code == 1
    ok = run(filled, "override", "29C-123.45", "--operator", "tran.b", "--reason", "giấy tờ đủ", "--json")
    event = json.loads(ok.output)
    assert event["type"] == "override" and event["payload"]["operator"] == "tran.b"
    assert event["payload"]["why"] == "giấy tờ đủ"


def test_watchlist_add_then_lookup_shows_it(filled: Path) -> None:
    assert run(filled, "watchlist", "add", "29C-999.99", "--reason", "kiểm tra").exit_code == 0
    out = json.loads(run(filled, "permits", "lookup", "29C-999.99", "--json").output)
    assert out["watchlist"][0]["plate"] == "29C99999"


def test_missing_store_is_an_error_and_is_not_created(gate_file: Path) -> None:
    result = run(gate_file, "events", "tail")
    assert result.exit_code == 1 and "no such database" in result.output
    assert not (gate_file.parent / "var" / "gate.db").exists()


def test_config_validate_names_file_line_key(tmp_path: Path) -> None:
    bad = tmp_path / "g.toml"
    bad.write_text('gate_id = "kb2_in"\nsite = "../x.toml"\n\n[decision]\nmin_confidence = 7\n')
    result = CliRunner().invoke(cli, ["config", "validate", str(bad), "--json"])
    assert result.exit_code == 1
    errors = json.loads(result.output)["errors"]
    assert {"file": str(bad), "line": 5, "key": "decision.min_confidence"}.items() <= next(
        e for e in errors if e["key"] == "decision.min_confidence").items()
    shipped = sorted(str(p) for p in (REPO / "config").rglob("*.toml"))
    ok = CliRunner().invoke(cli, ["config", "validate", *shipped])
    assert ok.exit_code == 0, ok.output


def test_selftest_reports_each_check(filled: Path) -> None:
    result = run(filled, "selftest", "--json")
    out = json.loads(result.output)
    by_name = {c["name"]: c for c in out["checks"]}
    assert set(by_name) == {"store", "disk", "clock", "camera", "barrier", "plate models", "cloud"}
    assert by_name["store"]["status"] == "pass"
    assert by_name["plate models"]["status"] == "pass"  # sim reader: nothing to load
    assert by_name["camera"]["status"] == "warn" and by_name["camera"]["hint"]
    assert result.exit_code == 0


def test_selftest_loads_the_plate_models_of_an_openvino_reader(tmp_path: Path) -> None:
    from edge.config import load_gate_config
    from edge.gatectl.selftest import check_plate_models
    from tests.conftest import write_gate_file
    cfg, _ = load_gate_config(write_gate_file(tmp_path / "box"))
    ok = check_plate_models(cfg.model_copy(update={"reader": OpenVinoReader(type="openvino")}))
    assert ok.status == "pass" and "test plate read" in ok.detail
    bad = check_plate_models(cfg.model_copy(update={"reader": OpenVinoReader(
        type="openvino", recognizer=tmp_path / "missing.xml")}))
    assert bad.status == "fail" and "missing.xml" in bad.detail and bad.hint
    assert "province reader compiled" in ok.detail


def test_selftest_loads_the_province_reader_only_when_the_reader_uses_it(tmp_path: Path, monkeypatch) -> None:
    from edge.config import load_gate_config
    from edge.gatectl.selftest import check_plate_models
    from edge.plate import openvino_reader
    from tests.conftest import write_gate_file
    cfg, _ = load_gate_config(write_gate_file(tmp_path / "box"))
    monkeypatch.setattr(openvino_reader, "PROVINCE_MODEL", tmp_path / "gone" / "province.xml")
    bad = check_plate_models(cfg.model_copy(update={"reader": OpenVinoReader(type="openvino")}))
    assert bad.status == "fail" and "province.xml" in bad.detail and bad.hint
    off = check_plate_models(cfg.model_copy(update={"reader": OpenVinoReader(type="openvino", province_reader=False)}))
    assert off.status == "pass" and "province" not in off.detail


def test_selftest_fails_on_unreachable_cloud(tmp_path: Path) -> None:
    from tests.conftest import write_gate_file
    gate_file = write_gate_file(tmp_path / "box", extra='\n[sync]\nendpoint = "http://127.0.0.1:9"\ntimeout_s = 1\n')
    LocalStore(gate_file.parent / "var" / "gate.db", gate_file.parent / "var" / "snapshots").close()
    result = run(gate_file, "selftest", "--json")
    cloud = next(c for c in json.loads(result.output)["checks"] if c["name"] == "cloud")
    assert cloud["status"] == "fail" and "offline" in cloud["hint"]
    assert result.exit_code == 1


def test_gatectl_beside_a_running_daemon(gate_file: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(gate_file)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runtime = gate_file.parent / "var" / "daemon.json"
        end = time.monotonic() + 20
        while not runtime.exists() and time.monotonic() < end:
            time.sleep(0.05)
        env = dict(os.environ, GATE_CONFIG=str(gate_file))
        live = subprocess.run([sys.executable, "-m", "edge.gatectl.cli", "status", "--json"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=30)
        out = json.loads(live.stdout)
        assert out["daemon"]["pid"] == proc.pid and out["daemon"]["barrier"]["position"] == "closed"
        tail = subprocess.run([sys.executable, "-m", "edge.gatectl.cli", "events", "tail", "--json"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=30)
        first = json.loads(tail.stdout)["events"][:2]
        assert [(e["type"], e["reason"]) for e in first] == [("barrier", "power_up"), ("system", "started")]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_barrier_test_without_daemon_drives_the_device_directly(filled: Path) -> None:
    result = run(filled, "barrier", "test", "--operator", "tech.le", "--reason", "install check", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["via"] == "direct" and out["status"] == "done"
    assert out["result"]["open_s"] > 0 and out["result"]["close_s"] > 0


def test_barrier_commands_go_through_a_running_daemon_and_are_audited(gate_file: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(gate_file)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, GATE_CONFIG=str(gate_file))

    def gatectl(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "edge.gatectl.cli", *args, "--json"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    try:
        runtime = gate_file.parent / "var" / "daemon.json"
        end = time.monotonic() + 20
        while not runtime.exists() and time.monotonic() < end:
            time.sleep(0.05)
        test = gatectl("barrier", "test", "--operator", "tech.le", "--reason", "monthly check")
        assert test["via"] == "daemon" and test["status"] == "done" and test["result"]["close_s"] > 0
        opened = gatectl("barrier", "open", "--operator", "tech.le", "--reason", "oversize load")
        assert opened["status"] == "done"
        assert gatectl("status")["daemon"]["barrier"]["state"] == "held_open"
        closed = gatectl("barrier", "close", "--operator", "tech.le", "--reason", "done")
        assert closed["status"] == "done"
        commands = gatectl("events", "search", "--type", "command")["events"]
        assert [(e["reason"], e["payload"]["operator"]) for e in commands] == [
            ("barrier_test", "tech.le"), ("barrier_open", "tech.le"), ("barrier_close", "tech.le")]
        manual = [e["reason"] for e in gatectl("events", "search", "--type", "barrier")["events"]]
        assert "manual_open" in manual and "manual_close" in manual
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
