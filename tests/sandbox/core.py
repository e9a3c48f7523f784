"""The Sandbox context manager: HTTP replay, DNS and whois servers on 127.0.0.1, started together."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.sandbox import recorded, synthetic
from tests.sandbox.dnsd import DnsServer
from tests.sandbox.example import EXAMPLE
from tests.sandbox.httpd import HttpServer
from tests.sandbox.replay import Replay
from tests.sandbox.whoisd import WhoisServer
from tests.sandbox.zone import ABUSIX_ZONE, build_zone

HOST = "127.0.0.1"


class Sandbox:
    """Local stand-ins for the registries, DNS and whois; see tests/sandbox/README.md.

        with Sandbox(latency=0.05, synthetic_networks=100, dns_latency=0.02) as sb:
            cfg = bot.config.from_dict(sb.config_dict(tmp_path))

    ``latency``: seconds added to every HTTP answer; ``dns_latency``: to every DNS answer.
    """

    def __init__(self, latency: float = 0.0, synthetic_networks: int = 0, dns_latency: float = 0.0) -> None:
        self.latency = latency
        self.dns_latency = dns_latency
        self.synthetic: list[synthetic.SyntheticNetwork] = synthetic.make_networks(synthetic_networks)
        self.example = EXAMPLE
        self.abusix_zone = ABUSIX_ZONE
        self._stopping = threading.Event()
        rec = recorded.load()
        self.recorded = rec
        self.zone = build_zone(self.synthetic, ABUSIX_ZONE, recorded.email_domains(rec),
                               recorded.http_hosts(rec))
        self.replay = Replay(rec, self.synthetic)
        # Sockets are opened by start() and closed by stop(): nothing is bound before.
        self._http: HttpServer | None = None
        self._dns: DnsServer | None = None
        self._whois: WhoisServer | None = None

    @property
    def http(self) -> HttpServer:
        if self._http is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or sb.start()")
        return self._http

    @property
    def dns(self) -> DnsServer:
        if self._dns is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or sb.start()")
        return self._dns

    @property
    def whois(self) -> WhoisServer:
        if self._whois is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or sb.start()")
        return self._whois

    # --- addresses ----------------------------------------------------------------------

    @property
    def rdap_base(self) -> str:
        """"http://127.0.0.1:PORT": https://HOST/PATH is served at {rdap_base}/HOST/PATH."""
        return self.http.base

    @property
    def dns_port(self) -> int:
        return self.dns.port

    @property
    def whois_address(self) -> str:
        return self.whois.address

    # --- configs ------------------------------------------------------------------------

    def config_dict(self, tmp_dir: str | Path) -> dict[str, Any]:
        """A config (for bot.config.from_dict) pointing every client at the sandbox: RDAP, DNS and
        whois here, the lookup cache in tmp_dir, probing off, Abusix on with the sandbox's zone."""
        cache = Path(tmp_dir) / "lookups.sqlite"
        return {
            "gather": {
                "timeout": 2.0,
                "nameservers": [HOST],
                "dns_port": self.dns_port,
                "abusix": True,
                "abusix_zone": self.abusix_zone,
                "whois_fallback": True,
                "rdap_url_override": self.rdap_base,
                "whois_server_override": self.whois_address,
                "cache_path": str(cache),
            },
            "probe": {"enabled": False},
            "report": {"incident_dir": str(Path(tmp_dir) / "incident")},
        }

    def write_config(self, path: str | Path, tmp_dir: str | Path | None = None) -> None:
        """config_dict() as a TOML file at `path` (cache next to it unless tmp_dir is given)."""
        target = Path(path)
        data = self.config_dict(tmp_dir if tmp_dir is not None else target.parent)
        target.write_text(to_toml(data), encoding="utf-8")

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._http is not None:
            return self
        self._stopping.clear()
        try:
            self._http = HttpServer(self.replay, self._stopping, self.latency, HOST)
            self._dns = DnsServer(self.zone, self._stopping, HOST, self.dns_latency)
            self._whois = WhoisServer(self.recorded, self.zone, self.synthetic, self._stopping, HOST)
        except BaseException:
            self.stop()
            raise
        self._http.start()
        self._dns.start()
        self._whois.start()
        return self

    def stop(self) -> None:
        self._stopping.set()       # releases connections held by "timeout" faults
        for server in (self._http, self._dns, self._whois):
            if server is not None:
                server.stop()
        self._http = self._dns = self._whois = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def clear_faults(self) -> None:
        """Forget every pending fault of every server."""
        self.http.clear_faults()
        self.dns.clear_faults()
        self.whois.clear_faults()

    def reset(self) -> None:
        """Between tests sharing one sandbox: no faults, empty logs, latencies back to the start values."""
        self.clear_faults()
        self.http.reset_counts()
        self.dns.reset_counts()
        self.whois.reset_counts()
        self.http.latency = self.latency
        self.dns.latency = self.dns_latency


def to_toml(data: dict[str, Any]) -> str:
    """The small TOML subset our configs need: tables of strings, numbers, booleans and lists."""
    lines = ["# Written by tests.sandbox: every client points at the local sandbox on 127.0.0.1.", ""]
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
