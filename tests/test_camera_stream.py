"""The live camera driver against real streams: gate-sim's HTTP-MJPEG server (drops, corrupt frames,
part headers, ROI), a video file through OpenCV, and an RTSP camera that never answers."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge.camera.stream import StreamCameraSource
from edge.config.models import StreamCamera
from gatesim.camera import CameraServer
from tests.conftest import wait_for


def camera(url: str, **kw) -> StreamCameraSource:
    cfg = StreamCamera(type="stream", url=url, timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.4, **kw)
    return StreamCameraSource(cfg)


def test_newest_frame_with_part_headers_and_capture_time():
    with CameraServer(["g1"], fps=20) as server:
        server.show("g1", "29C-123.45")
        cam = camera(server.url("g1"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None and cam.health().fps > 5)
            frame = cam.latest()
            assert frame.image.ndim == 3 and frame.image.shape[2] == 3
            assert abs(frame.ts - time.time()) < 2
            assert frame.meta["headers"]["x-plate-truth"] == "29C-123.45"
            first_seq = int(frame.meta["headers"]["x-frame-seq"])
            assert wait_for(lambda: int(cam.latest().meta["headers"]["x-frame-seq"]) > first_seq + 3)
            h = cam.health()
            assert h.connected and h.reconnects == 0 and h.bad_frames == 0
        finally:
            cam.stop()


def test_corrupt_and_truncated_frames_are_counted_and_skipped():
    with CameraServer(["g1"], fps=30) as server:
        server.show("g1", "51F-065.32")
        cam = camera(server.url("g1"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            for mode in ("garbage", "truncate"):
                server.corrupt("g1", mode)
                assert wait_for(lambda: cam.health().bad_frames >= 3), mode
                server.corrupt("g1", None)
            good = cam.latest().ts
            assert wait_for(lambda: cam.latest().ts > good)  # still delivering good frames after the junk
            assert cam.health().reconnects == 0
        finally:
            cam.stop()


def test_broken_framing_forces_a_reconnect_and_the_stream_comes_back():
    with CameraServer(["g1"], fps=30) as server:
        server.show("g1", "51F-065.32")
        cam = camera(server.url("g1"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            server.corrupt("g1", "boundary")
            time.sleep(0.5)
            server.corrupt("g1", None)
            before = cam.latest().ts
            assert wait_for(lambda: cam.latest().ts > before)
        finally:
            cam.stop()


def test_stream_that_drops_and_returns_on_the_same_port():
    server = CameraServer(["g1"], fps=20).start()
    port = server.port
    server.show("g1", "59-L2 149.99")
    cam = camera(server.url("g1"))
    cam.start()
    try:
        assert wait_for(lambda: cam.latest() is not None)
        server.stop()  # the camera goes away (power cut, cable)
        assert wait_for(lambda: not cam.health().connected)
        assert wait_for(lambda: cam.health().reconnects >= 2)  # keeps trying, with backoff
        stale = cam.latest().ts
        time.sleep(0.3)
        assert cam.latest().ts == stale  # no new frames while it is gone; the last one ages
        assert cam.health().last_frame_age_s >= 0.3
        server = CameraServer(["g1"], port=port, fps=20).start()
        server.show("g1", "59-L2 149.99")
        assert wait_for(lambda: cam.latest().ts > stale, timeout=10)
        assert cam.health().connected
    finally:
        cam.stop()
        server.stop()


def test_roi_crops_every_frame():
    with CameraServer(["g1"], fps=20) as server:
        cam = camera(server.url("g1"), roi=(10, 20, 100, 50))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            assert cam.latest().image.shape[:2] == (50, 100)
        finally:
            cam.stop()


def test_not_a_stream_is_reported_and_retried(tmp_path: Path):
    with CameraServer(["g1"], fps=20) as server:
        cam = camera(f"http://127.0.0.1:{server.port}/state")  # JSON, not multipart
        cam.start()
        try:
            assert wait_for(lambda: cam.health().reconnects >= 2)
            assert cam.latest() is None and not cam.health().connected
        finally:
            cam.stop()


def test_rtsp_camera_that_accepts_and_never_answers_is_retried_within_its_timeout():
    """Hung camera firmware: the TCP connection is accepted, no RTSP reply ever comes. The configured
    timeout_s (1 s) bounds each attempt (OpenCV's own default is 30 s), so the grabber keeps retrying
    with its backoff, and stop() does not wait on a stuck open."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    quit_ = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not quit_.is_set():
            try:
                held.append(listener.accept()[0])  # keep it open, say nothing
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    cfg = StreamCamera(type="stream", url=f"rtsp://127.0.0.1:{listener.getsockname()[1]}/cam", timeout_s=1.0,
                       reconnect_min_s=0.05, reconnect_max_s=0.2)
    cam = StreamCameraSource(cfg)
    t0 = time.monotonic()
    cam.start()
    try:
        assert wait_for(lambda: cam.health().reconnects >= 2, timeout=15)
        assert time.monotonic() - t0 < 15
        assert len(held) >= 2  # each attempt really connected
        assert cam.latest() is None and not cam.health().connected
    finally:
        t1 = time.monotonic()
        cam.stop()
        assert time.monotonic() - t1 < cfg.timeout_s + 2.5
        quit_.set()
        acceptor.join()
        for conn in held:
            conn.close()
        listener.close()


def test_video_file_through_opencv(tmp_path: Path):
    path = tmp_path / "lane.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(30):
        img = np.full((120, 160, 3), i * 8, np.uint8)
        writer.write(img)
    writer.release()
    cam = camera(f"file:{path}")
    cam.start()
    try:
        assert wait_for(lambda: cam.latest() is not None)
        assert cam.latest().image.shape == (120, 160, 3)
    finally:
        cam.stop()


@pytest.mark.parametrize("url", ["ftp://x/y", "usb:abc", "http://", "javascript:alert(1)"])
def test_bad_urls_are_refused_by_the_config(url: str):
    with pytest.raises(ValidationError):
        StreamCamera(type="stream", url=url)


def test_backoff_bounds_are_checked():
    with pytest.raises(ValidationError, match="reconnect_max_s"):
        StreamCamera(type="stream", url="rtsp://cam/1", reconnect_min_s=5, reconnect_max_s=1)
