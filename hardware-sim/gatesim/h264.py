"""H.264 for gate-sim's RTSP camera: frames encoded by libx264 (through PyAV) and sent as RTP per
RFC 6184 (packetization-mode 1: single NAL unit packets, FU-A fragments for larger NAL units).

Why: JPEG over RTP tries the box's RTSP path, but the IP cameras at a gate send H.264; decoding it,
joining a stream at its key frame and riding out a stream whose SPS and PPS come in-band are what the
box must do in the field. Each session has its own encoder, so a client joins at an IDR frame that
carries the SPS and PPS (no ``sprop-parameter-sets`` needed in the SDP); a key frame follows every
two seconds. PyAV is a test and simulator dependency only; the box decodes through OpenCV.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import numpy as np

from gatesim.rtsp import rtp_header

H264_PT = 96  # a dynamic RTP payload type, bound to H264/90000 in the SDP
FU_A = 28


def nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    return [n.rstrip(b"\x00") for n in re.split(b"\x00\x00\x01", annexb) if n.rstrip(b"\x00")]


def rtp_h264_packets(nals: list[bytes], seq: int, timestamp: int, ssrc: int, mtu: int = 1400) -> list[bytes]:
    """One access unit (a frame's NAL units) as RTP packets; the marker bit on the last packet."""
    payloads: list[bytes] = []
    for nal in nals:
        if len(nal) <= mtu:
            payloads.append(nal)
            continue
        indicator, kind, body = (nal[0] & 0xE0) | FU_A, nal[0] & 0x1F, nal[1:]
        chunks = [body[i:i + mtu - 2] for i in range(0, len(body), mtu - 2)]
        for i, chunk in enumerate(chunks):
            header = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | kind
            payloads.append(bytes((indicator, header)) + chunk)
    return [rtp_header(i == len(payloads) - 1, H264_PT, seq + i, timestamp, ssrc) + payload
            for i, payload in enumerate(payloads)]


def depacketize(packets: list[bytes]) -> list[bytes]:
    """The NAL units carried by RTP H.264 packets (single NAL unit and FU-A), for tests and checks."""
    nals: list[bytes] = []
    partial = bytearray()
    for p in packets:
        payload = p[12:]
        if payload[0] & 0x1F != FU_A:
            nals.append(payload)
            continue
        start, end, kind = payload[1] & 0x80, payload[1] & 0x40, payload[1] & 0x1F
        if start:
            partial = bytearray([(payload[0] & 0xE0) | kind])
        partial += payload[2:]
        if end:
            nals.append(bytes(partial))
    return nals


class H264Payload:
    """One session's encoder and packetiser (see the module's docstring); :mod:`gatesim.h265` changes
    the encoder and the packetiser."""

    pt, rtpmap, fmtp = H264_PT, "H264/90000", "packetization-mode=1"
    encoder = "libx264"
    options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    packetize = staticmethod(rtp_h264_packets)

    def __init__(self, fps: float):
        self.fps = fps
        self._ctx: Any = None
        self._size: tuple[int, int] = (0, 0)

    def _encoder(self, width: int, height: int) -> Any:
        import av  # a simulator dependency: imported only when an H.264 camera is asked for

        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, 90000)
        ctx.framerate = Fraction(round(self.fps * 1000), 1000)
        ctx.gop_size = max(1, round(self.fps * 2))
        ctx.options = dict(self.options)
        return ctx

    def packets(self, frame: np.ndarray, seq: int, timestamp: int, ssrc: int) -> list[bytes]:
        import av

        h, w = frame.shape[:2]
        size = (w - w % 2, h - h % 2)  # 4:2:0 needs even sizes
        if size != self._size:  # a new size: a new encoder, so the next frame is a key frame with its SPS
            self._ctx, self._size = self._encoder(*size), size
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:size[1], :size[0]]), format="bgr24")
        picture = picture.reformat(format="yuv420p")
        picture.pts, picture.time_base = timestamp, Fraction(1, 90000)
        data = b"".join(bytes(p) for p in self._ctx.encode(picture))
        return self.packetize(nal_units(data), seq, timestamp, ssrc) if data else []
