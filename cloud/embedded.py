"""The central service in a thread of the current process, on a free loopback port (demo, site runs)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from cloud.api.app import create_app
from cloud.api.deps import Service


class ServiceThread:
    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(create_app(service), log_config=None, access_log=False, lifespan="off",
                                timeout_keep_alive=30, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="cloud",
                                       daemon=True)

    def start(self, timeout: float = 10) -> "ServiceThread":
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("central service did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
