"""A TCP proxy on 127.0.0.1 in front of the test Dovecot that breaks connections on purpose.

    with Proxy(imap.port) as proxy:
        proxy.cut_at(b"CUT-ME", times=1)     # the next connection whose server data holds it is cut there
        proxy.trickle_at(b"SLOW-ME")         # ... or slowed to a byte every half second from there

The rules look at what the server sends (a message body being fetched), so the connection breaks in
the middle of a FETCH literal, as a dropped link or a stalled server would. Plain IMAP only (the
bot's ``mailbox.security = "none"``, allowed for 127.0.0.1): inside TLS nothing could be seen.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self.cuts = 0            # connections cut so far
        self._lock = threading.Lock()
        self._rules: list[tuple[bytes, str, float]] = []   # (marker, "cut"|"trickle", times left)
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    def cut_at(self, marker: bytes, times: float = 1) -> None:
        with self._lock:
            self._rules.append((marker, "cut", times))

    def trickle_at(self, marker: bytes, times: float = float("inf")) -> None:
        with self._lock:
            self._rules.append((marker, "trickle", times))

    def __enter__(self) -> Proxy:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        srv.settimeout(0.2)
        self._server = srv
        self.port = srv.getsockname()[1]
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for s in [*self._socks, *([self._server] if self._server else [])]:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(2)

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(self.target)
            self._socks += [client, upstream]
            t = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            t.start()
            self._threads.append(t)

    def _rule(self, data: bytes) -> tuple[int, str] | None:
        """(offset in ``data``, action) of the first rule whose marker it holds, used up once."""
        with self._lock:
            for i, (marker, action, times) in enumerate(self._rules):
                at = data.find(marker)
                if at >= 0 and times > 0:
                    self._rules[i] = (marker, action, times - 1)
                    return at, action
        return None

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        trickling = False
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                        continue
                    hit = None if trickling else self._rule(data)
                    if hit is not None and hit[1] == "cut":
                        client.sendall(data[:hit[0]])
                        with self._lock:
                            self.cuts += 1
                        return
                    if hit is not None:
                        client.sendall(data[:hit[0]])
                        data, trickling = data[hit[0]:], True
                    if trickling:
                        for n in range(len(data)):
                            if self._stop.wait(0.5):
                                return
                            client.sendall(data[n:n + 1])
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()


def wait_for(check: object, timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``check()`` until it is true or ``timeout`` passes; whether it became true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False
