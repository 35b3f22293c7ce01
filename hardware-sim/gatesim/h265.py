"""H.265 (HEVC) for gate-sim's RTSP camera: frames encoded by libx265 (through PyAV) and sent as RTP
per RFC 7798 (single NAL unit packets, fragmentation units for larger NAL units).

Why: many gate cameras bought in recent years send H.265 by default (about half H.264's bit rate for
the same picture), and the box must decode it through OpenCV's FFmpeg as it does H.264. The session
scheme is :mod:`gatesim.h264`'s: an encoder per session, a key frame every two seconds; the VPS, SPS
and PPS go in-band before every key frame (``repeat-headers``), so no ``sprop-*`` is needed in the SDP
and a client that lost a key frame recovers at the next.
"""

from __future__ import annotations

from gatesim.h264 import H264Payload, fu_bits, reassemble, rtp_packets

H265_PT = 96  # a dynamic RTP payload type, bound to H265/90000 in the SDP
FU = 49  # the fragmentation unit's NAL unit type


def nal_type(nal: bytes) -> int:
    """The type of an H.265 NAL unit (6 bits after the forbidden bit of its two-byte header)."""
    return (nal[0] >> 1) & 0x3F


def _fu(nal: bytes, mtu: int) -> list[bytes]:
    """Fragmentation units: the payload header is the NAL unit's own with its type set to 49, then an
    FU header (start, end, the original type), then a piece of the NAL unit's body."""
    header = bytes(((nal[0] & 0x81) | (FU << 1), nal[1]))  # F and LayerId's top bit kept; LayerId, TID
    body = nal[2:]
    chunks = [body[i:i + mtu - 3] for i in range(0, len(body), mtu - 3)]
    return [header + bytes((fu_bits(i, len(chunks)) | nal_type(nal),)) + c for i, c in enumerate(chunks)]


def _fu_piece(payload: bytes) -> tuple[int, bytes, bytes] | None:
    if nal_type(payload) != FU:
        return None
    fu = payload[2]
    return fu & 0xC0, bytes(((payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1])), payload[3:]


def rtp_h265_packets(nals: list[bytes], seq: int, timestamp: int, ssrc: int, mtu: int = 1400) -> list[bytes]:
    """One access unit as RTP H.265 packets (single NAL unit packets and fragmentation units)."""
    return rtp_packets(nals, H265_PT, seq, timestamp, ssrc, mtu, _fu)


def depacketize_h265(packets: list[bytes]) -> list[bytes]:
    """The NAL units carried by RTP H.265 packets (single NAL unit and fragmentation units), for tests."""
    return reassemble(packets, _fu_piece)


class H265Payload(H264Payload):
    """One session's libx265 encoder and RFC 7798 packetiser (see the module's docstring)."""

    pt, rtpmap, fmtp = H265_PT, "H265/90000", ""
    encoder = "libx265"
    options = {"preset": "ultrafast", "tune": "zerolatency", "x265-params": "repeat-headers=1:log-level=error"}
    packetize = staticmethod(rtp_h265_packets)
