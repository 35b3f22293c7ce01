"""Per-vehicle voting: a vehicle seen over many frames gives exactly one read."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from edge.camera.base import Frame
from edge.config.models import OpenVinoReader
from edge.plate.pipeline import FrameRead
from edge.plate.synth import render_scene
from edge.plate.vote import MAX_TRACK_READS, Voter

IMG = np.zeros((8, 8, 3), np.uint8)


def fr(text: str, x: int, conf: float = 0.9) -> FrameRead:
    return FrameRead(text, conf, tuple([conf] * len(text)), (x, 100, 120, 30), 1)


def test_moving_vehicle_many_frames_one_read_voted_over_misreads():
    v = Voter(agree=3, stop_frames=4)
    t0 = 1000.0
    texts = ["51F06532", "51F06S32", "51F06532", "51F0653Z", "51F06532", "51F06532", "51F06532"]
    out = [v.update([fr(t, 10 + 25 * i)], IMG, t0 + i * 0.1) for i, t in enumerate(texts)]
    emitted = [o for o in out if o is not None]
    assert len(emitted) == 1
    assert emitted[0].text == "51F06532"
    assert 0 < emitted[0].confidence <= 0.9
    assert emitted[0].snapshot_jpeg and emitted[0].snapshot_jpeg[:2] == b"\xff\xd8"


def test_stopped_vehicle_emits_before_agreement():
    v = Voter(agree=10, min_reads=2, stop_frames=4, stop_px=5)
    outs = [v.update([fr("29C12345" if i % 2 else "29C12346", 300 + (i % 2))], IMG, 1.0 + i * 0.1)
            for i in range(6)]
    assert sum(o is not None for o in outs) == 1


def test_loop_trigger_emits_at_once():
    v = Voter(agree=10)
    assert v.update([fr("29C12345", 10)], IMG, 1.0) is None
    read = v.update([], IMG, 1.1, loop=True)
    assert read is not None and read.text == "29C12345"


def test_loop_trigger_before_the_plate_is_in_sight_emits_the_first_read():
    v = Voter(agree=10, loop_hold_s=2.0)
    v.trigger(1.0)
    assert v.update([], IMG, 1.2) is None  # nothing in sight yet
    read = v.update([fr("29C12345", 10)], IMG, 1.5)
    assert read is not None and read.text == "29C12345"
    # One trigger, one read: the next vehicle waits for agreement again.
    assert [v.update([fr("51F06532", 400 + i * 30)], IMG, 1.6 + i * 0.1) for i in range(3)] == [None] * 3


def test_loop_trigger_expires_after_hold():
    v = Voter(agree=10, loop_hold_s=1.0)
    v.trigger(1.0)
    assert v.update([fr("29C12345", 10)], IMG, 2.5) is None


def test_next_vehicle_after_the_first_has_left():
    v = Voter(agree=2, lost_s=1.0)
    first = [v.update([fr("29C12345", 10 + i)], IMG, 1.0 + i * 0.1) for i in range(4)]
    second = [v.update([fr("51F06532", 10 + i)], IMG, 5.0 + i * 0.1) for i in range(4)]
    assert [o.text for o in first + second if o] == ["29C12345", "51F06532"]


def test_same_plate_returning_later_is_a_new_vehicle():
    v = Voter(agree=2, lost_s=1.0)
    reads = [v.update([fr("29C12345", 10)], IMG, t) for t in (1.0, 1.1, 1.2, 9.0, 9.1)]
    assert sum(o is not None for o in reads) == 2


def test_frames_without_plates_emit_nothing():
    v = Voter()
    assert all(v.update([], IMG, 1.0 + i) is None for i in range(10))


@pytest.fixture(scope="module")
def reader():
    from edge.plate.openvino_reader import OpenVinoPlateReader
    return OpenVinoPlateReader(OpenVinoReader(type="openvino"))


def test_real_reader_truck_driving_in_over_many_frames_yields_one_read(reader):
    rng = random.Random(11)
    scene, _ = render_scene("29C-123.45", "vn1", rng)
    reads = []
    for i in range(12):  # the truck rolls forward a little each frame, then stops
        shift = min(i, 8) * 6
        img = np.roll(scene, shift, axis=0)
        r = reader.read(Frame(img, time.time() + i * 0.1))
        if r:
            reads.append(r)
    assert [r.text for r in reads] == ["29C12345"]
    assert reads[0].box is not None and reads[0].snapshot_jpeg


def test_real_reader_empty_road_reads_nothing(reader):
    img = np.full((720, 1280, 3), 90, np.uint8)
    assert all(reader.read(Frame(img, time.time() + i)) is None for i in range(3))


def test_a_truck_held_at_the_barrier_is_read_once_and_its_track_stays_small():
    """Ten minutes of customs checks at 8 frames/s: one read, and the track keeps only its newest reads."""
    v = Voter(agree=3, stop_frames=4)
    t0 = 1000.0
    out = [v.update([fr("51F06532", 300)], IMG, t0 + i / 8) for i in range(8 * 600)]
    assert sum(o is not None for o in out) == 1
    assert len(v.tracks) == 1 and len(v.tracks[0].reads) == MAX_TRACK_READS
    assert v.tracks[0].reads[-1][1] == t0 + (8 * 600 - 1) / 8
