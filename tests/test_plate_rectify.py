"""Straightening a crop cut at the upright box of a turned plate (edge.plate.rectify): the geometry."""

from __future__ import annotations

import math
import random

import cv2
import numpy as np
import pytest

from edge.plate import rectify
from edge.plate.synth import SQUEEZED, paste_turned, render_plate


def _turned(aspect: float, angle: float) -> np.ndarray:
    """Corners (TL, TR, BR, BL) of a plate of height 1 turned ``angle`` degrees clockwise on screen."""
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    half = np.array([[-aspect, -1], [aspect, -1], [aspect, 1], [-aspect, 1]]) / 2
    return half @ rot.T


def _closed_form(aspect: float, angle: float) -> np.ndarray:
    """The module note's shares: the top side touched at a of the width, the right side at b."""
    t = math.radians(abs(angle))
    a = math.sin(t) / (aspect * math.cos(t) + math.sin(t))
    b = aspect * math.sin(t) / (aspect * math.sin(t) + math.cos(t))
    quad = [(a, 0), (1, b), (1 - a, 1), (0, 1 - b)] if angle >= 0 else [(0, b), (1 - a, 0), (1, 1 - b), (a, 1)]
    return np.float32(quad)


@pytest.mark.parametrize("aspect", [1.4, 2.0, 3.2, 4.7])
@pytest.mark.parametrize("angle", [-40.0, -25.0, -5.0, 5.0, 20.0, 45.0])
def test_corners_are_where_a_turned_plate_touches_its_upright_box(aspect: float, angle: float):
    pts = _turned(aspect, angle)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    shares = (pts - lo) / (hi - lo)  # as shares of the box: the same for a box squeezed to any size
    assert rectify.corners(aspect, angle) == pytest.approx(shares.astype(np.float32), abs=1e-5)
    assert rectify.corners(aspect, angle) == pytest.approx(_closed_form(aspect, angle), abs=1e-5)


def test_a_foreshortened_plate_is_no_parallelogram_in_its_box():
    canvas = np.zeros((600, 800), np.uint8)
    paste_turned(canvas, np.full((60, 190), 255, np.uint8), (300, 270, 190, 60), 15.0, 0.3)
    ys, xs = np.nonzero(canvas)
    box_w, box_h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    quad = rectify.corners(190 / 60, 15.0, 0.3) * np.float32([box_w, box_h]) + np.float32([xs.min(), ys.min()])
    drawn = np.zeros_like(canvas)
    cv2.fillConvexPoly(drawn, np.round(quad).astype(np.int32), 255)
    overlap = np.logical_and(drawn > 0, canvas > 0).sum() / np.logical_or(drawn > 0, canvas > 0).sum()
    assert overlap > 0.97  # the quad is where render_scene pastes the plate
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    assert right / left == pytest.approx(1.3 / 0.7, rel=0.02)


def test_second_looks_foreshorten_the_best_turns_and_a_level_plate():
    more = rectify.foreshortened(94 / 24, None, [(20.0, 3.2), (-15.0, 4.7)])
    assert {y for _, _, y in more} == set(rectify.YAWS)
    assert len(more) == len(rectify.YAWS) * (2 + len(rectify.ONE_ROW_ASPECTS))
    assert (0.0, 3.2, 0.3) in more and (20.0, 3.2, -0.15) in more
    kept = rectify.foreshortened(2.0, None, [])  # a box that kept its shape: as tall as the taller end
    assert sorted(r for _, r, _ in kept) == pytest.approx(sorted(2.0 * (1 + abs(y)) for y in rectify.YAWS))


@pytest.mark.parametrize("aspect", [1.4, 3.2, 4.7])
@pytest.mark.parametrize("angle", [-30.0, -10.0, 5.0, 15.0])
def test_a_box_that_kept_its_shape_tells_the_plate_shape(aspect: float, angle: float):
    pts = _turned(aspect, angle)
    w, h = pts.max(axis=0) - pts.min(axis=0)
    assert rectify.kept_shape_aspect(w / h, angle) == pytest.approx(aspect, rel=1e-6)


def test_no_plate_shape_gives_a_long_box_at_a_steep_turn():
    # a 94×24 box (3.9:1) holds no plate turned 30°: its box would be far squarer
    assert rectify.kept_shape_aspect(94 / 24, 30.0) is None
    assert rectify.kept_shape_aspect(1.0, 5.0) is None  # a square box at 5°: a plate shorter than MIN_ASPECT


def test_plate_shapes_of_the_layouts_are_tried_only_in_boxes_that_may_be_squeezed():
    squeezed = rectify.shapes(94 / 24, None)
    assert {r for _, r in squeezed} >= set(rectify.ONE_ROW_ASPECTS)
    assert {a for a, _ in squeezed} == {s * k for k in rectify.ANGLES for s in (1, -1)}
    # a box that kept its shape is straightened at the one plate shape that gives it its shape
    kept = rectify.shapes(1.64, None)
    assert not set(rectify.ONE_ROW_ASPECTS) & {r for _, r in kept}
    assert all(rectify.kept_shape_aspect(1.64, a) == pytest.approx(r) for a, r in kept)
    # and a two-row hint takes no one-row plate shape, even in a long box
    assert all(r <= 3.0 for _, r in rectify.shapes(3.5, 2))
    assert all(r >= 2.0 for _, r in rectify.shapes(1.64, 1))


@pytest.mark.parametrize("layout,angle,squeeze", [("cn", 25.0, False), ("cn", -30.0, True), ("vn1", 20.0, False)])
def test_the_view_at_the_plates_own_turn_is_the_level_plate(layout: str, angle: float, squeeze: bool):
    text = "苏C·0603T" if layout == "cn" else "51F-065.32"
    plate = render_plate(text, layout, random.Random(4))  # type: ignore[arg-type]
    ph, pw = plate.shape[:2]
    canvas = np.full((1000, 1000, 3), 90, np.uint8)
    dst = (_turned(pw / ph, angle) * ph + 500).astype(np.float32)
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]), dst)
    cv2.warpPerspective(plate, m, (1000, 1000), canvas, borderMode=cv2.BORDER_TRANSPARENT)
    x0, y0 = np.floor(dst.min(axis=0)).astype(int)
    x1, y1 = np.ceil(dst.max(axis=0)).astype(int)
    crop = canvas[y0:y1, x0:x1]
    if squeeze:
        crop = cv2.resize(crop, SQUEEZED, interpolation=cv2.INTER_AREA)
    h, w = crop.shape[:2]
    shapes = rectify.shapes(w / h, None)
    views = [rectify.view(crop, r, a) for a, r in shapes]

    def likeness(view: np.ndarray) -> float:
        a = cv2.resize(cv2.cvtColor(view, cv2.COLOR_BGR2GRAY), (188, 48)).astype(np.float32)
        b = cv2.resize(cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY), (188, 48)).astype(np.float32)
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    scores = [likeness(v) for v in views]
    best = shapes[int(np.argmax(scores))]
    assert best[0] == angle and max(scores) > (0.7 if squeeze else 0.85), (best, max(scores))
    level = [s for (a, _), s in zip(shapes, scores) if a == 5.0 * np.sign(angle)]
    assert max(scores) > max(level) + 0.4  # the true turn stands out from a nearly level view


def test_grey_and_colour_crops_straighten_alike():
    grey = np.tile(np.arange(94, dtype=np.uint8), (24, 1))
    view = rectify.view(grey, 3.2, 20.0)
    assert view.shape == (rectify.VIEW_H, 128)
    assert np.array_equal(rectify.view(np.dstack([grey] * 3), 3.2, 20.0)[..., 0], view)


def test_noise_and_odd_shapes_straightened_give_no_sure_plate():
    """Straightening tries dozens of views of a weak crop: noise must not come out a sure plate from
    any of them, and odd shapes (a sliver, a grey or BGRA crop, an empty one) read without error."""
    from edge.plate.pipeline import RESCUE_BELOW, PlatePipeline

    pipe = PlatePipeline()
    rng = np.random.default_rng(0)
    shapes = [(24, 94, 3)] * 6 + [(60, 98, 3)] * 6 + [(3, 3, 3), (4, 400, 3), (400, 4, 3), (24, 94), (24, 94, 4),
                                                     (5, 2000, 3), (0, 0, 3), (1, 1)]
    for shape in shapes:
        read = pipe.read_crop(rng.integers(0, 255, shape, dtype=np.uint8))
        assert not (read.valid and read.confidence >= RESCUE_BELOW), (shape, read)
    assert pipe.read_crop(np.zeros((24, 94, 3), np.uint8)).confidence < RESCUE_BELOW
