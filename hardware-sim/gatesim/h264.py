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
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from gatesim.rtsp import rtp_header

H264_PT = 96  # a dynamic RTP payload type, bound to H264/90000 in the SDP
FU_A = 28


def nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    return [n.rstrip(b"\x00") for n in re.split(b"\x00\x00\x01", annexb) if n.rstrip(b"\x00")]


def fu_bits(i: int, n: int) -> int:
    """A fragmentation unit's start and end bits: the first of ``n`` pieces, the last (RFC 6184, 7798)."""
    return (0x80 if i == 0 else 0) | (0x40 if i == n - 1 else 0)


def rtp_packets(nals: list[bytes], pt: int, seq: int, timestamp: int, ssrc: int, mtu: int,
                fragments: Callable[[bytes, int], list[bytes]]) -> list[bytes]:
    """One access unit (a frame's NAL units) as RTP packets: a NAL unit that fits ``mtu`` goes whole,
    a longer one in the codec's fragmentation units (``fragments``); the marker bit on the last packet."""
    payloads = [p for nal in nals for p in ([nal] if len(nal) <= mtu else fragments(nal, mtu))]
    return [rtp_header(i == len(payloads) - 1, pt, seq + i, timestamp, ssrc) + payload
            for i, payload in enumerate(payloads)]


def reassemble(packets: list[bytes], fragment: Callable[[bytes], tuple[int, bytes, bytes] | None]) -> list[bytes]:
    """The NAL units carried by RTP packets, for tests and checks: ``fragment`` tells a fragmentation
    unit's start/end bits, the header of the NAL unit it starts, and its piece (None: a whole NAL unit)."""
    nals: list[bytes] = []
    partial = bytearray()
    for p in packets:
        payload = p[12:]
        fu = fragment(payload)
        if fu is None:
            nals.append(payload)
            continue
        bits, header, piece = fu
        if bits & 0x80:
            partial = bytearray(header)
        partial += piece
        if bits & 0x40:
            nals.append(bytes(partial))
    return nals


def _fu_a(nal: bytes, mtu: int) -> list[bytes]:
    """FU-A: the indicator (the NAL unit's F and NRI, type 28), then start, end and the original type."""
    indicator, kind, body = (nal[0] & 0xE0) | FU_A, nal[0] & 0x1F, nal[1:]
    chunks = [body[i:i + mtu - 2] for i in range(0, len(body), mtu - 2)]
    return [bytes((indicator, fu_bits(i, len(chunks)) | kind)) + c for i, c in enumerate(chunks)]


def _fu_a_piece(payload: bytes) -> tuple[int, bytes, bytes] | None:
    if payload[0] & 0x1F != FU_A:
        return None
    return payload[1] & 0xC0, bytes(((payload[0] & 0xE0) | (payload[1] & 0x1F),)), payload[2:]


def rtp_h264_packets(nals: list[bytes], seq: int, timestamp: int, ssrc: int, mtu: int = 1400) -> list[bytes]:
    """One access unit as RTP H.264 packets (single NAL unit packets and FU-A)."""
    return rtp_packets(nals, H264_PT, seq, timestamp, ssrc, mtu, _fu_a)


def depacketize(packets: list[bytes]) -> list[bytes]:
    """The NAL units carried by RTP H.264 packets (single NAL unit and FU-A), for tests and checks."""
    return reassemble(packets, _fu_a_piece)


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
