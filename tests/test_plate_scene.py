"""The scene path (detect → crop → read) on real plates, and the finer second look.

With no labelled real gate scenes on this machine, real plate crops from the shared VN set (the
held-out 20%) are hung on synthetic truck fronts; the scene path must read them about as well as the
crop reader reads the bare crops.
"""

from __future__ import annotations

import csv
import random
import time

import cv2
import numpy as np
import pytest

from edge.camera.base import Frame
from edge.config.models import OpenVinoReader
from edge.plate import detector as det
from edge.plate import lines
from edge.plate.evaluate import comparable
from edge.plate.openvino_reader import OpenVinoPlateReader
from edge.plate.lines import Candidate
from edge.plate.pipeline import DEEP_ZOOM_MAX, FALLBACK_ZOOM, KNOWN, SURE_HOME, FrameRead, Look, PlatePipeline, plates
from edge.plate.recognizer import CropRead
from edge.plate.synth import box_crop, random_text, render_plate, render_scene
from edge.plate.text import country_of
from edge.plate.training import heldout
from edge.plate.training.data import is_validation
from test_plate_recognizer import shared_crops

#: raw labels; the same crops read bare: 0.775. Measured 0.76-0.77 in scenes (0.70 before the row, padding
#: and closer-look changes of 2026-11-23) over all 454 held-out crops; see benchmarks/plate.py.
SCENE_FLOOR = 0.72
TILTED_SCENE_FLOOR = 0.89  # audited labels


@pytest.fixture(scope="module")
def pipe() -> PlatePipeline:
    return PlatePipeline()


class Spy:
    """Records the zoom of each call to the real detector."""

    def __init__(self, detector: det.TextDetector):
        self.detector, self.zooms = detector, []
        self._real = detector.text_boxes

    def __enter__(self) -> Spy:
        def text_boxes(image, zoom=1.0):
            self.zooms.append(zoom)
            return self._real(image, zoom)
        self.detector.text_boxes = text_boxes  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        del self.detector.text_boxes


def test_real_crops_hung_in_scenes_are_read_like_bare_crops(pipe: PlatePipeline):
    base = shared_crops()
    rows = [r for r in csv.DictReader((base / "manifest.csv").open(encoding="utf-8")) if is_validation(r["path"])]
    rows = sorted(rows, key=lambda r: r["path"])[:150]
    rng = random.Random("scenes")
    correct = 0
    for r in rows:
        crop = cv2.imread(str(base / r["path"]))
        assert crop is not None, r["path"]
        frame, _ = render_scene("", "vn2" if r["rows"] == "2" else "vn1", rng, plate_image=crop)
        reads = pipe.read_frame(frame, thorough=True)
        correct += bool(reads) and reads[0].text == comparable(r["text"])
    assert correct / len(rows) >= SCENE_FLOOR, f"{correct}/{len(rows)}"


def test_real_crops_hung_tilted_in_scenes_are_read(pipe: PlatePipeline):
    """The same crops turned up to ±15° and foreshortened up to 15 %, on their audited labels. Measured
    134 of 147 (132 before a weak read was read again from its upright crop, 130 before a weak read's
    plate was looked at closely, PlatePipeline._look_at). The benchmark's figure before stacked pairs
    were cut along their rows: 0.68."""
    base = shared_crops()
    audit = heldout.load_audit()
    rows = [r for r in csv.DictReader((base / "manifest.csv").open(encoding="utf-8")) if is_validation(r["path"])]
    rng = random.Random("tilted scenes")
    correct = n = 0
    for r in sorted(rows, key=lambda r: r["path"])[:150]:
        truth = heldout.audited_text(r["path"], r["text"], int(r["rows"] or 1), audit)
        if truth is None:  # unreadable by eye
            continue
        crop = cv2.imread(str(base / r["path"]))
        assert crop is not None, r["path"]
        frame, _ = render_scene("", "vn2" if r["rows"] == "2" else "vn1", rng, plate_image=crop,
                                angle=rng.uniform(-15, 15), yaw=rng.uniform(-0.15, 0.15))
        reads = pipe.read_frame(frame, thorough=True)
        n += 1
        correct += bool(reads) and reads[0].text == truth
    assert correct / n >= TILTED_SCENE_FLOOR, f"{correct}/{n}"


def test_two_row_plate_is_read_whole_never_its_top_row_alone(pipe: PlatePipeline):
    rng = random.Random("rows")
    whole = 0
    for _ in range(12):
        text = random_text("vn2", rng)
        frame, _ = render_scene(text, "vn2", rng)
        reads = pipe.read_frame(frame)
        top = comparable(text.split()[0])  # "59-L2 149.99" → "59L2", which the foreign grammar accepts
        assert top not in {r.text for r in reads}, reads
        whole += bool(reads) and reads[0].text == comparable(text)
    assert whole >= 10


def _small_blurred_two_row(rng: random.Random, plate_width: int = 160) -> tuple[np.ndarray, str]:
    text = random_text("vn2", rng)
    plate = cv2.GaussianBlur(render_plate(text, "vn2", rng, height=60), (0, 0), 1.0)
    frame, _ = render_scene(text, "vn2", rng, plate_width=plate_width, plate_image=plate)  # 0.55 × that wide
    return frame, comparable(text)


def _readable_small_scene(pipe: PlatePipeline) -> tuple[np.ndarray, str]:
    """A small two-row plate that a thorough read gets right (some renders hide a digit under a screw)."""
    rng = random.Random("loop")
    for _ in range(10):
        frame, text = _small_blurred_two_row(rng)
        reads = pipe.read_frame(frame, thorough=True)
        if reads and reads[0].text == text:
            return frame, text
    pytest.fail("none of 10 small two-row plates was read, even with a closer look")


def test_finer_second_look_only_when_thorough_and_nothing_read(pipe: PlatePipeline):
    """Measured 15 coarse / 18 closer (the model fine-tuned on 2026-11-23), 14 / 17 (the model of that morning)."""
    rng = random.Random("small")
    scenes = [_small_blurred_two_row(rng, plate_width=140) for _ in range(20)]
    coarse = fine = 0
    with Spy(pipe.detector) as spy:
        for frame, text in scenes:
            reads = pipe.read_frame(frame)
            coarse += bool(reads) and reads[0].text == text
        assert set(spy.zooms) == {1.0}  # a live frame is never looked at twice
        spy.zooms.clear()
        for frame, text in scenes:
            before = len(spy.zooms)
            first = pipe._read(frame, 1.0, 0, 0)
            reads = pipe.read_frame(frame, thorough=True)
            fine += bool(reads) and reads[0].text == text
            looked_closer = FALLBACK_ZOOM in spy.zooms[before + 1:]
            # the closer look happens exactly when the first read no sure VN or CN plate
            sure = any(country_of(r.text) != "XX" and r.confidence >= SURE_HOME for r in first)
            assert looked_closer == (not sure)
    assert fine >= coarse + 2 and fine >= 15, (coarse, fine)


@pytest.mark.parametrize("shape,still,zooms", [
    ((1080, 1920, 3), True, [1.0, FALLBACK_ZOOM, DEEP_ZOOM_MAX]),  # 3x the detection size: capped
    ((720, 1280, 3), True, [1.0, FALLBACK_ZOOM, 2.0]),  # seen at its own 1280 px
    ((540, 960, 3), True, [1.0, FALLBACK_ZOOM]),  # nothing deeper than the closer look to give
    ((1080, 1920, 3), False, [1.0, FALLBACK_ZOOM]),  # a live frame on the loop: the next frame looks again
])
def test_a_still_image_read_weakly_gets_a_look_at_its_own_resolution(pipe: PlatePipeline, shape, still, zooms):
    with Spy(pipe.detector) as spy:
        assert pipe.read_frame(np.full(shape, 128, np.uint8), thorough=True, still=still) == []
    assert spy.zooms == pytest.approx(zooms)


def test_small_plates_in_large_still_images_are_read_deeper(pipe: PlatePipeline):
    """Real held-out crops hung 8 % of the width wide (two-row plates 4.4 %) in 1920×1080 scenes, as a
    photo taken from afar shows them: the usual and the closer look see them at 50-100 px. Measured
    20 / 23 thorough, 22 / 23 still (one crop unreadable by eye; 171 / 200 and 183 / 200 over 200
    crops, see read_frame)."""
    base = shared_crops()
    audit = heldout.load_audit()
    rows = [r for r in csv.DictReader((base / "manifest.csv").open(encoding="utf-8")) if is_validation(r["path"])]
    rng = random.Random("far")
    thorough = still = n = 0
    for r in sorted(rows, key=lambda r: r["path"])[150:174]:
        truth = heldout.audited_text(r["path"], r["text"], int(r["rows"] or 1), audit)
        if truth is None:
            continue
        crop = cv2.imread(str(base / r["path"]))
        frame, _ = render_scene("", "vn2" if r["rows"] == "2" else "vn1", rng, size=(1920, 1080),
                                plate_width=154, plate_image=crop)
        n += 1
        thorough += _first(pipe.read_frame(frame, thorough=True)) == truth
        still += _first(pipe.read_frame(frame, still=True)) == truth
    assert still >= thorough + 1 and still >= 0.85 * n, (thorough, still, n)


def _first(reads: list[FrameRead]) -> str:
    return reads[0].text if reads else ""


def test_closer_look_tiles_keep_the_usual_input_shape(pipe: PlatePipeline):
    """Tiles of the usual size: OpenVINO sees one input shape, so the closer look adds no memory."""
    shapes = []
    real = pipe.detector._prob
    pipe.detector._prob = lambda resized: shapes.append(resized.shape) or real(resized)  # type: ignore[method-assign]
    try:
        frame, _ = render_scene("51F06532", "vn1", random.Random(1))
        pipe.detector.text_boxes(frame)
        pipe.detector.text_boxes(frame, FALLBACK_ZOOM)
    finally:
        del pipe.detector._prob
    assert len(shapes) == 5 and len(set(shapes)) == 1, shapes


def test_tiles_overlap_by_half_a_tile_and_cover_the_whole():
    for total, size in ((960, 640), (528, 352), (1280, 640), (640, 640), (300, 640)):
        starts = det._tile_starts(total, size)
        assert starts[0] == 0 and starts[-1] + size >= total
        assert all(b - a <= size / 2 for a, b in zip(starts, starts[1:]))


def test_a_line_seen_by_two_tiles_is_kept_once():
    whole = cv2.boxPoints(((300.0, 200.0), (200.0, 40.0), 0.0))
    part = cv2.boxPoints(((250.0, 200.0), (100.0, 38.0), 0.0))  # the half one tile saw
    other = cv2.boxPoints(((300.0, 400.0), (200.0, 40.0), 0.0))
    kept = det._dedupe([(part, 0.9), (whole, 0.8), (other, 0.7)], (720, 1280, 3))
    assert [s for _, s in kept] == [0.8, 0.7]


def test_loop_trigger_makes_the_live_reader_look_closer():
    reader = OpenVinoPlateReader(OpenVinoReader(type="openvino", stop_frames=50, agree=50))
    frame, text = _readable_small_scene(reader.pipeline)
    blank = np.full_like(frame, 100)
    now = time.time()
    with Spy(reader.pipeline.detector) as spy:
        for i in range(3):
            assert reader.read(Frame(blank, now + i * 0.1)) is None
        assert spy.zooms == [1.0] * 3  # empty road, no loop: one usual look per frame
        reader.trigger(now + 0.3)
        assert reader.read(Frame(blank, now + 0.4)) is None
        assert spy.zooms[3:] == [1.0, FALLBACK_ZOOM]  # a vehicle is on the loop: look again, closer
        got = reader.read(Frame(frame, now + 0.5))
    assert got is not None and got.text == text


def test_fallback_can_be_switched_off():
    reader = OpenVinoPlateReader(OpenVinoReader(type="openvino", detect_zoom=1.0))
    frame = np.full((720, 1280, 3), 100, np.uint8)
    with Spy(reader.pipeline.detector) as spy:
        reader.trigger(time.time())
        reader.read(Frame(frame, time.time()))
    assert spy.zooms == [1.0]


def test_text_line_is_grown_along_and_across_itself():
    w, h = 200.0, 40.0
    for angle in (0.0, 90.0, 12.0):
        pts = cv2.boxPoints(((500.0, 300.0), (w, h), angle))
        (_, _), (gw, gh), _ = cv2.minAreaRect(lines._grow(pts))
        long_side, short_side = max(gw, gh), min(gw, gh)
        assert long_side == pytest.approx(w + 2 * lines.LINE_PAD_ALONG * h, abs=1.0)
        assert short_side == pytest.approx(h + 2 * lines.LINE_PAD_ACROSS * h, abs=1.0)


def test_inside_share():
    pair = (100, 100, 100, 80)
    assert lines.inside((110, 100, 80, 38), pair)  # the top row of the pair
    assert not lines.inside((150, 150, 100, 80), pair)  # a quarter inside
    assert not lines.inside((0, 0, 10, 10), pair)


@pytest.mark.parametrize("h,w,canvas", [(352, 640, (352, 640)), (480, 640, (480, 640)), (640, 640, (640, 640)),
                                        (640, 352, (640, 352)), (256, 480, (256, 480)), (416, 640, (480, 640)),
                                        (96, 640, (352, 640))])
def test_detector_input_shapes_fall_in_few_buckets(pipe: PlatePipeline, h: int, w: int, canvas: tuple[int, int]):
    assert pipe.detector._canvas(h, w) == canvas


def test_statically_compiled_detector_follows_a_new_frame_shape(pipe: PlatePipeline):
    """Compiled for 16:9; a 4:3 still image recompiles it, and the plate is still read."""
    rng = random.Random(4)
    for size in ((1600, 1200), (1280, 720)):
        frame, _ = render_scene("29C12345", "vn1", rng, size=size)
        assert [r.text for r in pipe.read_frame(frame)][:1] == ["29C12345"], size


def _loose_two_row_crop(rng: random.Random) -> tuple[np.ndarray, str]:
    """A motorbike-style crop: the plate in its lower part, a tail light above it."""
    text = random_text("vn2", rng)
    plate = render_plate(text, "vn2", rng, height=100)
    h, w = plate.shape[:2]
    crop = np.full((h + 90, w + 40, 3), 35, np.uint8)
    cv2.rectangle(crop, (w // 4, 10), (w * 3 // 4 + 40, 60), (40, 40, 200), -1)
    crop[90:, 20:20 + w] = plate
    return crop, comparable(text)


def test_loose_two_row_crop_is_read_with_the_detectors_help(pipe: PlatePipeline):
    rng = random.Random("loose")
    alone = helped = 0
    for _ in range(10):
        crop, text = _loose_two_row_crop(rng)
        alone += pipe.recognizer.read(crop, 2).text == text  # the fixed split cuts the top row
        read = pipe.read_crop(crop, 2)
        helped += read.text == text and read.valid and read.rows == 2
    assert alone <= 2 and helped >= 9, (alone, helped)


def test_confident_crop_read_never_runs_the_detector(pipe: PlatePipeline):
    rng = random.Random("tight")
    with Spy(pipe.detector) as spy:
        for _ in range(5):
            text = random_text("vn1", rng)
            read = pipe.read_crop(render_plate(text, "vn1", rng, height=80), 1)
            assert read.text == comparable(text) and read.confidence >= 0.9
    assert spy.zooms == []


def test_staged_crop_has_the_compiled_shape(pipe: PlatePipeline):
    for shape in ((40, 200, 3), (180, 140, 3), (24, 94, 3), (700, 300, 3)):
        staged = pipe.detector.stage(np.full(shape, 128, np.uint8))
        assert staged.shape[:2] == pipe.detector.landscape


def test_tilted_two_row_plates_are_read_on_a_live_frame(pipe: PlatePipeline):
    """A camera beside the lane sees plates turned 8-15° and foreshortened. Before the stacked pair was
    cut along its rows, the fixed row split ran through characters: 3 of these 20 were read (8 with a
    closer look); measured 20 since."""
    rng = random.Random("tilted")
    right = 0
    for _ in range(20):
        text = random_text("vn2", rng)
        angle = rng.choice([-1, 1]) * rng.uniform(8, 15)
        frame, _ = render_scene(text, "vn2", rng, angle=angle, yaw=rng.uniform(-0.1, 0.1))
        reads = pipe.read_frame(frame)
        right += bool(reads) and reads[0].text == comparable(text)
    assert right >= 18, right


def _stacked(theta: float, centre=(640.0, 360.0)) -> list[tuple[np.ndarray, float]]:
    """A top line 120×30 over a bottom line 160×32, 40 px apart, the pair turned by ``theta`` degrees."""
    a = np.radians(theta)
    out = []
    for dy, (w, h), score in ((-20.0, (120.0, 30.0), 0.9), (20.0, (160.0, 32.0), 0.8)):
        cx, cy = centre[0] - dy * np.sin(a), centre[1] + dy * np.cos(a)
        out.append((cv2.boxPoints(((cx, cy), (w, h), theta)), score))
    return out


@pytest.mark.parametrize("theta", [-80.0, -33.0, -12.0, 0.0, 7.5, 45.0, 89.0])
def test_line_angle_is_the_long_sides_direction(theta: float):
    pts = cv2.boxPoints(((300.0, 300.0), (200.0, 40.0), theta))
    assert lines.line_angle(pts) == pytest.approx(theta, abs=0.5)
    upright = cv2.boxPoints(((300.0, 300.0), (40.0, 200.0), theta))  # the long side is the other one
    expected = theta + 90 if theta <= 0 else theta - 90
    assert lines.line_angle(upright) == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("off", [-9.0, -6.0, -3.0, 0.0, 2.0, 5.0, 8.0])
def test_a_block_is_turned_to_where_its_rows_lie_level(off: float):
    """A two-row plate the detector returns as one block, its rectangle leaning ``off`` degrees from its
    rows (as perspective makes it), is cut along the rows; a one-row line is left as it came."""
    image = np.full((400, 600, 3), 90, np.uint8)
    plate = render_plate("59-L2 149.99", "vn2", random.Random(1), height=140)
    h, w = plate.shape[:2]
    image[130:130 + h, 200:200 + w] = plate
    block = cv2.boxPoints(((200 + w / 2, 130 + h / 2), (w + 10, h + 10), off))
    assert lines.line_angle(lines._levelled(image, block)) == pytest.approx(0.0, abs=1.5)
    line = cv2.boxPoints(((300.0, 200.0), (240.0, 40.0), off))
    assert np.array_equal(lines._levelled(image, line), line)


@pytest.mark.parametrize("theta", [-60.0, -50.0, -30.0, 0.0, 20.0, 44.0, 47.0, 55.0, 70.0])
def test_a_line_is_cut_along_its_length_left_to_right(theta: float):
    """A line turned past 45° (a car parked askew below a camera) is still cut along its length, with
    its left end on the left: its frame corners alone would stand it on end."""
    image = np.zeros((600, 600, 3), np.uint8)
    rect = ((300.0, 300.0), (240.0, 60.0), theta)
    cv2.fillPoly(image, [cv2.boxPoints(rect).astype(np.int32)], (90, 90, 90))
    a = np.radians(theta)
    left = (int(300 - 80 * np.cos(a)), int(300 - 80 * np.sin(a)))  # a white mark on the left end
    cv2.circle(image, left, 20, (255, 255, 255), -1)
    crop = lines.rectify(image, cv2.boxPoints(rect))
    h, w = crop.shape[:2]
    assert w == pytest.approx(240, abs=3) and h == pytest.approx(60, abs=3)
    assert crop[:, : w // 3].mean() > crop[:, 2 * w // 3:].mean() + 40


def test_plates_turned_past_45_degrees_are_read(pipe: PlatePipeline):
    rng = random.Random(50)
    for angle in (-55.0, -50.0, 48.0, 55.0):
        text = random_text("cn", rng)
        frame, _ = render_scene(text, "cn", rng, size=(720, 1160), plate_width=250, angle=angle)
        reads = pipe.read_frame(frame, still=True)
        assert reads and comparable(reads[0].text) == comparable(text), (angle, text, reads[:1])


@pytest.mark.parametrize("theta", [-20.0, -12.0, 0.0, 1.5, 6.0, 15.0])
def test_stacked_pair_is_cut_along_its_rows(theta: float):
    image = np.zeros((720, 1280, 3), np.uint8)
    pairs = [c for c in lines.candidates(image, _stacked(theta)) if c.rows == 2]
    assert len(pairs) == 1
    h, w = pairs[0].crop.shape[:2]
    # level: 160 wide, 15 + 40 + 16 = 71 tall, padded 5 % each way; an upright cut of the turned
    # pair would be far taller
    slack = 3 + 176 * np.sin(np.radians(abs(theta))) if abs(theta) < lines.STRAIGHT_BELOW else 3
    assert w == pytest.approx(160 * 1.1, abs=3) and h == pytest.approx(71 * 1.1, abs=slack), (w, h)
    if abs(theta) < lines.STRAIGHT_BELOW:  # a nearly level pair is sliced from the frame, no interpolation
        x, y, bw, bh = pairs[0].box
        assert pairs[0].crop.shape[:2] == (bh, bw)


def test_lines_at_different_angles_are_no_pair():
    top, bottom = _stacked(0.0)
    turned = (cv2.boxPoints(((640.0, 380.0), (160.0, 32.0), 20.0)), 0.8)
    assert [c.rows for c in lines.candidates(np.zeros((720, 1280, 3), np.uint8), [top, turned])] == [None, None]
    assert 2 in [c.rows for c in lines.candidates(np.zeros((720, 1280, 3), np.uint8), [top, bottom])]


def _row(theta: float, widths: tuple[float, ...], gap: float, h: float = 30.0,
         centre=(640.0, 360.0)) -> list[tuple[np.ndarray, float]]:
    """Lines of height ``h`` side by side, ``gap`` px apart (negative: overlapping), the row turned by
    ``theta`` degrees about ``centre``; a line no longer than it is tall is given upright, as
    ``cv2.minAreaRect`` may report it."""
    a = np.radians(theta)
    total = sum(widths) + gap * (len(widths) - 1)
    x = -total / 2
    out = []
    for w in widths:
        along = x + w / 2
        cx, cy = centre[0] + along * np.cos(a), centre[1] + along * np.sin(a)
        size, angle = ((h, w), theta + 90) if w <= h else ((w, h), theta)
        out.append((cv2.boxPoints(((cx, cy), size, angle)), 0.8))
        x += w + gap
    return out


@pytest.mark.parametrize("theta", [-15.0, 0.0, 4.0, 12.0])
def test_lines_side_by_side_join_into_one_candidate(theta: float):
    """A plate the detector split at a wide gap (an emblem between "ZG" and "969-LN", a CN plate's dot)
    comes back whole, cut along its row and padded as a single line is."""
    image = np.zeros((720, 1280, 3), np.uint8)
    joined = [c for c in lines.candidates(image, _row(theta, (50.0, 150.0), 10.0)) if c.lines == 2]
    assert len(joined) == 1 and joined[0].rows is None
    h, w = joined[0].crop.shape[:2]
    assert w == pytest.approx(210 + 2 * lines.LINE_PAD_ALONG * 30, abs=3)
    assert h == pytest.approx(30 + 2 * lines.LINE_PAD_ACROSS * 30, abs=3)


def test_a_run_of_three_lines_joins_and_so_do_its_neighbours():
    cands = lines.candidates(np.zeros((720, 1280, 3), np.uint8), _row(5.0, (60.0, 90.0, 60.0), -8.0))
    assert sorted(c.lines for c in cands) == [1, 1, 1, 2, 2, 3]


def test_a_squarish_line_joins_whatever_way_it_was_reported():
    """One character alone (a CN province) has no long side: its angle may come as 90°."""
    row = _row(6.0, (28.0, 160.0), 4.0)
    assert lines.line_angle(row[0][0]) == pytest.approx(-84.0, abs=0.5)
    assert [c.lines for c in lines.candidates(np.zeros((720, 1280, 3), np.uint8), row)].count(2) == 1


@pytest.mark.parametrize("row", [
    _row(0.0, (50.0, 150.0), 30.0),  # a gap wider than the line is tall: two texts
    _row(0.0, (50.0, 150.0), -40.0),  # overlapping most of their height's worth: one text seen twice
    [_row(0.0, (50.0, 150.0), 10.0)[0], _row(15.0, (50.0, 150.0), 10.0)[1]],  # different angles
    [_row(0.0, (50.0, 150.0), 10.0)[0], _row(0.0, (50.0, 150.0), 10.0, centre=(640.0, 380.0))[1]],  # off the row
    _row(0.0, (50.0, 150.0), 10.0, h=30.0)[:1] + _row(0.0, (50.0, 150.0), 10.0, h=60.0)[1:],  # heights differ
])
def test_lines_not_on_one_row_do_not_join(row: list[tuple[np.ndarray, float]]):
    assert [c.lines for c in lines.candidates(np.zeros((720, 1280, 3), np.uint8), row)] == [1, 1]


def test_a_block_the_detector_did_not_split_is_padded_like_a_pair():
    """A tilted two-row plate often comes as one near-square line: grown 0.4 × its height along, it
    would gain a third of its width in background."""
    pts = cv2.boxPoints(((500.0, 300.0), (150.0, 110.0), 12.0))
    (_, _), (gw, gh), _ = cv2.minAreaRect(lines._grow(pts))
    assert max(gw, gh) == pytest.approx(150 * (1 + 2 * lines.PAIR_PAD_X), abs=1.0)
    assert min(gw, gh) == pytest.approx(110 * (1 + 2 * lines.PAIR_PAD_Y), abs=1.0)


def _fr(text: str, confidence: float, rows: int = 1) -> FrameRead:
    return FrameRead(text, confidence, (confidence,) * len(text), (10, 10, 100, 40), rows)


class _StagingDetector:
    """Stands in for the detector where ``PlatePipeline._read`` is replaced: stages a region as a marker."""

    STAGED = np.ones((1, 1, 3), np.uint8)
    landscape = (352, 640)  # the staged frame's shape: a region larger than it is shrunk to stage it

    def stage(self, region: np.ndarray) -> np.ndarray:
        assert region.size
        return self.STAGED


@pytest.mark.parametrize("coarse,closer,close,expected,looks", [
    # one row of a small two-row plate read as two rows into a plausible VN plate, weakly
    ([_fr("40C43517", 0.43)], [_fr("59F116711", 1.0), _fr("59F1", 0.99)], [], "59F116711", [1.0, 1.5]),
    # no surer: the usual reads stay, and the plate is looked at closely, in vain
    ([_fr("40C43517", 0.43)], [_fr("40C43517", 0.41)], [], "40C43517", [1.0, 1.5, "staged"]),
    ([_fr("59F1", 0.99)], [_fr("59F116711", 0.7)], [], "59F116711", [1.0, 1.5, "staged"]),  # foreign only
    ([_fr("59F116711", 0.95)], [], [], "59F116711", [1.0]),  # sure: one look
    ([], [_fr("ZG270JB", 0.9)], [], "ZG270JB", [1.0, 1.5]),  # nothing read: whatever the closer look reads
    # a home plate, but weak: looked at closely, and the surer close read wins
    ([_fr("59F116717", 0.85)], [], [_fr("59F116711", 0.97)], "59F116711", [1.0, "staged"]),
    ([_fr("59F116717", 0.85)], [], [_fr("59F11671", 0.8)], "59F116717", [1.0, "staged"]),  # not surer
    # a two-row read is not replaced by one of its rows, even a surer one; the next two-row read may
    ([_fr("59F116717", 0.85, 2)], [], [_fr("59F1", 0.99), _fr("59F116711", 0.9, 2)], "59F116711",
     [1.0, "staged"]),
    ([_fr("59F116717", 0.85, 2)], [], [_fr("59F1", 0.99)], "59F116717", [1.0, "staged"]),
    # nor a VN read by one that only the foreign grammar takes: the province's first digit lost
    ([_fr("55P87062", 0.85, 2)], [], [_fr("5P87062", 0.95, 2)], "55P87062", [1.0, "staged"]),
])
def test_closer_looks_replace_reads_only_with_surer_ones(coarse, closer, close, expected, looks):
    pipe = PlatePipeline(detector=_StagingDetector())  # type: ignore[arg-type]  # _read_upright is replaced below
    seen: list[float | str] = []

    def read(image: np.ndarray, zoom: float, ox: int, oy: int) -> Look:
        if image is _StagingDetector.STAGED:
            seen.append("staged")
            return Look(close)
        seen.append(zoom)
        return Look(coarse if zoom == 1.0 else closer)  # no upright crops: see the test below

    pipe._read_upright = read  # type: ignore[method-assign]
    reads = pipe.read_frame(np.zeros((720, 1280, 3), np.uint8), thorough=True)
    assert reads[0].text == expected and seen == looks
    assert reads[0].box == (10, 10, 100, 40)  # a close read keeps the weak read's box in the frame


class _FixedRecognizer:
    """Reads every crop as the given row count's read."""

    def __init__(self, by_rows: dict[int, CropRead]):
        self.by_rows = by_rows

    def read(self, crop: np.ndarray, rows: int | None = None) -> CropRead:
        return self.by_rows[rows] if rows else max(self.by_rows.values(), key=lambda r: (r.valid, r.confidence))

    def read_many(self, crops: list[np.ndarray], rows: list[int | None]) -> list[CropRead]:
        return [self.read(c, r) for c, r in zip(crops, rows)]


def _cr(text: str, confidence: float, rows: int, valid: bool = True) -> CropRead:
    return CropRead(text, confidence, (confidence,) * len(text), rows, valid)


@pytest.mark.parametrize("shape,hint,staged,expected", [
    # a loose one-row plate, its shape either way: two rows of garbage won over a weak one-row read,
    # and the plate's own line, found within, replaces them
    ((121, 332), None, [_fr("闽B53F68", 0.86)], "闽B53F68"),
    # two rows known, by the hint or by the shape: one row alone does not replace them
    ((121, 332), 2, [_fr("闽B53F68", 0.86)], "50Z60780"),
    ((120, 170), None, [_fr("59F1", 0.99)], "50Z60780"),
    ((120, 170), None, [_fr("59F1", 0.99), _fr("59F116711", 0.9, 2)], "59F116711"),
])
def test_a_weak_crop_read_keeps_two_rows_only_where_two_rows_are_known(shape, hint, staged, expected):
    reads = {1: _cr("闽B53F8", 0.39, 1, valid=False), 2: _cr("50Z60780", 0.19, 2)}
    pipe = PlatePipeline(_FixedRecognizer(reads), _StagingDetector())  # type: ignore[arg-type]
    pipe._read_upright = lambda image, zoom, ox, oy: Look(staged)  # type: ignore[method-assign, assignment]
    assert pipe.read_crop(np.zeros((*shape, 3), np.uint8), hint).text == expected


def test_a_weak_home_crop_read_is_not_replaced_by_a_foreign_one():
    pipe = PlatePipeline(_FixedRecognizer({1: _cr("55P87062", 0.7, 1), 2: _cr("55P8706", 0.1, 2, False)}),
                         _StagingDetector())  # type: ignore[arg-type]
    pipe._read_upright = lambda *a: Look([_fr("5P87062", 0.95)])  # type: ignore[method-assign, assignment]
    assert pipe.read_crop(np.zeros((40, 200, 3), np.uint8)).text == "55P87062"


def test_a_weak_crop_read_in_a_known_foreign_format_is_not_replaced_by_one_in_none():
    """The Croatian ŠI 569-AD read right at 0.58; its lines found within the crop lose the I at the
    emblem and read "S569AD" surely (a held-out crop, read wrong so when this was written)."""
    first = {1: _cr("SI569AD", 0.58, 1), 2: _cr("SI56", 0.1, 2, False)}
    pipe = PlatePipeline(_FixedRecognizer(first), _StagingDetector())  # type: ignore[arg-type]
    pipe._read_upright = lambda *a: Look([_fr("S569AD", 1.0)])  # type: ignore[method-assign, assignment]
    assert pipe._rescued(np.zeros((50, 254, 3), np.uint8), 1, first[1], KNOWN).text == "SI569AD"
    pipe._read_upright = lambda *a: Look([_fr("ZG569AD", 0.97)])  # type: ignore[method-assign, assignment]
    assert pipe._rescued(np.zeros((50, 254, 3), np.uint8), 1, first[1], KNOWN).text == "ZG569AD"
    # a first read in no known format may give way to any surer plate
    first = {1: _cr("HDL798", 0.58, 1), 2: _cr("HD", 0.1, 2, False)}
    pipe = PlatePipeline(_FixedRecognizer(first), _StagingDetector())  # type: ignore[arg-type]
    pipe._read_upright = lambda *a: Look([_fr("DL7980", 0.95)])  # type: ignore[method-assign, assignment]
    assert pipe.read_crop(np.zeros((50, 254, 3), np.uint8), 1).text == "DL7980"


class _StraighteningRecognizer:
    """Reads a crop as ``first``, and every straightened view of it (read in one batch) as ``views``."""

    def __init__(self, first: CropRead, views: list[CropRead]):
        self.first, self.views = first, views

    def read(self, crop: np.ndarray, rows: int | None = None) -> CropRead:
        return self.first

    def read_many(self, crops: list[np.ndarray], rows: list[int | None]) -> list[CropRead]:
        return [self.views[i % len(self.views)] for i in range(len(crops))]


@pytest.mark.parametrize("shape,first,views,expected", [
    # garbage, or a weak read: the surest valid view wins
    ((24, 94), _cr("宁3J", 0.32, 1, valid=False), [_cr("蒙N90867", 0.99, 1), _cr("蒙N9086", 0.6, 1, False)],
     "蒙N90867"),
    ((60, 98), _cr("5F7111", 0.3, 1), [_cr("鄂R7733K", 0.72, 1)], "鄂R7733K"),
    # a VN/CN read is not replaced by a view that only the foreign grammar takes
    ((60, 98), _cr("59X20717", 0.45, 2), [_cr("9X20717", 0.98, 2)], "59X20717"),
    # nor by a view less sure
    ((24, 94), _cr("鄂R7733K", 0.8, 1), [_cr("鄂R7738K", 0.7, 1)], "鄂R7733K"),
    # a box that kept its shape and reads fairly (at least STRAIGHTEN_BELOW) is not straightened: real
    # crops are level, and a turn guessed for them reads one character wrong as surely as right
    ((60, 98), _cr("59X267178", 0.85, 2), [_cr("59X207178", 0.99, 2)], "59X267178"),
    # a box that may be squeezed (looks one-row) is straightened below STRAIGHTEN_SQUEEZED_BELOW, even
    # a sure read (a CN plate turned 10° read level confuses a character at 0.92-0.95)
    ((24, 94), _cr("冀H5V02J", 0.85, 1), [_cr("冀H5V93J", 0.99, 1)], "冀H5V93J"),
    ((24, 94), _cr("冀Q88230", 0.94, 1), [_cr("冀Q8823Q", 0.99, 1)], "冀Q8823Q"),
    # but a sure read only has a character corrected, none lost (a Croatian crop's last "I")
    ((24, 94), _cr("ZG424RI", 0.93, 1), [_cr("ZG424R", 0.99, 1)], "ZG424RI"),
    # a weak read in a known foreign format (Croatian) stays in one: a level view lost the I at the emblem
    ((50, 254), _cr("SI569AD", 0.58, 1), [_cr("S569AD", 0.99, 1), _cr("SI569AD", 0.94, 1)], "SI569AD"),
    ((24, 94), _cr("冀Q8823Q", 0.98, 1), [_cr("冀Q88230", 0.99, 1)], "冀Q8823Q"),  # sure enough as it is
    ((60, 98), _cr("冀Q88230", 0.94, 1), [_cr("冀Q8823Q", 0.99, 1)], "冀Q88230"),  # a box that kept its shape
])
def test_a_weak_crop_read_is_replaced_by_a_surer_straightened_view(shape, first, views, expected):
    rec = _StraighteningRecognizer(first, views)
    pipe = PlatePipeline(rec, _StagingDetector())  # type: ignore[arg-type]
    pipe._read_upright = lambda *a: Look([])  # type: ignore[method-assign, assignment]  # nothing staged
    assert pipe.read_crop(np.zeros((*shape, 3), np.uint8)).text == expected
    assert pipe.read_crop(np.zeros((*shape, 3), np.uint8), straighten=False).text == first.text


@pytest.mark.parametrize("layout,angle,squeeze,floor", [
    ("cn", 20.0, True, 8), ("cn", -30.0, True, 6), ("cn", 25.0, False, 8), ("cn", -35.0, False, 8),
    ("vn1", 30.0, False, 8)])
def test_crops_cut_at_the_upright_box_of_a_turned_plate_are_read(pipe: PlatePipeline, layout, angle, squeeze,
                                                                  floor):
    """Crop sets cut a plate at its upright box, some squeezed to 94×24 (CN); a plate turned 20° or
    more then read as garbage: before straightening, 0 of these 10 in each case but the first (a
    squeezed crop at 20° read a third to a half of the time). Squeezed at 30°, the characters are 3-4 px wide:
    ~0.75 read."""
    rng = random.Random(f"{layout}{angle}")
    read = 0
    for _ in range(10):
        text = random_text(layout, rng)
        crop = box_crop(text, layout, rng, angle, plate_width=rng.randint(180, 260), squeeze=squeeze)
        read += comparable(pipe.read_crop(crop).text) == comparable(text)
    assert read >= floor, read


def test_crops_of_turned_and_foreshortened_plates_are_read(pipe: PlatePipeline):
    """A plate turned 20° and seen from one side (one end 1.3 times its middle's height, the other 0.7)
    is no parallelogram in its box: the second look's foreshortened views read it. 20 CN plates, half
    squeezed to 94×24: 13 read (15 with the model fine-tuned on the morning of 2026-11-24, 12 with the
    one before; with that one, 6 with level views only, 2 with no straightening)."""
    rng = random.Random("yaw")
    read = 0
    for i in range(20):
        text = random_text("cn", rng)
        crop = box_crop(text, "cn", rng, 20.0 * (-1) ** i, yaw=0.3 * (-1) ** (i // 2),
                        plate_width=rng.randint(180, 260), squeeze=i % 4 < 2)
        read += comparable(pipe.read_crop(crop).text) == comparable(text)
    assert read >= 10, read


_UPRIGHT = np.full((60, 120, 3), 7, np.uint8)


@pytest.mark.parametrize("first,again,close,expected,looks", [
    # a tilted two-row plate taken as one block, read weakly: its upright crop read as a crop settles it
    (_fr("60B61172", 0.52, 2), _fr("60R61172", 1.0, 2), [], "60R61172", ["upright"]),
    # the crop read surer but not sure: the region is staged too, and the surest of the two wins
    (_fr("60B61172", 0.52, 2), _fr("60R61172", 0.7, 2), [_fr("60R61178", 0.8, 2)], "60R61178",
     ["upright", "staged"]),
    (_fr("60B61172", 0.52, 2), _fr("60R61172", 0.85, 2), [_fr("60R61178", 0.8, 2)], "60R61172",
     ["upright", "staged"]),
    # a crop read no surer, or fitting only the foreign grammar, is passed over
    (_fr("60B61172", 0.52, 2), _fr("60R61172", 0.5, 2), [], "60B61172", ["upright", "staged"]),
    (_fr("55P87062", 0.78, 2), _fr("5P87062", 0.95, 2), [], "55P87062", ["upright", "staged"]),
])
def test_a_weak_read_is_read_again_from_its_upright_crop(first, again, close, expected, looks):
    pipe = PlatePipeline(detector=_StagingDetector())  # type: ignore[arg-type]  # the reads are replaced below
    seen: list[str] = []

    def read(image: np.ndarray, zoom: float, ox: int, oy: int) -> Look:
        if image is _StagingDetector.STAGED:
            seen.append("staged")
            return Look(close)
        return Look([first], {first.text: _UPRIGHT})

    def read_crop(crop: np.ndarray, rows: int | None = None, straighten: bool = True) -> CropRead:
        assert crop is _UPRIGHT and rows == first.rows and not straighten  # cut level already
        seen.append("upright")
        return CropRead(again.text, again.confidence, again.char_confidence, again.rows, True)

    pipe.fallback_zoom = 1.0  # no closer look in tiles: these reads are home plates already
    pipe._read_upright = read  # type: ignore[method-assign]
    pipe.read_crop = read_crop  # type: ignore[method-assign]
    reads = pipe.read_frame(np.zeros((720, 1280, 3), np.uint8), thorough=True)
    assert reads[0].text == expected and seen == looks
    assert reads[0].box == first.box


def test_each_read_text_keeps_the_upright_crop_of_its_surest_candidate(pipe: PlatePipeline):
    rng = random.Random("upright")
    frame, _ = render_scene("51F06532", "vn1", rng, angle=12.0)
    look = pipe._read_upright(frame, 1.0, 0, 0)
    reads, upright = look.reads, look.upright
    assert reads and set(upright) == {r.text for r in reads}
    crop = upright[reads[0].text]
    assert crop.shape[1] > 2 * crop.shape[0]  # cut along the turned line: a one-row plate's shape
    assert pipe.read_crop(crop).text == reads[0].text


@pytest.mark.parametrize("faint,close,expected,looked", [
    # the surest faint plate, read surely up close, is the frame's plate
    ([("5B2889", 0.2), ("AAA5050", 0.1)], {"5B2889": ("5B28893", 1.0)}, "5B28893", ["5B2889"]),
    # read surer up close, but not surely: nothing (cab lettering reads weak plates up close too)
    ([("1P114", 0.25)], {"1P114": ("1P114", 0.44)}, None, ["1P114"]),
    # nothing surer up close: nothing, and the faint read itself is never the frame's plate
    ([("30H3005", 0.15)], {}, None, ["30H3005"]),
    # the second surest when the surest reads nothing sure; never a third
    ([("X1A2", 0.1), ("AB123", 0.28), ("CD456", 0.2)], {"CD456": ("CD4567", 0.95), "X1A2": ("X1A23", 0.99)},
     "CD4567", ["AB123", "CD456"]),
])
def test_a_frame_of_faint_plates_only_is_read_by_looking_at_them_closely(faint, close, expected, looked):
    pipe = PlatePipeline(detector=_StagingDetector())  # type: ignore[arg-type]  # the looks are replaced below
    pipe.fallback_zoom = 1.0  # one pass: the faint plates are all there is
    pipe._read_upright = lambda *a: Look([], {}, [(_fr(t, c), _UPRIGHT) for t, c in faint])  # type: ignore
    seen: list[str] = []

    def look_at(image: np.ndarray, reads: list[FrameRead], upright: np.ndarray | None, ox: int, oy: int,
                ) -> list[FrameRead]:
        assert upright is _UPRIGHT and len(reads) == 1
        seen.append(reads[0].text)
        return [_fr(*close[reads[0].text])] if reads[0].text in close else reads

    pipe._look_at = look_at  # type: ignore[method-assign]
    frame = np.zeros((720, 1280, 3), np.uint8)
    assert _first(pipe.read_frame(frame, thorough=True)) == (expected or "") and seen == looked
    seen.clear()
    assert pipe.read_frame(frame) == [] and seen == []  # a live frame off the loop: the next one looks again


def test_a_loose_crop_hung_on_a_truck_is_read_when_every_pass_reads_it_faintly(pipe: PlatePipeline):
    """A real held-out crop cut loose (a Czech plate inside its dark surround, 189×130) hung on 12
    truck fronts: on some the detector takes plate and surround as one block that reads below
    ``min_confidence`` at every pass, so nothing at all was read; looked at closely, they read right
    (9 → 11 of 12; 6 → 10 with the model before the fine-tuning of the afternoon of 2026-11-24; 10 → 11
    since weak candidates are read again cut down to the plate, ``edge.plate.tighten``, which reads
    most of them at the first pass)."""
    crop = cv2.imread(str(shared_crops() / "images" / "iwt519.jpg"))
    assert crop is not None
    rng = random.Random("iwt519.jpg")
    before = after = 0
    faint_look = pipe._faint_look
    for _ in range(12):
        frame, _ = render_scene("", "vn1", rng, plate_image=crop)
        pipe._faint_look = lambda *a: []  # type: ignore[method-assign]
        try:
            without = _first(pipe.read_frame(frame, still=True))
        finally:
            del pipe._faint_look
        assert pipe._faint_look == faint_look
        read = _first(pipe.read_frame(frame, still=True))
        assert read in ("", "5B28893") or read == without  # never a wrong plate where nothing was read
        before += without == "5B28893"
        after += read == "5B28893"
    assert after >= before + 1 and after >= 11, (before, after)


_MERGED_BOX, _PART_BOX, _ELSEWHERE = (100, 100, 300, 50), (250, 105, 140, 40), (700, 400, 200, 50)


def _kept(text: str, confidence: float, box: tuple[int, int, int, int], merged: int) -> tuple[Candidate, CropRead]:
    crop = np.zeros((box[3], box[2], 3), np.uint8)
    return (Candidate(box, crop, 2 if merged == 2 else None, 0.8, merged),
            CropRead(text, confidence, (confidence,) * len(text), 1, True))


@pytest.mark.parametrize("kept,texts", [
    # a foreign plate split at its emblem: the group alone goes, even when read surer
    ([_kept("ZG969LN", 0.9, _MERGED_BOX, 2), _kept("969LN", 0.99, _PART_BOX, 1)], ["ZG969LN"]),
    # a VN plate and a sticker beside it, merged into a foreign-looking read: the VN line stays
    ([_kept("51F06532VN", 0.9, _MERGED_BOX, 2), _kept("51F06532", 0.95, _PART_BOX, 1)], ["51F06532", "51F06532VN"]),
    # a VN merge drops its VN part too (the top row of a pair read as a plate of its own)
    ([_kept("59L214999", 0.9, _MERGED_BOX, 2), _kept("59L21499", 0.95, _PART_BOX, 1)], ["59L214999"]),
    # a line elsewhere in the frame is no part of the merge
    ([_kept("ZG969LN", 0.9, _MERGED_BOX, 3), _kept("29C12345", 0.5, _ELSEWHERE, 1)], ["ZG969LN", "29C12345"]),
    # a sure VN or CN plate goes before cab lettering that only the foreign grammar takes, however sure
    ([_kept("O912345678", 0.97, _ELSEWHERE, 1), _kept("29C12345", 0.85, _MERGED_BOX, 1)],
     ["29C12345", "O912345678"]),
    ([_kept("O912345678", 0.97, _ELSEWHERE, 1), _kept("桂A12345", 0.8, _MERGED_BOX, 1)], ["桂A12345", "O912345678"]),
    # ... but a weak one does not: the foreign plate read surely is likelier the plate
    ([_kept("29C12345", 0.6, _MERGED_BOX, 1), _kept("KT1234AB", 0.97, _ELSEWHERE, 1)], ["KT1234AB", "29C12345"]),
    # one text read from several candidates: once, at its best, boxes moved by the ROI's origin
    ([_kept("29C12345", 0.6, _ELSEWHERE, 1), _kept("29C12345", 0.7, _MERGED_BOX, 2)], ["29C12345"]),
])
def test_merged_lines_replace_their_parts(kept: list[tuple[Candidate, CropRead]], texts: list[str]):
    out = plates(kept, 10, 20)
    assert [r.text for r in out] == texts
    if texts == ["29C12345"]:
        assert out[0].confidence == 0.7 and out[0].box == (110, 120, 300, 50)


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
                                   np.zeros((720, 1280), np.uint8), np.zeros((720, 1280, 4), np.uint8),
                                   np.zeros((2, 3000, 3), np.uint8), np.zeros((720, 1280, 3), np.float32)],
                         ids=["empty", "1x1", "grey", "bgra", "a sliver", "float"])
def test_odd_frames_read_as_no_plate_never_an_error(pipe: PlatePipeline, image: np.ndarray):
    assert pipe.read_frame(image) == [] and pipe.read_frame(image, thorough=True) == []
    assert not pipe.read_crop(image).valid


@pytest.mark.parametrize("roi", [(-10, -10, 100, 100), (0, 0, 0, 0), (1200, 700, 500, 500), (5000, 0, 10, 10)])
def test_a_region_of_interest_is_clipped_to_the_frame(pipe: PlatePipeline, roi: tuple[int, int, int, int]):
    frame, _ = render_scene("29C12345", "vn1", random.Random(4))
    assert pipe.read_frame(frame, roi=roi, thorough=True) == []


def test_a_region_of_interest_reaching_past_the_frame_reads_what_is_inside(pipe: PlatePipeline):
    frame, (x, y, w, h) = render_scene("29C12345", "vn1", random.Random(4))
    reads = pipe.read_frame(frame, roi=(-50, y - 40, 5000, h + 80))
    assert [r.text for r in reads][:1] == ["29C12345"]
    assert reads[0].box[1] >= y - 40  # boxes in the frame's own pixels


def test_grey_and_bgra_frames_are_read_and_looked_at_closely(pipe: PlatePipeline, monkeypatch: pytest.MonkeyPatch):
    frame, _ = render_scene("29C12345", "vn1", random.Random(4))
    monkeypatch.setattr("edge.plate.pipeline.RESCUE_BELOW", 1.01)  # every best read gets the close look
    for image in (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)):
        assert [r.text for r in pipe.read_frame(image, thorough=True)][:1] == ["29C12345"]


def test_rows_overlapping_by_most_of_a_line_still_pair():
    """The detector grows each row past its glyphs, so a small two-row plate's rows overlap; turned a
    little off the pair's mean angle they overlap more. Up to PAIR_OVERLAP line heights they pair."""
    image = np.zeros((720, 1280, 3), np.uint8)
    for overlap, pairs in ((0.7, 1), (0.9, 0)):
        top = cv2.boxPoints(((640.0, 340.0), (120.0, 30.0), 3.0))
        bottom = cv2.boxPoints(((640.0, 340.0 + 30.0 * (1 - overlap) + 1.0), (160.0, 30.0), -3.0))
        cands = lines.candidates(image, [(top, 0.9), (bottom, 0.8)])
        assert sum(c.rows == 2 for c in cands) == pairs, overlap



def _staging(by_zoom: dict[float, list[FrameRead]], fallback_zoom: float = FALLBACK_ZOOM
             ) -> tuple[PlatePipeline, list[float]]:
    """A pipeline whose staged frame reads as scripted at each zoom, and the zooms it was read at."""
    pipe = PlatePipeline(detector=_StagingDetector(), fallback_zoom=fallback_zoom)  # type: ignore[arg-type]
    zooms: list[float] = []

    def read(image: np.ndarray, zoom: float, ox: int, oy: int) -> Look:
        assert image is _StagingDetector.STAGED
        zooms.append(zoom)
        return Look(by_zoom.get(zoom, []))

    pipe._read_upright = read  # type: ignore[method-assign]
    return pipe, zooms


PHOTO = np.zeros((2048, 1536, 3), np.uint8)  # a photo-sized crop: staging shrinks it


def test_a_staged_crop_showing_no_plate_is_looked_at_closer():
    # its two-row plate shows only its top row until looked at closer
    by_zoom = {1.0: [_fr("38MD1", 0.94)], FALLBACK_ZOOM: [_fr("38MD105087", 0.8, 2)]}
    pipe, zooms = _staging(by_zoom)
    found = pipe._staged(PHOTO, 2, 0.2)
    assert found is not None and found.text == "38MD105087"
    assert zooms == [1.0, FALLBACK_ZOOM]
    # a region that staging scales up shows nothing more closer
    pipe, zooms = _staging(by_zoom)
    assert pipe._staged(np.zeros((120, 300, 3), np.uint8), 2, 0.2) is None and zooms == [1.0]


def test_a_staged_crop_showing_a_weaker_plate_is_not_looked_at_again():
    region = PHOTO
    pipe, zooms = _staging({1.0: [_fr("38MD105087", 0.3, 2)], FALLBACK_ZOOM: [_fr("38MD105087", 0.8, 2)]})
    assert pipe._staged(region, 2, 0.5) is None
    assert zooms == [1.0]
    never_closer, zooms = _staging({FALLBACK_ZOOM: [_fr("38MD105087", 0.8, 2)]}, fallback_zoom=1.0)
    assert never_closer._staged(region, 2, 0.2) is None and zooms == [1.0]
