"""Motion blur along the rows or down the columns, and an out-of-focus blur, found and undone
(edge/plate/deblur.py), and when a still image's reads give way to those of its unblurred copy
(PlatePipeline._unblurred)."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from edge.plate import deblur
from edge.plate.evaluate import comparable
from edge.plate.pipeline import FrameRead, PlatePipeline
from edge.plate.synth import random_text, render_plate, render_scene, smeared as smear


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def scene(seed: int, layout: str = "vn1") -> np.ndarray:
    rng = random.Random(seed)
    size = (720, 1160) if layout == "cn" else (1280, 720)
    return render_scene(random_text(layout, rng), layout, rng, size=size)[0]


@pytest.mark.parametrize("length", [7, 11, 15, 21])
@pytest.mark.parametrize("quality", [100, 85])
@pytest.mark.parametrize("vertical", [False, True])
def test_a_blur_along_the_rows_or_columns_is_found_with_its_length(length: int, quality: int, vertical: bool):
    """12 scenes of every layout: when this was written, one length at most was off by more than a
    pixel (a 7 px blur on a foreign plate's scene taken for 10) or not found (21 px, JPEG 85)."""
    found = [deblur.motion_blur(jpeg(smear(scene(seed, layout), length, vertical), quality))
             for seed in range(1, 4) for layout in ("vn1", "vn2", "cn", "latin")]
    assert sum(abs(n - length) <= 1 and v == vertical for n, v in found) >= 11, found


@pytest.mark.parametrize("seed", range(4))
def test_sharp_and_out_of_focus_images_show_no_motion_blur(seed: int):
    frame = scene(seed, "vn2" if seed % 2 else "cn")
    assert deblur.motion_blur(frame)[0] == 0
    assert deblur.motion_blur(jpeg(frame, 75))[0] == 0
    assert deblur.motion_blur(cv2.GaussianBlur(frame, (11, 11), 0))[0] == 0  # smooth both ways: no smear


def test_noise_alternating_more_one_way_than_the_other_is_no_smear():
    """Flat, noisy parts make neighbouring gradients alternate; faint stripes 5 px apart alternate
    them less down the columns (-0.5 along the rows, -0.2 down) and leave a trough at 5 px: smoother
    down the columns only by comparison, not smooth, and no smear (a sharp portrait frame was once
    taken for one so)."""
    rng = np.random.default_rng(2)
    stripes = 8.0 * ((np.arange(400)[:, None] // 5) % 2)
    img = np.clip(rng.normal(128, 3, (400, 600)) + stripes, 0, 255).astype(np.uint8)
    assert deblur.motion_blur(img) == (0, False)


@pytest.mark.parametrize("shape", [(24, 94, 3), (10, 400), (300, 100, 3)])
def test_images_too_small_to_tell_show_none(shape: tuple[int, ...]):
    rng = np.random.default_rng(0)
    assert deblur.motion_blur(rng.integers(0, 255, shape, dtype=np.uint8)) == (0, False)


@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("vertical", [False, True])
def test_unblurring_brings_the_image_back_near_the_sharp_one(grey: bool, vertical: bool):
    plate = render_plate("51F06532", "vn1", random.Random(4), height=110)
    if grey:
        plate = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    blurred = smear(plate, 13, vertical)
    sharp = deblur.unblurred(blurred, 13, vertical)
    assert sharp.shape == plate.shape and sharp.dtype == np.uint8
    inner = (slice(20, -20), slice(None)) if vertical else (slice(None), slice(20, -20))
    err = lambda img: float(np.abs(img.astype(np.float32) - plate.astype(np.float32))[inner].mean())  # noqa: E731
    assert err(sharp) < 0.6 * err(blurred)


def test_unblurring_by_less_than_two_pixels_is_no_change():
    img = np.arange(200, dtype=np.uint8).reshape(10, 20)
    assert deblur.unblurred(img, 1) is img


@pytest.mark.parametrize("seed", range(3))
def test_sharp_and_smeared_images_show_no_focus_blur(seed: int):
    frame = scene(seed, ("vn1", "cn", "latin")[seed])
    assert deblur.defocus(frame) == 0.0
    assert deblur.defocus(jpeg(frame, 75)) == 0.0
    assert deblur.defocus(smear(frame, 15)) == 0.0  # smooth one way only: a motion blur


@pytest.mark.parametrize("sigma", [1.5, 2.0, 2.5])
def test_a_focus_blur_is_found_short_of_its_width(sigma: float):
    """Read back from the gradients' correlation, the width falls short of the blur's (a picture's own
    gradients correlate a little too), the safe side: overdone, a blur rings into other characters."""
    found = [deblur.defocus(jpeg(cv2.GaussianBlur(scene(seed, layout), (0, 0), sigma), 90))
             for seed in range(1, 3) for layout in ("vn2", "cn", "latin")]
    assert all(0.6 * sigma <= s <= 1.1 * sigma for s in found), found
    assert deblur.defocus(cv2.GaussianBlur(scene(1, "cn"), (0, 0), sigma + 1)) > found[1]


@pytest.mark.parametrize("grey", [False, True])
def test_unfocusing_brings_the_image_back_near_the_sharp_one(grey: bool):
    plate = render_plate("51F06532", "vn1", random.Random(4), height=110)
    if grey:
        plate = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(plate, (0, 0), 2.5)
    sharp = deblur.unfocused(blurred, 2.5)
    assert sharp.shape == plate.shape and sharp.dtype == np.uint8
    err = lambda img: float(np.abs(img.astype(np.float32) - plate.astype(np.float32))[10:-10, 10:-10].mean())  # noqa: E731
    assert err(sharp) < 0.75 * err(blurred)  # the plate's grain, lost to the blur, stays lost
    assert deblur.unfocused(blurred, 0.0) is blurred


@pytest.fixture(scope="module")
def pipe() -> PlatePipeline:
    return PlatePipeline()


def test_a_still_smeared_by_a_passing_truck_is_read_with_the_blur_undone(pipe: PlatePipeline):
    """Plates 200 px wide smeared by 21 px: read wrong or not at all as they are (7 of 8 when this was
    written), read right once the blur is undone."""
    wrong_before = 0
    for seed, text in enumerate(("闽F·S10J5", "皖A·D1234", "闽F·S10J5", "皖A·D1234")):
        rng = random.Random(seed)
        frame = smear(render_scene(text, "cn", rng, size=(720, 1160), plate_width=200)[0], 21)
        length, vertical = deblur.motion_blur(frame)
        assert abs(length - 21) <= 1 and not vertical
        before = pipe._read_frame(frame, 0, 0, True, True)
        wrong_before += not before or comparable(before[0].text) != comparable(text)
        reads = pipe.read_frame(frame, still=True)
        assert reads and comparable(reads[0].text) == comparable(text) and reads[0].confidence >= 0.9
    assert wrong_before >= 2  # the test would show nothing if the smear left the plates readable


def _fr(text: str, confidence: float) -> FrameRead:
    return FrameRead(text, confidence, (confidence,) * len(text), (10, 10, 100, 30), 1)


class Scripted(PlatePipeline):
    """Reads ``first`` from the image as given and ``again`` from any other (its unblurred copy)."""

    def __init__(self, first: list[FrameRead], again: list[FrameRead]):
        super().__init__(detector=object())  # type: ignore[arg-type]  # never used: _read_frame is scripted
        self.first, self.again, self.seen = first, again, []

    def _read_frame(self, image, ox, oy, thorough, still):
        self.seen.append(image)
        return self.first if len(self.seen) == 1 else self.again


@pytest.mark.parametrize("first,again,expected", [
    ([_fr("51F06532", 0.95)], [_fr("51F06533", 0.99)], "51F06532"),    # sure already: never looked again
    ([_fr("51F06582", 0.6)], [_fr("51F06532", 0.97)], "51F06532"),     # surer VN read wins
    ([], [_fr("闽FS10J5", 0.85)], "闽FS10J5"),                          # a fair CN read where none was
    ([], [_fr("闽FS10J5", 0.7)], None),                                 # a weak one does not
    ([], [_fr("HPH0NG00", 0.85)], None),                                # lettering, read as a foreign plate
    ([], [_fr("ZG162LC", 0.95)], "ZG162LC"),                            # a sure foreign plate
    ([_fr("51F06582", 0.6)], [_fr("ZG162LC", 0.99)], "51F06582"),      # never foreign for VN/CN
    ([_fr("51F06582", 0.85)], [_fr("51F06532", 0.83)], "51F06582"),    # not surer: kept
])
def test_a_weak_still_gives_way_to_its_unblurred_copys_fair_reads(monkeypatch, first, again, expected):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (13, False))
    p = Scripted(first, again)
    reads = p.read_frame(np.zeros((720, 1280, 3), np.uint8), still=True)
    assert (reads[0].text if reads else None) == expected
    assert len(p.seen) == (1 if first and first[0].confidence >= 0.9 else 2)


def test_only_still_images_are_unblurred(monkeypatch):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (13, False))
    p = Scripted([_fr("51F06582", 0.6)], [_fr("51F06532", 0.97)])
    assert p.read_frame(np.zeros((720, 1280, 3), np.uint8), thorough=True)[0].text == "51F06582"
    assert len(p.seen) == 1  # a live frame: the next frame is the next look


def test_an_image_showing_no_blur_is_read_once(monkeypatch):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (0, False))
    monkeypatch.setattr(deblur, "defocus", lambda image: 0.0)
    p = Scripted([], [_fr("51F06532", 0.97)])
    assert p.read_frame(np.zeros((720, 1280, 3), np.uint8), still=True) == [] and len(p.seen) == 1


def test_boxes_of_an_unblurred_region_of_interest_stay_in_frame_coordinates(monkeypatch):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (13, False))
    seen: list[tuple[int, int]] = []

    class Offsets(Scripted):
        def _read_frame(self, image, ox, oy, thorough, still):
            seen.append((ox, oy))
            return super()._read_frame(image, ox, oy, thorough, still)

    p = Offsets([], [_fr("51F06532", 0.97)])
    p.read_frame(np.zeros((720, 1280, 3), np.uint8), roi=(100, 50, 600, 400), still=True)
    assert seen == [(100, 50), (100, 50)]


def test_an_image_larger_than_a_camera_frame_is_not_unblurred(monkeypatch):
    """A channel of a 12 MP photo in the frequency domain would be ~100 MB in a process meant to stay
    under 300 MB in all."""
    called: list[tuple[int, ...]] = []
    monkeypatch.setattr(deblur, "motion_blur", lambda image: called.append(image.shape) or (13, False))
    p = Scripted([_fr("51F06582", 0.6)], [_fr("51F06532", 0.97)])
    assert p.read_frame(np.zeros((1200, 1920, 3), np.uint8), still=True)[0].text == "51F06582"
    assert called == [] and len(p.seen) == 1
    p = Scripted([_fr("51F06582", 0.6)], [_fr("51F06532", 0.97)])
    assert p.read_frame(np.zeros((1080, 1920, 3), np.uint8), still=True)[0].text == "51F06532"
    assert called == [(1080, 1920)]  # looked at in grey


def test_a_still_smeared_down_the_picture_is_read_with_the_blur_undone(pipe: PlatePipeline):
    """A truck coming down the lane towards a camera above it smears its plate down the picture; two-row
    plates suffer most (40 synthetic stills smeared 7-17 px down: 28 read as they are, 39 undone)."""
    wrong_before = 0
    for seed in range(4):
        rng = random.Random(seed)
        text = random_text("vn2", rng)
        frame = smear(render_scene(text, "vn2", rng, plate_width=180)[0], 17, vertical=True)
        length, vertical = deblur.motion_blur(frame)
        assert abs(length - 17) <= 1 and vertical
        before = pipe._read_frame(frame, 0, 0, True, True)
        wrong_before += not before or comparable(before[0].text) != comparable(text)
        reads = pipe.read_frame(frame, still=True)
        assert reads and comparable(reads[0].text) == comparable(text), (text, reads[:1])
    assert wrong_before >= 2


def test_a_still_out_of_focus_is_read_with_the_blur_undone(pipe: PlatePipeline):
    """Small CN plates (76 px wide) turned up to 12° in portrait stills blurred as a hand-held photo is:
    when this was written, 3 of these 8 were read wrong or not at all as they are, none undone (of 24:
    10 as they are, 1 undone)."""
    wrong_before, right_after = _out_of_focus_stills_read(pipe, 76, lambda f: cv2.GaussianBlur(f, (11, 11), 0))
    assert wrong_before >= 2 and right_after >= 7, (wrong_before, right_after)


def _out_of_focus_stills_read(pipe: PlatePipeline, width: int, blur) -> tuple[int, int]:
    """Eight small CN plates (``width`` px wide) turned up to 12° in portrait stills blurred by
    ``blur``: (read wrong as they are, read right as still frames)."""
    wrong_before = right_after = 0
    for seed in range(8):
        rng = random.Random(seed)
        text = random_text("cn", rng)
        frame = render_scene(text, "cn", rng, size=(720, 1160), plate_width=width, angle=rng.uniform(-12, 12))[0]
        frame = blur(frame)
        assert 1.0 < deblur.defocus(frame) < 2.5
        before = pipe._read_frame(frame, 0, 0, True, True)
        wrong_before += not before or comparable(before[0].text) != comparable(text)
        reads = pipe.read_frame(frame, still=True)
        right_after += bool(reads) and comparable(reads[0].text) == comparable(text)
    return wrong_before, right_after


def test_a_weak_still_out_of_focus_gives_way_to_its_sharpened_copys_read(monkeypatch):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (0, False))
    monkeypatch.setattr(deblur, "defocus", lambda image: 1.5)
    p = Scripted([_fr("皖G70T85", 0.6)], [_fr("皖GP0T85", 0.97)])
    assert p.read_frame(np.zeros((720, 1280, 3), np.uint8), still=True)[0].text == "皖GP0T85"
    assert len(p.seen) == 2 and p.seen[1] is not p.seen[0]


@pytest.mark.parametrize("radius", [1.5, 3.0, 3.6, 4.2])
def test_a_disc_is_round_sums_to_one_and_covers_its_area(radius: float):
    d = deblur._disc(radius)
    assert d.shape[0] == d.shape[1] == 2 * int(np.ceil(radius)) + 1
    assert abs(float(d.sum()) - 1.0) < 1e-5
    assert np.allclose(d, d.T) and np.allclose(d, d[::-1]) and np.allclose(d, d[:, ::-1])
    area = float(d.sum() / d.max())  # pixels the disc covers, the part-covered ones in part
    assert abs(area - np.pi * radius ** 2) < 0.05 * np.pi * radius ** 2


@pytest.mark.parametrize("grey", [False, True])
def test_undoing_a_disc_brings_the_image_back_where_a_gaussian_does_not(grey: bool):
    plate = render_plate("51F06532", "vn1", random.Random(4), height=110)
    if grey:
        plate = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    blurred = cv2.filter2D(plate, -1, deblur._disc(4.0))
    sigma = 2.0  # a disc of radius 4 spreads a point as a Gaussian of sigma 2 does
    sharp = deblur.unfocused_disc(blurred, sigma)
    assert sharp.shape == plate.shape and sharp.dtype == np.uint8
    err = lambda img: float(np.abs(img.astype(np.float32) - plate.astype(np.float32))[10:-10, 10:-10].mean())  # noqa: E731
    assert err(sharp) < 0.75 * err(blurred)
    assert err(sharp) < 0.8 * err(deblur.unfocused(blurred, sigma))
    assert deblur.unfocused_disc(blurred, 0.0) is blurred


def test_a_still_far_out_of_focus_is_read_with_a_disc_undone(pipe: PlatePipeline):
    """Small CN plates (80 px wide) in portrait stills blurred by a disc of radius 3.5 px, a lens far
    out of focus: when this was written, 1 of these 8 was read right as it was, 5 after (with only
    the Gaussian undone: 1)."""
    wrong_before, right_after = _out_of_focus_stills_read(pipe, 80, lambda f: cv2.filter2D(f, -1, deblur._disc(3.5)))
    assert wrong_before >= 5 and right_after >= 5, (wrong_before, right_after)


class ThreeLooks(Scripted):
    """Reads ``first`` from the image as given, then ``reads`` in turn from each sharpened copy."""

    def __init__(self, first: list[FrameRead], *reads: list[FrameRead]):
        super().__init__(first, [])
        self.reads = list(reads)

    def _read_frame(self, image, ox, oy, thorough, still):
        self.seen.append(image)
        return self.first if len(self.seen) == 1 else self.reads[len(self.seen) - 2]


@pytest.mark.parametrize("gaussian,disc,expected,looks", [
    ([_fr("皖GP0T85", 0.95)], [_fr("皖GP0T86", 0.99)], "皖GP0T85", 2),  # the Gaussian's sure: no disc
    ([_fr("皖GP0T88", 0.7)], [_fr("皖GP0T85", 0.97)], "皖GP0T85", 3),   # weak: the disc's surer read
    ([], [_fr("皖GP0T85", 0.9)], "皖GP0T85", 3),                        # none: the disc's
    ([_fr("皖GP0T88", 0.85)], [_fr("皖GP0T85", 0.8)], "皖GP0T88", 3),   # the disc's no surer: kept
    ([_fr("皖GP0T88", 0.85)], [], "皖GP0T88", 3),                       # the disc reads nothing
])
def test_a_weak_read_of_the_gaussian_undone_gives_way_to_the_discs(monkeypatch, gaussian, disc, expected, looks):
    monkeypatch.setattr(deblur, "motion_blur", lambda image: (0, False))
    monkeypatch.setattr(deblur, "defocus", lambda image: 1.8)
    p = ThreeLooks([_fr("皖G70T85", 0.5)], gaussian, disc)
    assert p.read_frame(np.zeros((720, 1280, 3), np.uint8), still=True)[0].text == expected
    assert len(p.seen) == looks
