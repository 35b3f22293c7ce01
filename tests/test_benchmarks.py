"""Benchmarks CLI: each benchmark runs at tiny sizes and prints one JSON object of sane figures.

No timing thresholds here: the goals belong to the benchmark output (``meets_goal``), not to unit tests.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.data import MISS_CN_PROVINCES, MISS_VN_CODES, confuse, miss_plate, permit_chunks, utc_now
from benchmarks.stats import latency_ms, percentile
from edge.plate.text import normalize, skeleton, substitutions

REPO = Path(__file__).resolve().parents[1]


def bench(*args: str, timeout: float = 120) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args, "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode in (0, 3), proc.stderr  # 3: ran, but missed a goal
    out = proc.stdout.strip()
    assert out.count("\n") == 0, f"stdout must be one JSON line, got: {out!r}"
    result = json.loads(out)
    assert isinstance(result, dict)
    assert proc.returncode == (0 if result["meets_goal"] else 3)
    assert result["host"]["cpus"] >= 1 and result["host"]["load_1m_after"] >= 0
    return result


def test_help_lists_benchmarks() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("decision", "store", "daemon"):
        assert name in proc.stdout


def test_unknown_benchmark_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "nonsense"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_decision_tiny(tmp_path: Path) -> None:
    r = bench("decision", "--permits", "3000", "--decisions", "400", "--chunk", "1000", "--dir", str(tmp_path))
    assert r["benchmark"] == "decision"
    assert r["permits"] == 3000 and r["decisions"] == 400
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert r["goal_p99_ms"] == 1.0 and r["meets_goal"] == (r["p99_ms"] <= 1.0)
    assert sum(r["mix"].values()) == 400 and set(r["mix"]) <= {"exact", "fuzzy", "miss", "low_confidence", "watchlist"}
    assert {"exact", "fuzzy", "miss"} <= set(r["mix"])
    assert sum(r["reasons"].values()) == 400
    assert r["reasons"].get("no_permit", 0) >= r["mix"]["miss"]  # misses are built never to match
    assert r["reasons"].get("permit_ok", 0) > 0
    assert list(tmp_path.iterdir()) == []  # temporary store removed


def test_store_tiny(tmp_path: Path) -> None:
    r = bench("store", "--events", "200", "--delta", "2000", "--base-permits", "3000", "--dir", str(tmp_path))
    assert r["benchmark"] == "store"
    assert r["events"] == 200 and r["events_stored"] == 200 and r["events_per_s"] > 0
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert r["delta_rows"] == 2000 and r["delta_applied"] == 2000 and r["delta_rejected"] == 0
    # two deltas, each a fifth updates of cached permits and the rest new
    assert r["base_permits"] == 3000 and r["permits_after"] == 3000 + 2 * (2000 - 400)
    assert r["permit_delta_s"] > 0 and r["permit_delta_with_lookups_s"] > 0
    assert r["lookup_max_ms_during_delta"] >= 0 and r["lookups_during_delta"] >= 0
    assert r["goal_events_per_s"] == 500 and r["goal_permit_delta_s"] == 2
    assert r["meets_goal"] == (r["events_per_s"] >= 500 and r["permit_delta_s"] <= 2)
    assert list(tmp_path.iterdir()) == []


def test_daemon_tiny(tmp_path: Path) -> None:
    r = bench("daemon", "--permits", "500", "--run-s", "1", "--dir", str(tmp_path))
    assert r["benchmark"] == "daemon"
    assert r["status_permits"] == 500 and r["healthy"] is True
    assert 10 < r["rss_start_mb"] <= r["hwm_mb"] and 10 < r["rss_mb"] <= r["hwm_mb"]
    assert r["exit_code"] == 0 and r["runtime_file_removed"] is True and r["clean_exit"] is True
    assert r["shutdown_s"] > 0 and r["startup_s"] > 0
    assert r["goal_rss_mb"] == 150 and r["meets_goal"] == (r["hwm_mb"] <= 150)
    assert list(tmp_path.iterdir()) == []


def test_plain_output_is_a_summary(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "decision", "--permits", "500", "--decisions", "50",
                           "--dir", str(tmp_path), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 3), proc.stderr
    assert "p99_ms" in proc.stdout and not proc.stdout.lstrip().startswith("{")
    assert proc.stderr == ""


# ------------------------------------------------------------------ generated data and statistics


def test_generated_permits_are_valid_and_deterministic() -> None:
    now = utc_now()
    a = [p for chunk in permit_chunks(2000, 700, seed=5, now=now) for p in chunk]
    b = [p for chunk in permit_chunks(2000, 700, seed=5, now=now) for p in chunk]
    assert a == b and len(a) == 2000
    countries = {normalize(p["plate"]).country for p in a}
    assert countries == {"VN", "CN"}
    assert len({p["permit_id"] for p in a}) == 2000


def test_misses_never_match_permit_plates() -> None:
    rng = random.Random(3)
    plates = {p["plate"] for chunk in permit_chunks(5000, 5000, seed=1, now=utc_now()) for p in chunk}
    skeletons = {skeleton(p) for p in plates}
    for _ in range(500):
        miss = normalize(miss_plate(rng)).text
        assert skeleton(miss) not in skeletons
        assert miss[:2] in MISS_VN_CODES or miss[0] in MISS_CN_PROVINCES


@pytest.mark.parametrize("n", [1, 2])
def test_confuse_makes_confusable_reads(n: int) -> None:
    rng = random.Random(n)
    made = 0
    for _ in range(200):
        plate = "29C12345" if rng.random() < 0.5 else "云A8B05D"
        wrong = confuse(plate, rng, n)
        if wrong is not None:
            normalize(wrong)
            assert substitutions(plate, wrong) == n
            made += 1
    assert made > 50


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    lat = latency_ms([1_000_000] * 99 + [5_000_000])
    assert lat["p50_ms"] == 1.0 and lat["p99_ms"] == 1.0 and lat["max_ms"] == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


# ------------------------------------------------------------------ permits.apply_delta sorts large inserts by plate


def _permit(pid: str, plate: str, trip: str = "T") -> dict[str, Any]:
    now = utc_now()
    return {"permit_id": pid, "plate": plate, "trip_id": trip, "flow": "export", "direction": "in",
            "valid_from": now.isoformat(), "valid_until": now.replace(year=now.year + 1).isoformat()}


def test_delta_keeps_order_of_one_plates_permits(tmp_path: Path) -> None:
    from edge.localstore import LocalStore

    store = LocalStore(tmp_path / "gate.db", tmp_path / "snaps")
    try:
        store.permits.apply_delta([_permit("Z9", "51F06532"), _permit("A1", "29C12345"), _permit("M5", "29C12345"),
                                   _permit("B2", "14C45678"), _permit("C3", "29C12345")], [], cursor=1)
        assert [p.permit_id for p in store.permits.by_plate("29C12345")] == ["A1", "M5", "C3"]
        # the same id twice in one delta: the later one wins, as before
        store.permits.apply_delta([_permit("D4", "98H77777", "first"), _permit("A0", "24C11111"),
                                   _permit("D4", "98H77777", "second")], [], cursor=2)
        assert [p.trip_id for p in store.permits.by_plate("98H77777")] == ["second"]
        assert store.permits.count() == 7
    finally:
        store.close()


def test_daemon_gate_file_is_the_dev_profile_with_a_temporary_store(tmp_path: Path) -> None:
    import tomllib

    from benchmarks.daemon import DEV_GATE_FILE, write_config
    from edge.config import load_gate_config

    cfg, site = load_gate_config(write_config(tmp_path))
    dev, _ = load_gate_config(DEV_GATE_FILE)
    assert cfg.store.path == tmp_path / "gate.db" and cfg.store.snapshot_dir == tmp_path / "snapshots"
    assert cfg.status.port == 0 and cfg.gate_id == dev.gate_id and site.id == "kim-thanh"
    assert cfg.camera == dev.camera and cfg.reader == dev.reader and cfg.decision == dev.decision
    assert set(tomllib.loads((tmp_path / "gate.toml").read_text(encoding="utf-8"))) == set(
        tomllib.loads(DEV_GATE_FILE.read_text(encoding="utf-8")))


def test_sync_tiny(tmp_path: Path) -> None:
    """The real service on a fresh PostgreSQL database (dropped after), tiny sizes."""
    import socket

    import psycopg

    from benchmarks.sync import PG_SERVER
    from tests.conftest import service_missing

    try:
        psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        service_missing(f"PostgreSQL not reachable at {PG_SERVER}: {exc}")
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=3).close()
    except OSError as exc:
        service_missing(f"MQTT broker not reachable at 127.0.0.1:1883: {exc}")
    r = bench("sync", "--drain-events", "300", "--gates", "3", "--events-per-gate", "100", "--batch-size", "50",
              "--trials", "2", "--poll-interval", "0.5", "--fault-events", "400", "--workers", "1",
              "--dir", str(tmp_path), timeout=180)
    assert r["benchmark"] == "sync" and r["database"] == "postgresql" and r["service_workers"] == 1
    assert r["drain_events"] == 300 and r["drain_events_per_s"] > 0 and r["drain_lost"] == r["drain_duplicated"] == 0
    assert r["ingest_gates"] == 3 and r["ingest_events"] == r["ingest_stored"] == 300 and r["ingest_events_per_s"] > 0
    lat = r["permit_latency_ms"]
    assert lat["trials"] == 2 and 0 < lat["mqtt_p50"] <= lat["mqtt_max"] and 0 < lat["poll_p50"] <= lat["poll_max"]
    assert r["fault_events"] == 400 and r["fault_requests"] > 0
    assert r["lost"] == r["duplicated"] == r["duplicated_by_id"] == r["duplicated_by_seq"] == 0
    assert r["sent_but_absent"] == 0 and r["unsent_after_recovery"] == 0
    assert r["goal_drain_events_per_s"] == 2000 and r["goal_ingest_events_per_s"] == 5000
    assert r["goal_permit_latency_mqtt_ms"] == 2000
    assert r["meets_goal"] == (r["meets_goal_drain"] and r["meets_goal_ingest"] and r["meets_goal_permit_latency"]
                               and r["meets_goal_faults"])
    assert list(tmp_path.iterdir()) == []  # temporary stores removed


# ------------------------------------------------------------------ plate: the detector's inference modes

def test_plate_modes_time_the_detector_as_the_gate_compiles_it() -> None:
    """The figures behind "asynchronous inference where it pays" (docs/architecture.md): each mode timed
    on the input shape the gate's detector is compiled for."""
    from benchmarks import plate_modes
    from edge.plate.detector import TextDetector

    assert plate_modes.SHAPE == (1, 3, *TextDetector().landscape)
    figures = plate_modes.measure(repeats=1)
    assert set(figures) == {"modes_pass_ms", "modes_tiles_sync_ms", "modes_tiles_async_ms",
                            "modes_streams_pass_ms", "modes_streams_tiles_async_ms", "modes_streams_model_mb"}
    assert all(v > 0 for k, v in figures.items() if k.endswith("_ms"))
    assert figures["modes_tiles_sync_ms"] > figures["modes_pass_ms"]  # four passes take longer than one


# ------------------------------------------------------------------ plate: CN plates turned past 45°

def test_turned_cn_scenes_count_the_plates_read() -> None:
    """The figure behind "plates turned past 45° are cut along their length" (README): each scene's
    plate is turned 20-55° and must be the frame's first read."""
    import random

    from benchmarks import plate
    from edge.plate.pipeline import PlatePipeline

    class Blind(PlatePipeline):
        def read_frame(self, image, roi=None, thorough=False, still=False):  # type: ignore[override]
            return []

    figures = plate._turned_cn_scenes(PlatePipeline(), 3, random.Random(1))
    assert figures["cn_turned_scenes"] == 3 and figures["cn_turned_scene_accuracy"] == 1.0
    assert figures["cn_turned_scene_p95_ms"] >= figures["cn_turned_scene_p50_ms"] > 0
    assert plate._turned_cn_scenes(Blind(), 2, random.Random(1))["cn_turned_scene_accuracy"] == 0.0


def test_blurred_cn_scenes_count_the_plates_read() -> None:
    """The figure behind "a loose line round a blurred plate is cut down to the plate" (models README)."""
    import random

    from benchmarks import plate
    from edge.plate.pipeline import PlatePipeline

    class Blind(PlatePipeline):
        def read_frame(self, image, roi=None, thorough=False, still=False):  # type: ignore[override]
            return []

    figures = plate._blurred_cn_scenes(PlatePipeline(), 3, random.Random(1))
    assert figures["cn_blurred_scenes"] == 3 and figures["cn_blurred_scene_accuracy"] >= 2 / 3
    assert figures["cn_blurred_scene_p95_ms"] >= figures["cn_blurred_scene_p50_ms"] > 0
    assert plate._blurred_cn_scenes(Blind(), 2, random.Random(1))["cn_blurred_scene_accuracy"] == 0.0


def test_turned_cn_box_crops_count_the_plates_read() -> None:
    """The figures behind "a crop cut at a turned plate's upright box is straightened" (README)."""
    import random

    from benchmarks import plate
    from edge.plate.pipeline import PlatePipeline
    from edge.plate.recognizer import CropRead

    class Blind(PlatePipeline):
        def read_crop(self, crop, rows=None, straighten=True):  # type: ignore[override]
            return CropRead("", 0.0, (), 1, False)

    figures = plate._turned_cn_box_crops(PlatePipeline(), 4, random.Random(1))
    assert figures["cn_turned_crops"] == 4 and figures["cn_turned_crop_accuracy"] >= 0.75
    assert figures["cn_turned_crop_p95_ms"] >= figures["cn_turned_crop_p50_ms"] > 0
    assert 0.0 <= figures["cn_turned_crop_94x24_accuracy"] <= 1.0
    blind = plate._turned_cn_box_crops(Blind(), 2, random.Random(1))
    assert blind["cn_turned_crop_accuracy"] == blind["cn_turned_crop_94x24_accuracy"] == 0.0


def test_memory_mb_splits_resident_memory_into_its_own_and_shared_library_pages() -> None:
    from benchmarks import memory_mb

    before = memory_mb()
    block = bytearray(64 * 1024 * 1024)  # touched, so resident and anonymous
    after = memory_mb()
    assert set(after) == {"VmRSS", "VmHWM", "RssAnon", "RssFile"}
    assert after["RssAnon"] + after["RssFile"] <= after["VmRSS"] + 1  # the rest is shared memory
    assert after["RssAnon"] - before["RssAnon"] >= 60 and after["RssFile"] > 1  # python's own code, at least
    del block


def test_motion_blurred_scenes_count_the_plates_read() -> None:
    """The figure behind "a still smeared along its rows or columns is read with the blur undone"
    (README): stills of each layout, every other one smeared down the columns."""
    import random

    from benchmarks import plate
    from edge.plate.pipeline import PlatePipeline

    class Blind(PlatePipeline):
        def read_frame(self, image, roi=None, thorough=False, still=False):  # type: ignore[override]
            return []

    figures = plate._motion_blurred_scenes(PlatePipeline(), 4, random.Random(12))
    assert figures["motion_blurred_scenes"] == 4 and figures["motion_blurred_scene_accuracy"] >= 0.75
    assert figures["motion_blurred_scene_p95_ms"] >= figures["motion_blurred_scene_p50_ms"] > 0
    assert plate._motion_blurred_scenes(Blind(), 2, random.Random(12))["motion_blurred_scene_accuracy"] == 0.0


def test_cn_hands_read_the_same_plates_in_every_cjk_hand(monkeypatch) -> None:
    """The figures behind "a province in a CJK design the recogniser was not trained on" (README)."""
    import random

    from benchmarks import plate
    from edge.plate.pipeline import PlatePipeline
    from edge.plate.recognizer import CropRead
    from edge.plate.synth import CJK_FONTS, HELD_OUT_CJK_FONT

    drawn: list[tuple[str, str, object]] = []
    real = plate.box_crop
    monkeypatch.setattr(plate, "box_crop", lambda text, *a, **k: drawn.append((text, k["cjk_font"], k["province_warp"]))
                        or real(text, *a, **k))
    figures = plate._cn_hands(PlatePipeline(), 3, random.Random(2))
    assert figures["cn_hand_crops"] == 3
    hands = (*CJK_FONTS, HELD_OUT_CJK_FONT)
    assert [(font, warp) for _, font, warp in drawn] == [(f, w) for f in hands for w in (None, plate.CONDENSED)
                                                         for _ in range(3)]
    assert len({tuple(t for t, _, _ in drawn[i:i + 3]) for i in range(0, len(drawn), 3)}) == 1  # the same plates
    assert figures["cn_94x24_cjk_accuracy"] >= 2 / 3  # the hand the shipped model was trained on
    for key in ("cjk", "cjk_noto_bold", "cjk_noto", "cjk_noto_serif_bold", "cjk_xiaowei", "cjk_kuaile", "cjk_zcool"):
        for k in (key, f"{key}_condensed"):
            assert 0.0 <= figures[f"cn_94x24_{k}_accuracy"] <= figures[f"cn_94x24_{k}_province_accuracy"] <= 1.0

    class Blind(PlatePipeline):
        def read_crop(self, crop, rows=None, straighten=True):  # type: ignore[override]
            return CropRead("", 0.0, (), 1, False)

    blind = plate._cn_hands(Blind(), 2, random.Random(2))
    assert blind["cn_94x24_cjk_zcool_accuracy"] == blind["cn_94x24_cjk_noto_bold_province_accuracy"] == 0.0
    assert blind["cn_94x24_cjk_condensed_accuracy"] == 0.0
