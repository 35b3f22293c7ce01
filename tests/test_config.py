"""Configuration: the shipped Kim Thành files, error reporting, cross-references, paths and secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.config import (
    ConfigError,
    ConfigErrors,
    GateConfig,
    SiteConfig,
    load_gate_config,
    load_site_config,
    validate_file,
)
from edge.config.loader import SECRET_HINT
from edge.config.models import FolderCamera, SimCamera
from edge.config.secrets import MissingSecret, gate_token, read_secret

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config"
SITE_FILE = CONFIG / "sites" / "kim-thanh.toml"
GATE_FILES = sorted((CONFIG / "gates").glob("*.toml"))
DEV_FILES = sorted((CONFIG / "dev").glob("*.toml"))


# ------------------------------------------------------------------------------------------ helpers

SITE = """\
id = "test-site"
name = "Test site"

[[agencies]]
id = "border_guard"
name_vi = "Bộ đội Biên phòng"
name_en = "Border Guard"

[[steps]]
id = "border_check"
agency = "border_guard"
name_vi = "Kiểm tra biên phòng"
name_en = "Border check"

[[yards]]
id = "kb2"
name = "Bãi KB2"
capacity = 10

[[gates]]
id = "kb2_in"
name = "Cổng vào bãi KB2"
direction = "in"
flows = ["export"]
requires.export = ["border_check"]
records = ["arrived_kb2"]
yard = "kb2"
"""

GATE = """\
gate_id = "kb2_in"
site = "../sites/site.toml"

[camera]
type = "sim"

[reader]
type = "sim"

[barrier]
type = "sim"

[store]
path = "data/gate.db"
snapshot_dir = "data/snapshots"

[decision]
min_confidence = 0.7
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def setup_pair(tmp_path: Path, gate: str = GATE, site: str = SITE) -> Path:
    """Write a site file and a gate file pointing at it; return the gate file."""
    write(tmp_path / "sites" / "site.toml", site)
    return write(tmp_path / "gates" / "gate.toml", gate)


def errors_of(exc: pytest.ExceptionInfo[ConfigErrors]) -> list[ConfigError]:
    assert exc.value.errors, "ConfigErrors raised without any error"
    return exc.value.errors


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of ``text`` that starts with ``needle`` (after indentation)."""
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(needle):
            return no
    raise AssertionError(f"{needle!r} not in text")


# ----------------------------------------------------------------------------- the shipped files


def test_site_file_loads() -> None:
    site = load_site_config(SITE_FILE)
    assert isinstance(site, SiteConfig)
    assert site.id == "kim-thanh"
    assert {a.id for a in site.agencies} == {
        "border_guard", "customs", "plant_quarantine", "animal_quarantine", "health_quarantine",
        "transport_station", "service_centre", "yard_operator",
    }
    assert {"kb2", "yard_no2", "export_waiting", "kb1"} <= {y.id for y in site.yards}


@pytest.mark.parametrize("path", GATE_FILES + DEV_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_gate_file_loads(path: Path) -> None:
    gate, site = load_gate_config(path)
    assert isinstance(gate, GateConfig)
    assert site.id == "kim-thanh"
    assert site.gate(gate.gate_id).id == gate.gate_id
    assert validate_file(path) == []


@pytest.mark.parametrize("path", GATE_FILES, ids=lambda p: p.name)
def test_production_gate_files(path: Path) -> None:
    gate, _ = load_gate_config(path)
    assert path.stem == gate.gate_id, "a gate file is named after its gate"
    assert gate.store.path == Path("/var/lib/border-gate/gate.db")
    assert gate.store.snapshot_dir == Path("/var/lib/border-gate/snapshots")
    assert gate.sync.endpoint == "https://central.kimthanh.example"
    assert (gate.status.bind, gate.status.port) == ("127.0.0.1", 9180)
    text = path.read_text(encoding="utf-8")
    assert "LoadCredential=gate-token" in text and "GATE_TOKEN" in text


def test_every_site_gate_has_a_gate_file() -> None:
    site = load_site_config(SITE_FILE)
    site_ids = {g.id for g in site.gates}
    file_ids = {p.stem for p in GATE_FILES}
    assert site_ids == file_ids


def test_dev_profile_is_local_and_offline() -> None:
    gate, _ = load_gate_config(CONFIG / "dev" / "kb2_in.toml")
    assert gate.sync.endpoint is None
    assert gate.status.port == 0
    assert gate.store.path.resolve() == (REPO / "var" / "dev" / "kb2_in" / "gate.db").resolve()
    assert gate.store.snapshot_dir.resolve() == (REPO / "var" / "dev" / "kb2_in" / "snapshots").resolve()


def test_site_workflow_follows_the_domain() -> None:
    site = load_site_config(SITE_FILE)
    steps = {s.id: s for s in site.steps}
    # E4e: customs clears export goods in its own system; the platform only reads the result.
    assert steps["customs_cleared"].on_platform is False
    assert steps["health_quarantine_2bc"].conditional is True
    assert all(s.on_platform for sid, s in steps.items() if sid != "customs_cleared")
    # E5a: KB2 opens on the way out only for cleared goods with all office steps confirmed.
    assert set(site.gate("kb2_out").requires["export"]) >= {
        "plant_quarantine", "animal_quarantine", "health_quarantine", "transport_permit", "fee_paid",
        "customs_cleared",
    }
    # E6: yard No. 2 trucks skip kb2_out, so the waiting yard re-checks the same eligibility.
    assert set(site.gate("export_waiting_in").requires["export"]) >= set(site.gate("kb2_out").requires["export"])
    # E6: exactly one gate hands out queue numbers: the export waiting-yard entry.
    assert [g.id for g in site.gates if g.assigns_queue_number] == ["export_waiting_in"]
    # E7-E8 and I8-I9 at barrier No. 1, exit.
    b1_out = site.gate("barrier1_out")
    assert b1_out.direction == "out"
    assert set(b1_out.requires["export"]) == {"customs_export_eligible", "border_exit_check"}
    assert set(b1_out.requires["import"]) == {"transport_exit", "border_exit_check"}
    assert "exited_vn" in b1_out.records
    b1_in = site.gate("barrier1_in")
    assert b1_in.direction == "in" and set(b1_in.flows) == {"export", "import"}
    assert site.gate("kb2_in").records == ["arrived_kb2"] and site.gate("kb2_in").yard == "kb2"
    # Every gate serving a flow says what that flow requires there.
    for g in site.gates:
        assert set(g.requires) == set(g.flows), g.id


def test_site_names_keep_vietnamese_diacritics() -> None:
    site = load_site_config(SITE_FILE)
    assert site.name.startswith("Cửa khẩu")
    names = {a.id: a.name_vi for a in site.agencies}
    assert names["border_guard"] == "Bộ đội Biên phòng cửa khẩu"
    assert names["customs"] == "Cơ quan Hải quan cửa khẩu"


# --------------------------------------------------------------------------------- error reports


def test_unknown_key_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    text = GATE + "min_confidance = 0.9\n"
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.file == str(path)
    assert err.line == line_of(text, "min_confidance")
    assert err.key == "decision.min_confidance"
    assert err.reason == "unknown key"
    assert f"{path}:{err.line}: decision.min_confidance: unknown key" in str(exc.value)


def test_unknown_key_in_site_array_of_tables(tmp_path: Path) -> None:
    text = SITE.replace('records = ["arrived_kb2"]', 'records = ["arrived_kb2"]\nrequirez = []')
    path = write(tmp_path / "site.toml", text)
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(path)
    [err] = errors_of(exc)
    assert (err.key, err.reason) == ("gates[0].requirez", "unknown key")
    assert err.line == line_of(text, "requirez")


def test_value_out_of_bounds_reports_its_line(tmp_path: Path) -> None:
    text = GATE.replace("min_confidence = 0.7", "min_confidence = 2")
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.key == "decision.min_confidence"
    assert err.line == line_of(text, "min_confidence")
    assert "less than or equal to 1" in err.reason and "2" in err.reason


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    text = GATE.replace("min_confidence = 0.7", "min_confidence = -1\nanti_passback_s = -5")
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    keys = {e.key: e.line for e in errors_of(exc)}
    assert keys == {
        "decision.min_confidence": line_of(text, "min_confidence"),
        "decision.anti_passback_s": line_of(text, "anti_passback_s"),
    }


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ('gate_id = "kb2_in"', "token"),
        ("[barrier]\ntype = \"sim\"", "barrier.token"),
        ("[store]", "store.api_key"),
    ],
)
def test_secret_key_anywhere_gives_the_secrets_hint(tmp_path: Path, where: str, key: str) -> None:
    name = key.rsplit(".", 1)[-1]
    text = GATE.replace(where, f'{where}\n{name} = "s3cr3t"')
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)  # one error per secret, not also an "unknown key" one
    assert err.key == key
    assert err.reason == SECRET_HINT
    assert "LoadCredential=gate-token" in err.reason and "GATE_TOKEN" in err.reason
    assert err.line == line_of(text, f"{name} =")
    assert "s3cr3t" not in str(exc.value), "the secret's value must not be echoed"


def test_secret_key_in_site_file(tmp_path: Path) -> None:
    path = write(tmp_path / "site.toml", SITE.replace('name = "Test site"', 'name = "Test site"\npassword = "x"'))
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(path)
    assert [(e.key, e.reason) for e in errors_of(exc)] == [("password", SECRET_HINT)]


def test_malformed_toml_reports_line(tmp_path: Path) -> None:
    text = GATE.replace("[reader]", "[reader\n")
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.file == str(path)
    assert err.line == line_of(text, "[reader")
    assert err.reason.startswith("not valid TOML")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(tmp_path / "nope.toml")
    [err] = errors_of(exc)
    assert err.file == str(tmp_path / "nope.toml") and "cannot read file" in err.reason


def test_gate_id_not_in_site(tmp_path: Path) -> None:
    text = GATE.replace('gate_id = "kb2_in"', 'gate_id = "kb9_in"')
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert (err.file, err.key, err.line) == (str(path), "gate_id", 1)
    assert "kb9_in" in err.reason and "test-site" in err.reason


def test_errors_in_the_named_site_file_name_that_file(tmp_path: Path) -> None:
    path = setup_pair(tmp_path, site=SITE.replace("capacity = 10", "capacity = 0"))
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.file == str(tmp_path / "sites" / "site.toml")
    assert err.key == "yards[0].capacity"


# ------------------------------------------------------------------------- site cross-references


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('requires.export = ["border_check"]', 'requires.export = ["border_check", "fee_paid"]',
         "gate 'kb2_in' (export) requires unknown steps ['fee_paid']"),
        ('agency = "border_guard"', 'agency = "customs"', "step 'border_check' names unknown agency 'customs'"),
        ('yard = "kb2"', 'yard = "kb7"', "gate 'kb2_in' names unknown yard 'kb7'"),
        ('records = ["arrived_kb2"]\nyard = "kb2"',
         'records = ["arrived_kb2"]\nyard = "kb2"\n\n[[gates]]\nid = "kb2_in"\nname = "x"\ndirection = "out"\n'
         'flows = ["export"]',
         "duplicate gate ids: ['kb2_in']"),
    ],
    ids=["unknown-step", "unknown-agency", "unknown-yard", "duplicate-gate"],
)
def test_site_cross_references(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SITE
    path = write(tmp_path / "site.toml", SITE.replace(old, new))
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(path)
    [err] = errors_of(exc)
    assert err.file == str(path)
    assert message in err.reason


def test_requires_for_a_flow_the_gate_does_not_serve(tmp_path: Path) -> None:
    text = SITE.replace('requires.export = ["border_check"]',
                        'requires.export = ["border_check"]\nrequires.import = ["border_check"]')
    path = write(tmp_path / "site.toml", text)
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(path)
    [err] = errors_of(exc)
    assert err.key == "gates[0]"
    assert err.line == line_of(text, "[[gates]]")
    assert "['import']" in err.reason


def test_bad_flow_name_in_requires(tmp_path: Path) -> None:
    text = SITE.replace("requires.export", "requires.exprt")
    path = write(tmp_path / "site.toml", text)
    with pytest.raises(ConfigErrors) as exc:
        load_site_config(path)
    assert any(e.line == line_of(text, "requires.exprt") and "'export' or 'import'" in e.reason
               for e in errors_of(exc))


# ------------------------------------------------------------------------------- driver choice


def test_camera_type_picks_the_driver(tmp_path: Path) -> None:
    gate, _ = load_gate_config(setup_pair(tmp_path))
    assert isinstance(gate.camera, SimCamera)

    text = GATE.replace('[camera]\ntype = "sim"', '[camera]\ntype = "folder"\npath = "frames"\nloop = true')
    gate, _ = load_gate_config(setup_pair(tmp_path, gate=text))
    assert isinstance(gate.camera, FolderCamera)
    assert gate.camera.loop is True


def test_wrong_camera_type_is_reported(tmp_path: Path) -> None:
    text = GATE.replace('[camera]\ntype = "sim"', '[camera]\ntype = "usb"')
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.key == "camera"
    assert err.line == line_of(text, "[camera]")
    assert "'usb'" in err.reason and "'sim'" in err.reason and "'folder'" in err.reason


def test_driver_field_errors_name_the_file_key_not_the_union_tag(tmp_path: Path) -> None:
    text = GATE.replace('[camera]\ntype = "sim"', '[camera]\ntype = "sim"\nfps = 100\nzoom = 2')
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    found = {e.key: (e.line, e.reason) for e in errors_of(exc)}
    assert found["camera.fps"][0] == line_of(text, "fps =")
    assert "less than or equal to 60" in found["camera.fps"][1]
    assert found["camera.zoom"] == (line_of(text, "zoom ="), "unknown key")


def test_folder_camera_needs_a_path(tmp_path: Path) -> None:
    text = GATE.replace('[camera]\ntype = "sim"', '[camera]\ntype = "folder"')
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert (err.key, err.line) == ("camera.path", line_of(text, "[camera]"))
    assert "required" in err.reason.lower()


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "8.8.8.8", "gate.local"])
def test_status_endpoint_refuses_public_or_all_interfaces(tmp_path: Path, bind: str) -> None:
    text = GATE + f'\n[status]\nbind = "{bind}"\n'
    path = setup_pair(tmp_path, gate=text)
    with pytest.raises(ConfigErrors) as exc:
        load_gate_config(path)
    [err] = errors_of(exc)
    assert err.key == "status.bind" and err.line == line_of(text, "bind =")


@pytest.mark.parametrize("bind", ["127.0.0.1", "10.20.0.5", "192.168.1.10", "::1"])
def test_status_endpoint_accepts_loopback_and_gate_lan(tmp_path: Path, bind: str) -> None:
    gate, _ = load_gate_config(setup_pair(tmp_path, gate=GATE + f'\n[status]\nbind = "{bind}"\n'))
    assert gate.status.bind == bind


# ------------------------------------------------------------------------------------- paths


def test_relative_paths_resolve_against_the_gate_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GATE.replace('[camera]\ntype = "sim"', '[camera]\ntype = "folder"\npath = "frames"')
    path = setup_pair(tmp_path, gate=text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    gate, site = load_gate_config(path)
    folder = tmp_path / "gates"
    assert gate.store.path.resolve() == (folder / "data" / "gate.db").resolve()
    assert gate.store.snapshot_dir.resolve() == (folder / "data" / "snapshots").resolve()
    assert isinstance(gate.camera, FolderCamera)
    assert gate.camera.path.resolve() == (folder / "frames").resolve()
    assert gate.site.resolve() == (tmp_path / "sites" / "site.toml").resolve()
    assert site.id == "test-site"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    text = GATE.replace('path = "data/gate.db"', 'path = "/var/lib/border-gate/gate.db"')
    gate, _ = load_gate_config(setup_pair(tmp_path, gate=text))
    assert gate.store.path == Path("/var/lib/border-gate/gate.db")


def test_validate_file_tells_gate_and_site_files_apart(tmp_path: Path) -> None:
    gate_path = setup_pair(tmp_path)
    assert validate_file(gate_path) == []
    assert validate_file(tmp_path / "sites" / "site.toml") == []
    bad_site = write(tmp_path / "bad_site.toml", SITE.replace('direction = "in"', 'direction = "up"'))
    [err] = validate_file(bad_site)
    assert err.key == "gates[0].direction"
    bad_gate = write(tmp_path / "gates" / "bad.toml", GATE.replace('type = "sim"', 'type = "sim"\nfoo = 1', 1))
    [err] = validate_file(bad_gate)
    assert (err.key, err.reason) == ("camera.foo", "unknown key")


# ------------------------------------------------------------------------------------ secrets


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("GATE_TOKEN", raising=False)
    return monkeypatch


def test_secret_from_credentials_directory_first(tmp_path: Path, no_secret_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "gate-token").write_text("from-credential\n", encoding="utf-8")
    no_secret_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    no_secret_env.setenv("GATE_TOKEN", "from-env")
    assert read_secret("gate-token", "GATE_TOKEN") == "from-credential"
    assert gate_token() == "from-credential"


def test_secret_from_env_when_no_credential_file(tmp_path: Path, no_secret_env: pytest.MonkeyPatch) -> None:
    no_secret_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))  # directory without the file
    no_secret_env.setenv("GATE_TOKEN", "  from-env  ")
    assert read_secret("gate-token", "GATE_TOKEN") == "from-env"


def test_empty_credential_file_falls_back_to_env(tmp_path: Path, no_secret_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "gate-token").write_text("\n", encoding="utf-8")
    no_secret_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    no_secret_env.setenv("GATE_TOKEN", "from-env")
    assert gate_token() == "from-env"


def test_missing_secret_raises_with_hint(tmp_path: Path, no_secret_env: pytest.MonkeyPatch) -> None:
    no_secret_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    no_secret_env.setenv("GATE_TOKEN", "   ")
    with pytest.raises(MissingSecret) as exc:
        read_secret("gate-token", "GATE_TOKEN")
    assert "LoadCredential=gate-token" in str(exc.value)
    assert "GATE_TOKEN" in str(exc.value)


def test_missing_secret_without_credentials_directory(no_secret_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingSecret, match="GATE_TOKEN"):
        gate_token()
