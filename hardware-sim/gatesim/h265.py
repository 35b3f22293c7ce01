"""H.265 (HEVC) for gate-sim's RTSP camera: frames encoded by libx265 (through PyAV) and sent as RTP
per RFC 7798 (single NAL unit packets, fragmentation units for larger NAL units).

Why: many gate cameras bought in recent years send H.265 by default (about half H.264's bit rate for
the same picture), and the box must decode it through OpenCV's FFmpeg as it does H.264. The session
scheme is :mod:`gatesim.h264`'s: an encoder per session, a key frame every two seconds; the VPS, SPS
and PPS go in-band before every key frame (``repeat-headers``), so no ``sprop-*`` is needed in the SDP
and a client that lost a key frame recovers at the next.
"""

from __future__ import annotations

from gatesim.h264 import H264Payload
from gatesim.rtsp import rtp_header

H265_PT = 96  # a dynamic RTP payload type, bound to H265/90000 in the SDP
FU = 49  # the fragmentation unit's NAL unit type


def nal_type(nal: bytes) -> int:
    """The type of an H.265 NAL unit (6 bits after the forbidden bit of its two-byte header)."""
    return (nal[0] >> 1) & 0x3F


def rtp_h265_packets(nals: list[bytes], seq: int, timestamp: int, ssrc: int, mtu: int = 1400) -> list[bytes]:
    """One access unit as RTP packets; a NAL unit longer than ``mtu`` goes in fragmentation units: the
    payload header is the NAL unit's own with its type set to 49, then an FU header (start, end, the
    original type), then a piece of the NAL unit's body. The marker bit is on the last packet."""
    payloads: list[bytes] = []
    for nal in nals:
        if len(nal) <= mtu:
            payloads.append(nal)
            continue
        header = bytes(((nal[0] & 0x81) | (FU << 1), nal[1]))  # F and LayerId's top bit kept; LayerId, TID
        body = nal[2:]
        chunks = [body[i:i + mtu - 3] for i in range(0, len(body), mtu - 3)]
        for i, chunk in enumerate(chunks):
            fu = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | nal_type(nal)
            payloads.append(header + bytes((fu,)) + chunk)
    return [rtp_header(i == len(payloads) - 1, H265_PT, seq + i, timestamp, ssrc) + payload
            for i, payload in enumerate(payloads)]


def depacketize_h265(packets: list[bytes]) -> list[bytes]:
    """The NAL units carried by RTP H.265 packets (single NAL unit and fragmentation units), for tests."""
    nals: list[bytes] = []
    partial = bytearray()
    for p in packets:
        payload = p[12:]
        if nal_type(payload) != FU:
            nals.append(payload)
            continue
        fu = payload[2]
        if fu & 0x80:
            partial = bytearray(((payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1]))
        partial += payload[3:]
        if fu & 0x40:
            nals.append(bytes(partial))
    return nals


class H265Payload(H264Payload):
    """One session's libx265 encoder and RFC 7798 packetiser (see the module's docstring)."""

    pt, rtpmap, fmtp = H265_PT, "H265/90000", ""
    encoder = "libx265"
    options = {"preset": "ultrafast", "tune": "zerolatency", "x265-params": "repeat-headers=1:log-level=error"}
    packetize = staticmethod(rtp_h265_packets)
