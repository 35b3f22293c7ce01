"""gatectl plate read / eval, as a technician runs them."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edge.gatectl.cli import cli
from edge.plate.synth import random_text, render_plate, render_scene
from tests.conftest import REPO


def test_plate_read_on_a_scene_and_a_crop(tmp_path: Path):
    rng = random.Random(21)
    scene, box = render_scene("29C-123.45", "vn1", rng)
    cv2.imwrite(str(tmp_path / "scene.jpg"), scene)
    cv2.imwrite(str(tmp_path / "crop.png"), render_plate("59-L2 149.99", "vn2", rng))
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    res = CliRunner().invoke(cli, ["plate", "read", str(tmp_path / "scene.jpg"), str(tmp_path / "junk.jpg"), "--json"])
    assert res.exit_code == 0, res.output
    images = json.loads(res.output)["images"]
    first = images[0]["reads"][0]
    assert first["text"] == "29C12345" and 0 < first["confidence"] <= 1
    x, y, w, h = first["box"]
    assert abs(x - box[0]) < 30 and abs(y - box[1]) < 30
    assert images[1]["error"] == "unreadable image"
    missing = CliRunner().invoke(cli, ["plate", "read", str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 0 and "nope.jpg: no such file" in missing.output
    crop = CliRunner().invoke(cli, ["plate", "read", "--crop", str(tmp_path / "crop.png")])
    assert crop.exit_code == 0 and "59L214999" in crop.output


def test_plate_eval_prints_one_json_object_and_progress(tmp_path: Path):
    rng = random.Random(4)
    rows = []
    for i in range(12):
        layout = ("vn1", "vn2", "cn")[i % 3]
        text = random_text(layout, rng)
        name = f"img/{i}.png"
        (tmp_path / "img").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), render_plate(text, layout, rng))
        rows.append((name, text, 2 if layout == "vn2" else 1))
    rows.append(("img/missing.png", "51F-065.32", 1))
    with (tmp_path / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "text", "rows"])
        w.writerows(rows)
    out = subprocess.run([sys.executable, "-m", "edge.gatectl.cli", "plate", "eval", str(tmp_path / "manifest.csv"),
                          "--crops", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    assert figures["n"] == 13 and figures["unreadable_files"] == 1
    assert figures["correct"] >= 11 and figures["accuracy"] == round(figures["correct"] / 13, 4)
    assert figures["p50_ms"] > 0 and figures["p95_ms"] >= figures["p50_ms"]
    assert "13/13" in out.stderr  # progress goes to stderr, the JSON alone to stdout


def test_plate_eval_scenes_with_boxes_in_crop_mode(tmp_path: Path):
    rng = random.Random(8)
    with (tmp_path / "m.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "text", "x", "y", "w", "h"])
        for i in range(4):
            text = random_text("vn1", rng)
            scene, (x, y, bw, bh) = render_scene(text, "vn1", rng)
            cv2.imwrite(str(tmp_path / f"s{i}.jpg"), scene)
            w.writerow([f"s{i}.jpg", text, x, y, bw, bh])
    crops = CliRunner().invoke(cli, ["plate", "eval", str(tmp_path / "m.csv"), "--crops", "--json"])
    scenes = CliRunner().invoke(cli, ["plate", "eval", str(tmp_path / "m.csv"), "--json"])
    assert json.loads(crops.stdout)["correct"] >= 3
    assert json.loads(scenes.stdout)["correct"] >= 3


def test_plate_eval_names_a_missing_column(tmp_path: Path):
    (tmp_path / "bad.csv").write_text("file,plate\na.jpg,29C12345\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["plate", "eval", str(tmp_path / "bad.csv")])
    assert res.exit_code != 0 and "missing column(s) path, text" in res.output
    res = CliRunner().invoke(cli, ["plate", "eval", str(tmp_path / "nope.csv")])
    assert res.exit_code != 0 and "nope.csv" in res.output


@pytest.mark.parametrize("content,message", [
    (b"path,text,rows\na.jpg,29C12345,3\n", "bad.csv:2: rows must be 1 or 2, not 3"),
    (b"path,text,rows,x,y,w,h\na.jpg,29C12345,1,0,0,0,40\n", "bad.csv:2: box width and height must be positive"),
    (b"path,text,rows,x,y,w,h\na.jpg,29C12345,1,abc,0,10,10\n", "bad.csv:2: could not convert"),
    (b"path,text\n,29C12345\n", "bad.csv:2: empty path"),
    (b"path,text\n\xff\xfeb.jpg,29C12345\n", "bad.csv: not UTF-8 text"),
])
def test_plate_eval_refuses_a_bad_row_by_its_line(tmp_path: Path, content: bytes, message: str):
    (tmp_path / "bad.csv").write_bytes(content)
    res = CliRunner().invoke(cli, ["plate", "eval", str(tmp_path / "bad.csv"), "--crops"])
    assert res.exit_code != 0 and message in res.output, res.output
    assert "Traceback" not in res.output
