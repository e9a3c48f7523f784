"""See every connection, datagram and system name lookup the process makes while a test watches.

An audit hook (sys.addaudithook, installed once on import) records ``socket.connect``,
``socket.sendto`` and ``socket.getaddrinfo`` events while :func:`watching` is active, and refuses
(PermissionError, before the packet leaves) any connection or datagram to an address other than
127.0.0.1 / ::1: a test proving that the bot refuses to fetch 169.254.169.254 must not send it a packet
even if the bot were wrong.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Watch:
    connects: list[tuple[str, int]] = field(default_factory=list)   # TCP connections made: (address, port)
    datagrams: list[tuple[str, int]] = field(default_factory=list)  # UDP peers (DNS, both ways in-process)
    refused: list[str] = field(default_factory=list)                # addresses a packet was refused to
    name_lookups: list[str] = field(default_factory=list)           # host names given to getaddrinfo


_watches: list[Watch] = []
_lock = threading.Lock()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _watches or event not in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        return
    if event == "socket.getaddrinfo":
        with _lock:
            for watch in _watches:
                watch.name_lookups.append(str(args[0]))
        return
    address = args[1]
    if not isinstance(address, tuple) or not address:
        return  # a Unix socket
    host, port = str(address[0]), int(address[1]) if len(address) > 1 else 0
    stream = getattr(args[0], "type", None) == socket.SOCK_STREAM
    with _lock:
        for watch in _watches:
            if not _loopback(host):
                watch.refused.append(host)
            else:
                (watch.connects if stream else watch.datagrams).append((host, port))
    if not _loopback(host):
        raise PermissionError(f"test network guard: no packet to {host} (only 127.0.0.1 and ::1)")


sys.addaudithook(_hook)


@contextmanager
def watching() -> Iterator[Watch]:
    watch = Watch()
    with _lock:
        _watches.append(watch)
    try:
        yield watch
    finally:
        with _lock:
            _watches.remove(watch)
