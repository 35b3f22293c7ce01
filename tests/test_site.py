"""``gate-sim site``: the whole site as real processes (service, gate daemons over Modbus/TCP, MJPEG and
HTTP), truck traffic through the export and import flows, and the end-of-run audit — including proof
that the audit does find a lost and a duplicated event."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gatesim.site.audit import audit, read_central, read_outbox
from gatesim.site.cli import command as site_command
from gatesim.site.truth import Visit
from tests.conftest import REPO

FAST = REPO / "hardware-sim" / "gatesim" / "site" / "kim-thanh-fast.toml"
GATES = "barrier1_in,kb1_in,kb1_out,barrier1_out"


def run_site(workdir: Path, *extra: str, timeout: float = 240) -> dict[str, Any]:
    cmd = [str(Path(sys.executable).with_name("gate-sim")), "site", "--gates", GATES, "--speed", "30", "--rate", "1500",
           "--traffic", str(FAST), "--view", "lines", "--drain-s", "60", "--workdir", str(workdir), "--json", *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.stdout.strip(), done.stderr[-3000:]
    summary = json.loads(done.stdout)
    summary["_rc"], summary["_stderr"] = done.returncode, done.stderr
    return summary


@pytest.fixture(scope="module")
def site_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    workdir = tmp_path_factory.mktemp("site") / "run"
    return run_site(workdir, "--minutes", "8", "--seed", "1"), workdir


def test_trucks_cross_the_site_and_nothing_is_lost_duplicated_or_closed_on_a_truck(site_run) -> None:
    s, workdir = site_run
    assert s["_rc"] == 0, s["_stderr"][-3000:]
    assert s["trucks_spawned"] >= 4 and s["trucks_completed"] >= 3
    assert s["trucks_completed"] + s["trucks_turned_away"] + s["trucks_in_site_at_end"] == s["trucks_spawned"]
    assert s["events_lost"] == 0 and s["events_duplicated"] == 0 and s["unsafe_closes"] == 0
    assert s["audit"]["passages_unrecorded"] == 0 and s["audit"]["events_phantom"] == 0
    assert s["audit"]["events_outbox"] == s["audit"]["events_central"] > 0 and s["outboxes_synced"]
    assert s["plate_reads"] >= s["trucks_completed"] and s["plate_accuracy"] >= 0.8
    assert s["clearance_min"]["n"] == s["trucks_completed"] and s["clearance_min"]["p95"] >= s["clearance_min"]["mean"] > 0
    assert s["kept_up"] and s["lag_s"]["n"] > 0
    assert sum(g["passed"] for g in s["per_gate"].values()) >= 4 * s["trucks_completed"] - 1
    assert "central service http://127.0.0.1:" in s["_stderr"] and "[sim " in s["_stderr"]  # live view lines
    assert (workdir / "summary.json").exists() and (workdir / "truth.json").exists()


def _records(workdir: Path) -> tuple[dict[str, list], list, list[Visit]]:
    gates = GATES.split(",")
    outboxes = {g: read_outbox(g, workdir / "gates" / g / "gate.db") for g in gates}
    central = read_central(workdir / "central" / "cloud.db")
    visits = [Visit(**v) for v in json.loads((workdir / "truth.json").read_text())["visits"]]
    return outboxes, central, visits


def test_the_audit_finds_a_lost_and_a_duplicated_event(site_run) -> None:
    _, workdir = site_run
    outboxes, central, visits = _records(workdir)
    clean = audit(outboxes, central, visits)
    assert clean["events_lost"] == 0 and clean["events_duplicated"] == 0 and clean["passages_unrecorded"] == 0

    passage = next(r for r in central if r.type == "passage")
    dropped = [r for r in central if r.event_id != passage.event_id]  # the service lost one event
    lost = audit(outboxes, dropped, visits)
    assert lost["events_lost"] == 1 and lost["lost_sample"] == [passage.event_id]
    assert lost["passages_unrecorded"] == 1  # ...and the ground truth misses that passage

    twice = central + [dataclasses.replace(passage, event_id="00000000-0000-7000-8000-000000000000")]
    dup = audit(outboxes, twice, visits)  # the same gate event stored again under another id
    assert dup["events_duplicated"] >= 1 and dup["events_phantom"] == 1 and dup["events_lost"] == 0

    again = audit(outboxes, central + [central[0]], visits)  # one row stored twice
    assert again["events_duplicated"] == 1


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(site_command, ["--gates", "kb2_in,nope", "--workdir", str(tmp_path / "w")])
    assert r.exit_code != 0 and "gates ['nope'] are not in site kim-thanh" in r.output
    bad = tmp_path / "traffic.toml"
    bad.write_text(FAST.read_text().replace('"kb1_out", "barrier1_out"]', '"kb1_out", "kb9"]'))
    r = CliRunner().invoke(site_command, ["--traffic", str(bad), "--workdir", str(tmp_path / "w")])
    assert r.exit_code != 0 and "gate 'kb9' is not in site kim-thanh" in r.output
    assert not (tmp_path / "w").exists()  # refused before anything started


def test_generated_plates_are_valid_unique_and_not_confusable_with_each_other() -> None:
    import random
    from types import SimpleNamespace

    from edge.plate.text import normalize, skeleton
    from gatesim.site.traffic import Traffic

    fake = SimpleNamespace(rng=random.Random(5), plan=SimpleNamespace(two_row_share=0.3), _plates=set(),
                           _skeletons=set())
    plates = [Traffic._plate(fake, kind) for kind in ["vn", "cn"] * 500]  # type: ignore[arg-type]
    normalized = [normalize(p).text for p in plates]  # raises on a plate the grammar refuses
    assert len(set(normalized)) == len({skeleton(n) for n in normalized}) == 1000
    assert any(" " in p for p in plates) and any(not p.isascii() for p in plates)


def test_gates_can_read_the_camera_pixels_with_the_openvino_reader(tmp_path: Path) -> None:
    """Two of the four boxes read plates from the MJPEG stream's pixels (no truth header used)."""
    workdir = tmp_path / "ov"
    s = run_site(workdir, "--minutes", "6", "--seed", "2", "--openvino-gates", "barrier1_in,kb1_in")
    assert s["_rc"] == 0, s["_stderr"][-3000:]
    for gate in ("barrier1_in", "kb1_in"):
        assert 'type = "openvino"' in (workdir / "gates" / gate / f"{gate}.toml").read_text()
        assert s["per_gate"][gate]["passed"] >= 1
    assert 'type = "truth"' in (workdir / "gates" / "kb1_out" / "kb1_out.toml").read_text()
    assert s["trucks_completed"] >= 1 and s["events_lost"] == 0 and s["events_duplicated"] == 0
    assert s["plate_accuracy"] >= 0.8


def test_openvino_gates_must_be_gates_of_the_run(tmp_path: Path) -> None:
    r = CliRunner().invoke(site_command, ["--gates", "kb1_in", "--openvino-gates", "kb2_in",
                                          "--workdir", str(tmp_path / "w")])
    assert r.exit_code != 0 and "kb2_in" in r.output
