"""RTP multicast for gate-sim's RTSP camera: one stream per camera path, sent to a group that every
client playing it joins, as an IP camera does for a yard's several viewers.

A camera allows few unicast sessions, and each costs it an encoder's output again; with multicast it
sends each frame once, whatever the number of viewers, and the network copies it. The SETUP reply
names the group, the port and the TTL (RFC 2326 §12.39: ``destination``, ``port``, ``ttl``); the
client joins the group itself. A path's sender starts with its first PLAY and stops when the last of
its sessions ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

#: Site-local scope (RFC 2365): never routed off the site. TTL 1: not past the first router.
DEFAULT_GROUP, TTL = "239.255.47.1", 1


def free_port_pair(host: str = "", taken: frozenset[int] = frozenset()) -> int:
    """An even UDP port whose odd neighbour (RTCP) is free too, as RTP wants, and not ``taken`` (the
    group's other paths: two streams on one group and port would mix)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1] & ~1
        if port in taken:
            continue
        with contextlib.ExitStack() as held:
            try:
                for p in (port, port + 1):
                    s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    s.bind((host, p))
            except OSError:
                continue
            return port
    raise OSError("no free UDP port pair for RTP multicast")


def sender_socket() -> socket.socket:
    """A UDP socket for the group: TTL 1, looped back to this host's own members."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, TTL)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return s


@dataclass
class Group:
    """One camera path's multicast stream: its port, its sender's socket and run flag, its members."""

    port: int
    sock: socket.socket = field(default_factory=sender_socket)
    playing: threading.Event = field(default_factory=threading.Event)
    members: int = 0


class Groups:
    """The multicast streams of one server, one per camera path, shared by the sessions playing it."""

    def __init__(self, address: str = DEFAULT_GROUP):
        self.address = address
        self._by_path: dict[str, Group] = {}
        self._lock = threading.Lock()
        self.senders_started = 0

    def port(self, path: str) -> int:
        """The port the path's stream goes to (fixed once chosen, as a camera's configuration is)."""
        with self._lock:
            group = self._by_path.get(path)
            if group is None:
                taken = frozenset(g.port for g in self._by_path.values())
                group = self._by_path[path] = Group(free_port_pair(taken=taken))
            return group.port

    def join(self, path: str) -> tuple[socket.socket, threading.Event] | None:
        """A session plays the path. For its first member, the sender to start: the group's socket and a
        run flag of its own (a sender still winding down from the last member's leaving keeps the old,
        cleared one, so a quick rejoin never runs two senders)."""
        self.port(path)
        with self._lock:
            group = self._by_path[path]
            group.members += 1
            if group.members > 1:
                return None
            group.playing = threading.Event()
            group.playing.set()
            self.senders_started += 1
            return group.sock, group.playing

    def leave(self, path: str) -> None:
        """A session playing the path ended; the last one out stops the sender."""
        with self._lock:
            group = self._by_path.get(path)
            if group is None or group.members == 0:
                return
            group.members -= 1
            if group.members == 0:
                group.playing.clear()

    def close(self) -> None:
        """The server stops: every sender ends, and a restart chooses its ports afresh."""
        with self._lock:
            for group in self._by_path.values():
                group.playing.clear()
                group.sock.close()
            self._by_path.clear()
