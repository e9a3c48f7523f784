"""Pieces shared by the sandbox's TCP servers: held connections, and closing them all on stop."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

ENDLESS_CHUNK = 64 * 1024
TRICKLE_INTERVAL = 0.2        # seconds between the bytes of a "trickle" fault


def hold(sock: socket.socket, stopping: threading.Event, limit: float = 120.0) -> None:
    """Keep a connection open without answering until the peer closes it, we stop, or `limit`."""
    waited = 0.0
    while waited < limit and not stopping.is_set():
        readable, _, _ = select.select([sock], [], [], 0.05)
        waited += 0.05
        if readable:
            try:
                if not sock.recv(4096):
                    return
            except OSError:
                return


def endless(send: Callable[[bytes], object], stopping: threading.Event, filler: bytes,
            limit: float = 120.0) -> int:
    """Send ``filler`` over and over (a hostile server's answer without end) until the peer goes away,
    we stop, or ``limit`` seconds pass. Returns the bytes sent (the client read at most that)."""
    chunk = (filler * (ENDLESS_CHUNK // max(1, len(filler)) + 1))[:ENDLESS_CHUNK]
    sent = 0
    until = time.monotonic() + limit
    while not stopping.is_set() and time.monotonic() < until:
        try:
            send(chunk)
        except OSError:
            break
        sent += len(chunk)
    return sent


def trickle(send: Callable[[bytes], object], stopping: threading.Event, filler: bytes,
            interval: float = TRICKLE_INTERVAL, limit: float = 120.0) -> int:
    """Send one byte of ``filler`` every ``interval`` seconds (always in time for a per-read timeout,
    never done) until the peer goes away, we stop, or ``limit`` seconds pass. Returns the bytes sent."""
    sent = 0
    until = time.monotonic() + limit
    while not stopping.is_set() and time.monotonic() < until:
        try:
            send(filler[sent % len(filler):sent % len(filler) + 1])
        except OSError:
            break
        sent += 1
        stopping.wait(interval)
    return sent


class ConnectionTracking:
    """socketserver mix-in (list it first): remembers open connections so that close_connections()
    can cut idle keep-alive ones; a client's pooled connection must not outlive its sandbox."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open_sockets: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open_sockets.add(request)
        super().process_request(request, client_address)  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open_sockets.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open_sockets)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """Runs a ConnectionTracking socketserver on a daemon thread; stop() also cuts open connections."""

    def __init__(self, server: Any, name: str) -> None:
        self._server = server
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:           # shutdown() waits for a loop that must be running
            self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=2)
