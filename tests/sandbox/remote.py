"""The sandbox in a child process, for benchmarks: the servers' own CPU time is then not the measured
client's (real registries and resolvers run elsewhere), and the client process holds its GIL alone.

    with RemoteSandbox(latency=0.05, dns_latency=0.02, synthetic_networks=100) as sb:
        cfg = bot.config.from_dict(sb.config_dict(tmp_path))
        sb.reset_counts(); ...; sb.http_requests(); sb.dns_queries()

Only what a benchmark needs crosses the pipe: the config, the request and query logs, a reset.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.sandbox.core import Sandbox
from tests.sandbox.synthetic import SyntheticNetwork, make_networks


def _serve(conn: Connection, latency: float, networks: int, dns_latency: float) -> None:
    with Sandbox(latency=latency, synthetic_networks=networks, dns_latency=dns_latency) as sb:
        conn.send("ready")
        while True:
            command, argument = conn.recv()
            if command == "config":
                conn.send(sb.config_dict(argument))
            elif command == "http":
                conn.send(sb.http.requests)
            elif command == "dns":
                conn.send(sb.dns.queries)
            elif command == "reset":
                sb.http.reset_counts()
                sb.dns.reset_counts()
                conn.send(None)
            else:
                conn.send(None)
                return


class RemoteSandbox:
    def __init__(self, latency: float = 0.0, synthetic_networks: int = 0, dns_latency: float = 0.0) -> None:
        self.synthetic: list[SyntheticNetwork] = make_networks(synthetic_networks)  # as the child makes them
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, latency, synthetic_networks, dns_latency),
                                        name="sandbox", daemon=True)

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def config_dict(self, tmp_dir: str | Path) -> dict[str, Any]:
        found: dict[str, Any] = self._ask("config", str(tmp_dir))
        return found

    def http_requests(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self._ask("http")]  # type: ignore[misc]

    def dns_queries(self) -> list[tuple[str, str]]:
        return [tuple(q) for q in self._ask("dns")]  # type: ignore[misc]

    def reset_counts(self) -> None:
        self._ask("reset")

    def __enter__(self) -> RemoteSandbox:
        self._process.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            self._process.kill()
            raise RuntimeError("the sandbox process did not start")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError, EOFError):   # the child already gone
            self._ask("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
