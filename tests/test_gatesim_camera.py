"""``gate-sim camera``: MJPEG streams per gate over real HTTP, the plate's truth in a part header, faults."""

from __future__ import annotations

import json
import urllib.request

import cv2
import numpy as np
import pytest

from gatesim.camera import CameraServer, decode_truth, encode_truth, read_parts


def _post(cam: CameraServer, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{cam.port}{path}", data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_each_gate_streams_decodable_frames_with_the_truth_of_the_truck_in_view() -> None:
    with CameraServer(["kb2_in", "kb2_out"], fps=20, width=320, height=180) as cam:
        cam.show("kb2_in", "29C-123.45")
        cam.show("kb2_out", "桂A12345")
        for gate, plate in (("kb2_in", "29C-123.45"), ("kb2_out", "桂A12345")):
            parts = list(read_parts(cam.url(gate), 3))
            assert [int(h["X-Frame-Seq"]) for h, _ in parts] == [1, 2, 3]
            for headers, body in parts:
                assert decode_truth(headers["X-Plate-Truth"]) == plate
                img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
                assert img.shape == (180, 320, 3)
        status, _ = _post(cam, "/gate/kb2_in/scene", {"plate": None})
        assert status == 200
        [(headers, _)] = list(read_parts(cam.url("kb2_in"), 1))
        assert decode_truth(headers["X-Plate-Truth"]) is None
        assert cam.state()["gates"]["kb2_out"]["plate"] == "桂A12345"


def test_the_scene_with_a_truck_differs_from_the_empty_road() -> None:
    with CameraServer(["g"], width=320, height=180) as cam:
        empty = cv2.imdecode(np.frombuffer(cam.views["g"].jpeg, np.uint8), cv2.IMREAD_COLOR)
        cam.show("g", "51F-065.32")
        truck = cv2.imdecode(np.frombuffer(cam.views["g"].jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(truck.astype(int) - empty.astype(int)).mean() > 10


def test_corruption_modes_break_the_stream_the_way_a_failing_camera_does() -> None:
    with CameraServer(["g"], fps=20, width=160, height=90) as cam:
        cam.show("g", "29C-123.45")
        cam.corrupt("g", "garbage")
        [(_, body)] = list(read_parts(cam.url("g"), 1))
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) is None
        cam.corrupt("g", "truncate")
        [(headers, body)] = list(read_parts(cam.url("g"), 1))
        assert len(body) == int(headers["Content-Length"]) < len(cam.views["g"].jpeg)
        cam.corrupt("g", "boundary")
        with pytest.raises(ValueError, match="expected a boundary"):
            list(read_parts(cam.url("g"), 1))
        cam.corrupt("g", None)
        [(_, body)] = list(read_parts(cam.url("g"), 1))
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) is not None


def test_bad_control_requests_get_a_clear_error() -> None:
    with CameraServer(["g"]) as cam:
        assert _post(cam, "/gate/g/fault", {"corrupt": "smoke"}) == (400, {"error": "corrupt must be one of "
                                                                          "['garbage', 'truncate', 'boundary'] or null"})
        assert _post(cam, "/gate/g/scene", {"plate": 42})[0] == 400
        assert _post(cam, "/gate/nope/scene", {"plate": "29C-123.45"})[0] == 404
    with pytest.raises(ValueError):
        CameraServer([])


def test_truth_header_round_trips_any_plate() -> None:
    for plate in ("29C-123.45", "59-L2 149.99", "云A12345", None):
        encoded = encode_truth(plate)
        assert encoded.isascii() and decode_truth(encoded) == plate
