"""Hostile S3 endpoints on loopback: a server that never answers and one that drops mid-upload.

Why our own sockets and not moto: moto always answers.  These two exercise the client's timeouts
and the "connection dropped" path with real TCP, as a stalled proxy or a crashing MinIO would.
Each server runs in a daemon thread and counts the connections it took, so a test can check that
retries are bounded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class HostileServer:
    """A listening socket on 127.0.0.1 and how it treats each connection."""

    mode: str
    """``slow``: read the request, never answer; ``drop``: read part of the body, then close."""
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _held: list[socket.socket] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> HostileServer:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._serve, name=f"hostile-{self.mode}", daemon=True).start()
        return self

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            if self.mode == "drop":
                conn.recv(512)  # a little of the body, then the server "crashes"
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()  # linger 0: RST, as a dying process leaves it
                return
            self._held.append(conn)  # slow: keep it open and say nothing
            self.stop.wait(60)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def hostile_s3() -> Iterator[dict[str, HostileServer]]:
    """``{"slow": ..., "drop": ...}``, both listening; closed at teardown."""
    servers = {mode: HostileServer(mode).start() for mode in ("slow", "drop")}
    yield servers
    for server in servers.values():
        server.close()
