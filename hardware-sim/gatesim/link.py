"""Link-fault simulators: TCP proxies on loopback that break a gate's uplink the ways a rural link does.

``FaultProxy`` switches between modes on command (pass, refuse, blackhole, cut a request, cut an
answer); ``CuttingProxy`` cuts a random share of requests, half mid-request and half mid-answer.
Tests, the sync benchmark and the site runner put them between a gate and the central service.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from typing import Any


def _reset(sock: socket.socket) -> None:
    """Close with an RST (as a dropped uplink or a middlebox does), not an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)  # wakes a thread blocked in recv() on it (close() alone does not)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    """A TCP proxy on loopback in front of the service. Modes (changeable at any time, also for
    connections already open):

    - ``pass``: bytes flow both ways;
    - ``refuse``: new connections and open ones are reset;
    - ``blackhole``: connections are accepted, bytes are swallowed, nothing ever comes back;
    - ``cut_request``: a request is cut halfway and the connection reset (the service never has it all);
    - ``cut_response``: requests reach the service whole, its answers are lost and the connection reset
      (the service has done the work, the box never hears of it).
    """

    MODES = ("pass", "refuse", "blackhole", "cut_request", "cut_response")

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "pass"
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.connections = 0
        self.cut = 0
        self.closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def set(self, mode: str) -> None:
        assert mode in self.MODES, mode
        self.mode = mode
        if mode == "refuse":
            with self.lock:
                socks, self.open = list(self.open), set()
            for s in socks:
                _reset(s)

    def close(self) -> None:
        self.closed = True
        _reset(self.listener)
        with self.lock:
            socks, self.open = list(self.open), set()
        for s in socks:
            _reset(s)

    def _track(self, *socks: socket.socket) -> None:
        with self.lock:
            self.open.update(socks)

    def _drop(self, *socks: socket.socket) -> None:
        with self.lock:
            self.open.difference_update(socks)
        for s in socks:
            _reset(s)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "refuse":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            self._track(client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, request_side: bool) -> None:
        client, upstream = (src, dst) if request_side else (dst, src)
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            mode = self.mode
            try:
                if mode == "pass":
                    dst.sendall(data)
                elif mode == "blackhole":
                    continue
                elif mode == "cut_request" and request_side:
                    upstream.sendall(data[: max(1, len(data) // 2)])
                    self.cut += 1
                    break
                elif mode == "cut_response" and not request_side:
                    self.cut += 1
                    break
                elif mode in ("cut_request", "cut_response"):
                    dst.sendall(data)
                else:  # refuse
                    break
            except OSError:
                break
        self._drop(client, upstream)


class CuttingProxy:
    """A TCP proxy to the service that cuts (resets both sides of) a request's connection with
    probability ``rate`` per request: half of those after a random part of the request went up (the
    service never saw it whole), half after a random part of the answer came back (the service stored
    the batch, the gate never learnt it)."""

    METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ")

    def __init__(self, upstream_port: int, rate: float, seed: int):
        self.upstream, self.rate, self.rng = ("127.0.0.1", upstream_port), rate, random.Random(seed)
        self.cuts = {"request": 0, "answer": 0}
        self.connections = self.requests = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client_sock, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=5)
                up.settimeout(None)
            except OSError:
                _reset(client_sock)
                continue
            with self.lock:
                self.connections += 1
            state: dict[str, Any] = {"done": False, "cut": None, "at": 0, "moved": 0}
            threading.Thread(target=self._pump, args=(client_sock, up, "request", state), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client_sock, "answer", state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, side: str, state: dict[str, Any]) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if side == "request" and data.startswith(self.METHODS):  # a new request on this connection
                with self.lock:
                    self.requests += 1
                    r = self.rng.random()
                    cut = None if r >= self.rate else ("request" if r < self.rate / 2 else "answer")
                    # mid-request: somewhere in the request (its first read holds headers and body, as
                    # http.client sends a bytes body with its headers); mid-answer: in its first 2 kB
                    at = self.rng.randint(1, max(1, len(data) - 1)) if cut == "request" else self.rng.randint(1, 2_000)
                    state.update(cut=cut, moved=0, at=at)
            try:
                if state["cut"] == side:
                    if side == "request":
                        if state["moved"] + len(data) >= state["at"]:
                            dst.sendall(data[: max(0, state["at"] - state["moved"])])
                            self._count(side)
                            break
                    elif state["moved"] + len(data) >= state["at"]:
                        dst.sendall(data[: max(0, state["at"] - state["moved"])])
                        self._count(side)
                        break
                    state["moved"] += len(data)
                dst.sendall(data)
            except OSError:
                break
        if not state["done"]:
            state["done"] = True
            _reset(src)
            _reset(dst)

    def _count(self, side: str) -> None:
        with self.lock:
            self.cuts[side] += 1
