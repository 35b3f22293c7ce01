"""The box's RTSP path (OpenCV's FFmpeg backend) against gate-sim's RTSP camera: a real RTSP/RTP
session over TCP, UDP, multicast or an HTTP tunnel carrying JPEG, H.264 or H.265, frames decoded, a
camera that reboots, a lossy link, and a plate read from what came over the wire."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera.stream import StreamCameraSource
from edge.config.models import StreamCamera
from edge.plate.pipeline import PlatePipeline
from edge.plate.synth import render_scene
from gatesim.camera import CameraServer
from gatesim.h264 import H264_PT, H264Payload, depacketize, nal_units, rtp_h264_packets
from gatesim.h265 import FU, H265_PT, H265Payload, depacketize_h265, nal_type, rtp_h265_packets
from gatesim.rtsp import RtpJpegError, RtspServer, jpeg_scan, rtp_packets
from tests.conftest import wait_for as _wait_for

wait_for = partial(_wait_for, timeout=20.0, poll=0.05)  # an RTSP open takes 2-4 s, more under load


def halves() -> np.ndarray:
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)  # red left, blue right: a frame that comes back mirrored or garbled shows
    frame[:, 160:] = (255, 0, 0)
    return frame


def camera(url: str) -> StreamCameraSource:
    return StreamCameraSource(StreamCamera(type="stream", url=url, timeout_s=3.0, reconnect_min_s=0.1,
                                           reconnect_max_s=0.5))


@pytest.mark.parametrize("codec", ["jpeg", "h264", "h265"])
def test_rtsp_frames_arrive_and_a_rebooted_camera_comes_back(codec):
    frame = halves()
    server = RtspServer(lambda path: frame if path == "gate/g1" else None, fps=10, codec=codec).start()
    cam = camera(server.url("gate/g1"))
    cam.start()
    try:
        assert wait_for(lambda: cam.latest() is not None), "no frame over RTSP"
        got = cam.latest().image
        assert got.shape == (240, 320, 3)
        assert np.abs(got[120, 80].astype(int) - (0, 0, 255)).max() < 12
        assert np.abs(got[120, 240].astype(int) - (255, 0, 0)).max() < 12
        assert wait_for(lambda: cam.health().fps > 3)
        port, reconnects = server.port, cam.health().reconnects
        server.stop()  # the camera reboots: its port closes
        assert wait_for(lambda: not cam.health().connected)
        time.sleep(0.5)
        server = RtspServer(lambda path: frame if path == "gate/g1" else None, port=port, fps=10,
                            codec=codec).start()
        stamp = time.time()
        assert wait_for(lambda: cam.health().connected and cam.latest().ts > stamp), "no frame after the reboot"
        assert cam.health().reconnects > reconnects
        assert server.sessions == 1
    finally:
        cam.stop()
        server.stop()


def test_rtsp_stream_that_stalls_after_play_is_reopened():
    """The session stays open but frames stop (hung encoder, stalled link): after timeout_s without a
    frame the camera reports itself unavailable and reopens; when frames flow again they arrive."""
    with RtspServer(lambda path: halves(), fps=10) as server:
        cam = camera(server.url("cam"))  # timeout_s=3
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            reconnects = cam.health().reconnects
            server.frozen.set()
            stalled = time.monotonic()
            assert wait_for(lambda: cam.health().reconnects > reconnects, timeout=15)
            assert time.monotonic() - stalled >= 2.5  # not before timeout_s
            assert cam.health().last_frame_age_s >= 2.5
            server.frozen.clear()
            stamp = time.time()
            assert wait_for(lambda: cam.health().connected and cam.latest().ts > stamp, timeout=20)
            assert server.sessions >= 2
        finally:
            cam.stop()


def test_unknown_rtsp_path_is_refused_and_retried():
    with RtspServer(lambda path: halves() if path == "cam" else None) as server:
        cam = camera(server.url("nope"))
        cam.start()
        try:
            assert wait_for(lambda: cam.health().reconnects >= 1)
            assert cam.latest() is None and server.sessions == 0
        finally:
            cam.stop()


def rtsp_frames(url: str, transport: str, timeout: float) -> bool:
    cam = StreamCameraSource(StreamCamera(type="stream", url=url, timeout_s=3.0, reconnect_min_s=0.1,
                                          reconnect_max_s=0.3, rtsp_transport=transport))
    cam.start()
    try:
        got = wait_for(lambda: cam.latest() is not None, timeout=timeout)
        assert got or (cam.health().reconnects >= 1 and not cam.health().connected)
        return got
    finally:
        cam.stop()


def test_rtsp_transport_reaches_ffmpeg_and_the_operators_options_are_kept(monkeypatch):
    """A camera that carries RTP over the RTSP connection only (UDP SETUP answered 461): ``udp`` gets
    no frame, ``tcp`` does, ``auto`` falls back to TCP; whatever transport the operator put in
    OPENCV_FFMPEG_CAPTURE_OPTIONS, the configured one wins, and the variable is there again after."""
    options = "rtsp_transport;udp|stimeout;4000000"
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", options)
    with RtspServer(lambda path: halves(), fps=10, udp=False) as server:
        url = server.url("cam")
        assert not rtsp_frames(url, "udp", timeout=6)
        assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == options
        assert rtsp_frames(url, "tcp", timeout=20)
        assert rtsp_frames(url, "auto", timeout=20)
        assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == options
        assert server.transports == ["tcp", "tcp"]


@pytest.mark.parametrize("codec", ["jpeg", "h264", "h265"])
def test_rtp_over_udp(codec):
    """RTP as datagrams to the client's port (SETUP with client_port): ``udp`` and ``auto`` use it,
    ``tcp`` does not; frames arrive whole either way."""
    with RtspServer(lambda path: halves(), fps=10, codec=codec) as server:
        for transport in ("udp", "auto", "tcp"):
            cam = camera(server.url("cam"))
            cam.cfg = cam.cfg.model_copy(update={"rtsp_transport": transport})
            cam.start()
            try:
                assert wait_for(lambda: cam.latest() is not None and cam.health().fps > 3), transport
                got = cam.latest().image
                assert np.abs(got[120, 80].astype(int) - (0, 0, 255)).max() < 12
            finally:
                cam.stop()
        assert server.transports == ["udp", "udp", "tcp"]


@pytest.mark.parametrize("codec", ["jpeg", "h264"])
def test_rtsp_tunnelled_over_http(codec):
    """``http``: FFmpeg opens a GET and a POST to the RTSP port, tied by a session cookie, and sends its
    requests base64-encoded on the POST; replies and RTP come back on the GET. Frames arrive whole, and
    a camera that reboots is read again over a new tunnel."""
    server = RtspServer(lambda path: halves(), fps=10, codec=codec, udp=False).start()
    cam = camera(server.url("cam"))
    cam.cfg = cam.cfg.model_copy(update={"rtsp_transport": "http"})
    cam.start()
    try:
        assert wait_for(lambda: cam.latest() is not None and cam.health().fps > 3)
        got = cam.latest().image
        assert np.abs(got[120, 80].astype(int) - (0, 0, 255)).max() < 12
        assert np.abs(got[120, 240].astype(int) - (255, 0, 0)).max() < 12
        assert server.transports == ["http"]
        port = server.port
        server.stop()  # the camera reboots
        assert wait_for(lambda: not cam.health().connected)
        time.sleep(0.5)
        server = RtspServer(lambda path: halves(), port=port, fps=10, codec=codec, udp=False).start()
        stamp = time.time()
        assert wait_for(lambda: cam.health().connected and cam.latest().ts > stamp), "no frame after the reboot"
        assert server.transports == ["http"]
    finally:
        cam.stop()
        server.stop()


def test_a_tunnel_post_without_its_get_is_refused():
    """A POST whose cookie no GET opened (or no cookie at all), or a request that is not HTTP, is
    answered 400 and closed: nothing is decoded from a stranger's body."""
    import socket

    with RtspServer(lambda path: halves(), fps=10) as server:
        for head in (b"POST /cam HTTP/1.0\r\nx-sessioncookie: nobody\r\nContent-Length: 32767\r\n\r\nT1BU",
                     b"GET /cam HTTP/1.0\r\n\r\n"):
            with socket.create_connection((server.host, server.port), timeout=5) as s:
                s.sendall(head)
                reply = b""
                while chunk := s.recv(4096):
                    reply += chunk
                assert reply.startswith(b"HTTP/1.0 400"), reply
        with socket.create_connection((server.host, server.port), timeout=5) as s:  # a GET left alone
            s.sendall(b"GET /cam HTTP/1.0\r\nx-sessioncookie: lonely\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.0 200")
            assert wait_for(lambda: "lonely" in server._tunnels)
        assert wait_for(lambda: "lonely" not in server._tunnels)  # forgotten once it closes
        assert server.transports == []


def _group_receiver(group: str, port: int):
    """A UDP socket joined to the multicast group on ``port``, as another viewer on the site would be."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(group),
                                                                          socket.inet_aton("0.0.0.0")))
    s.settimeout(1.0)
    return s


def _datagrams(s, seconds: float) -> int:
    """Datagrams that reach ``s`` within ``seconds`` (its timeout ends each wait)."""
    import contextlib
    import socket

    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(socket.timeout):
            s.recv(65536)
            n += 1
    return n


@pytest.mark.parametrize("codec", ["jpeg", "h264"])
def test_rtp_multicast_is_one_stream_for_every_viewer(codec):
    """``multicast``: the camera names a group and a port in its SETUP reply and FFmpeg joins it. Two
    boxes watching one camera get whole frames from one sender; when both leave the stream stops (no
    datagram reaches the group), and the next viewer starts it again."""
    with RtspServer(lambda path: halves(), fps=10, codec=codec) as server:
        cams = [camera(server.url("cam")) for _ in range(2)]
        for cam in cams:
            cam.cfg = cam.cfg.model_copy(update={"rtsp_transport": "multicast"})
            cam.start()
        try:
            for cam in cams:
                assert wait_for(lambda: cam.latest() is not None and cam.health().fps > 3)
                got = cam.latest().image
                assert np.abs(got[120, 80].astype(int) - (0, 0, 255)).max() < 12
                assert np.abs(got[120, 240].astype(int) - (255, 0, 0)).max() < 12
        finally:
            for cam in cams:
                cam.stop()
        assert server.transports == ["multicast", "multicast"] and server.multicast_senders == 1
        listener = _group_receiver(server.multicast, server._groups.port("cam"))
        try:
            time.sleep(0.5)  # the last sender's frame in flight
            assert _datagrams(listener, 1.5) == 0, "the stream outlived its last viewer"
            again = camera(server.url("cam"))
            again.cfg = again.cfg.model_copy(update={"rtsp_transport": "multicast"})
            again.start()
            try:
                assert wait_for(lambda: again.latest() is not None)
                assert _datagrams(listener, 1.0) > 0  # another viewer on the site sees the same stream
            finally:
                again.stop()
        finally:
            listener.close()
        assert server.multicast_senders == 2


def _rtsp_setup(server: RtspServer, transport: str) -> str:
    import socket

    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(f"SETUP {server.url('cam')}/track0 RTSP/1.0\r\nCSeq: 3\r\nTransport: {transport}\r\n\r\n"
                  .encode())
        return s.recv(4096).decode()


def test_multicast_setup_names_the_group_or_is_refused():
    with RtspServer(lambda path: halves(), fps=10, multicast="239.255.47.9") as server:
        reply = _rtsp_setup(server, "RTP/AVP/UDP;multicast")
        assert reply.startswith("RTSP/1.0 200")
        port = server._groups.port("cam")
        assert port % 2 == 0  # RTP on an even port, RTCP on the next
        assert f"RTP/AVP;multicast;destination=239.255.47.9;port={port}-{port + 1};ttl=1" in reply
    with RtspServer(lambda path: halves(), fps=10, multicast=None) as server:  # multicast off in the camera
        assert _rtsp_setup(server, "RTP/AVP/UDP;multicast").startswith("RTSP/1.0 461")
        assert server.transports == []


def test_multicast_groups_start_one_sender_per_path():
    from gatesim.multicast import Groups

    groups = Groups()
    try:
        first = groups.join("a")
        assert first is not None and first[1].is_set()
        assert groups.join("a") is None  # a second viewer: the same stream
        assert groups.join("b") is not None and groups.port("a") != groups.port("b")
        groups.leave("a")
        assert first[1].is_set()
        groups.leave("a")
        assert not first[1].is_set()  # the last viewer left: the sender stops
        groups.leave("a")  # a session ending twice changes nothing
        again = groups.join("a")
        assert again is not None and again[1] is not first[1] and not first[1].is_set()
        assert groups.senders_started == 3
    finally:
        groups.close()


def test_tunnel_body_decodes_request_by_request():
    import base64
    import io

    from gatesim.tunnel import Base64Reader

    requests = [b"OPTIONS rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n", b"PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 22\r\n\r\n"]
    text = b"".join(base64.b64encode(r) for r in requests)  # padding in the middle of the stream
    body = io.BufferedReader(Base64Reader(io.BytesIO(text[:9] + b"\r\n" + text[9:])))
    assert body.read() == b"".join(requests)
    assert io.BufferedReader(Base64Reader(io.BytesIO(b"T1BU!not base64"))).read() == b""


@pytest.mark.parametrize("codec", ["jpeg", "h264", "h265"])
def test_plate_read_from_an_rtsp_stream(codec):
    frame, _ = render_scene("51F-065.32", "vn1", random.Random(4), size=(1280, 720))
    with RtspServer(lambda path: frame, fps=5, codec=codec) as server:
        cam = camera(server.url("cam"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            reads = PlatePipeline().read_frame(cam.latest().image)
        finally:
            cam.stop()
    assert reads and reads[0].text == "51F06532"


def test_gate_sim_cameras_over_rtsp_show_the_truck_put_in_front_of_them():
    """gate-sim camera --rtsp-port: the gates' scenes over RTSP; a truck shown changes the stream."""
    with CameraServer(["g1", "g2"], fps=10) as cams, RtspServer(cams.frame, fps=10) as server:
        assert cams.frame("gate/nope") is None and cams.frame("g1") is None
        cam = camera(server.url("gate/g1"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            empty = cam.latest().image.astype(int)
            assert empty.shape == (264, 480, 3)  # 270 rows cut to a multiple of 8
            cams.show("g1", "51F-065.32")
            assert wait_for(lambda: np.abs(cam.latest().image.astype(int) - empty).mean() > 5)
        finally:
            cam.stop()


def test_gate_sim_camera_command_serves_rtsp():
    exe = Path(sys.executable).with_name("gate-sim")
    proc = subprocess.Popen([str(exe), "camera", "--gates", "g1", "--port", "0", "--rtsp-port", "0",
                             "--rtsp-codec", "h264"],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        url = ready["rtsp"]["g1"]
        assert url.startswith("rtsp://127.0.0.1:") and url.endswith("/gate/g1")
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000,
                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000])
        ok, image = cap.read()
        codec = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
        cap.release()
        assert ok and image.shape == (270, 480, 3) and codec == b"h264"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_rtp_jpeg_packets():
    ok, buf = cv2.imencode(".jpg", halves(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = buf.tobytes()
    typ, w, h, tables, scan = jpeg_scan(jpeg)
    assert (typ, w, h, len(tables)) == (1, 320, 240, 128)  # OpenCV writes 4:2:0
    packets = rtp_packets(jpeg, seq=65534, timestamp=9000, ssrc=7)
    assert len(packets) > 1 and all(len(p) <= 12 + 1400 for p in packets)
    seqs = [struct.unpack("!H", p[2:4])[0] for p in packets]
    assert seqs[:3] == [65534, 65535, 0][: len(seqs[:3])]
    assert [p[1] >> 7 for p in packets] == [0] * (len(packets) - 1) + [1]  # marker on the last only
    body, offsets = b"", []
    for i, p in enumerate(packets):
        offsets.append(int.from_bytes(p[13:16], "big"))
        head = 12 + 8 + (4 + 128 if i == 0 else 0)
        if i == 0:
            assert p[20:24] == b"\x00\x00\x00\x80" and p[24:152] == tables
        assert tuple(p[16:20]) == (1, 255, 320 // 8, 240 // 8)  # type, Q = 255 (tables in-band), size
        body += p[head:]
    assert body == scan and offsets == sorted(offsets) and offsets[0] == 0
    progressive = cv2.imencode(".jpg", halves(), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    with pytest.raises(RtpJpegError, match="not baseline"):
        rtp_packets(progressive, 0, 0, 0)
    with pytest.raises(RtpJpegError, match="8-pixel"):
        rtp_packets(cv2.imencode(".jpg", halves()[:237])[1].tobytes(), 0, 0, 0)


def test_h264_access_unit_as_rtp_and_back():
    """RFC 6184 packetisation: small NAL units whole, large ones as FU-A fragments that reassemble to
    the same bytes; every packet fits the MTU; the marker bit on the frame's last packet only."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)  # noise: a key frame of many kB
    payload = H264Payload(fps=10)
    packets = payload.packets(frame, seq=65530, timestamp=1234, ssrc=9)
    assert len(packets) > 20 and all(len(p) <= 12 + 1400 for p in packets)
    assert [p[1] & 0x80 for p in packets] == [0] * (len(packets) - 1) + [0x80]
    assert all(p[1] & 0x7F == H264_PT for p in packets)
    nals = depacketize(packets)
    kinds = [n[0] & 0x1F for n in nals]
    assert 7 in kinds and 8 in kinds and 5 in kinds  # SPS, PPS and an IDR slice: a client can join here
    assert any(p[12] & 0x1F == 28 for p in packets)  # FU-A used
    whole = [n for n in nals if len(n) > 1400]
    assert whole and max(len(n) for n in whole) > 10_000
    again = rtp_h264_packets(nals, 0, 0, 9)
    assert depacketize(again) == nals
    assert nal_units(b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x68cd\x00\x00\x00\x01\x65ef") == [
        b"\x67ab", b"\x68cd", b"\x65ef"]
    later = payload.packets(frame[::-1].copy(), seq=0, timestamp=10234, ssrc=9)
    assert 5 not in [n[0] & 0x1F for n in depacketize(later)]  # the next frame is not a key frame


def test_h265_access_unit_as_rtp_and_back():
    """RFC 7798 packetisation: small NAL units whole, large ones as fragmentation units (type 49, the
    original type in the FU header) that reassemble to the same bytes; every packet fits the MTU; the
    marker bit on the frame's last packet only; VPS, SPS and PPS before every key frame."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    payload = H265Payload(fps=10)
    packets = payload.packets(frame, seq=65530, timestamp=1234, ssrc=9)
    assert len(packets) > 20 and all(len(p) <= 12 + 1400 for p in packets)
    assert [p[1] & 0x80 for p in packets] == [0] * (len(packets) - 1) + [0x80]
    assert all(p[1] & 0x7F == H265_PT for p in packets)
    assert any(nal_type(p[12:]) == FU for p in packets)
    nals = depacketize_h265(packets)
    kinds = [nal_type(n) for n in nals]
    assert {32, 33, 34} <= set(kinds)  # VPS, SPS, PPS: a client can join here
    assert any(16 <= k <= 21 for k in kinds)  # an IRAP (key frame) slice
    assert max(len(n) for n in nals) > 10_000
    assert depacketize_h265(rtp_h265_packets(nals, 0, 0, 9)) == nals
    later = [nal_type(n) for n in depacketize_h265(payload.packets(frame[::-1].copy(), seq=0, timestamp=10234, ssrc=9))]
    assert not any(16 <= k <= 21 for k in later)  # the next frame is not a key frame


def test_h264_over_a_lossy_udp_link_keeps_frames_coming():
    """3 % of the UDP datagrams lost: the decoder conceals what is missing (a still scene's P-frames fit
    one packet each, a lost key frame waits for the next, 2 s on), and the box reads on at the
    camera's rate, connected, without reconnecting."""
    scene, _ = render_scene("51F06532", "vn1", random.Random(1))
    with RtspServer(lambda path: scene, fps=10, codec="h264") as server:
        server.loss = 0.03
        cam = StreamCameraSource(StreamCamera(type="stream", url=server.url("cam"), timeout_s=3.0,
                                              rtsp_transport="udp"))
        cam.start()
        try:
            assert wait_for(lambda: cam.latest() is not None)
            time.sleep(6.0)  # past the meter's 5 s window: the opening burst no longer counts
            health, frame = cam.health(), cam.latest()
            assert server.lost > 0 and health.connected and health.reconnects == 0
            assert health.stream_fps == pytest.approx(10, rel=0.05) and health.fps >= 6, health  # an estimate (see test_camera_probe)
            assert time.time() - frame.ts < 1.0 and frame.image.shape == scene.shape
        finally:
            cam.stop()
