"""TCP connects to the attacker's ports (the old tool's probing), with a banner when offered.

Off by default. Never towards non-global addresses (unless probe.allow_non_global, for tests)
nor towards our own networks.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor

from bot.config import Config
from bot.models import ProbeResult
from bot.public_address import is_public
from bot.text import single_line

_BANNER_BYTES = 200


def probe_refusal(ip: str, cfg: Config) -> str:
    """Why ``ip`` must not be probed (``""`` when it may be)."""
    addr = ipaddress.ip_address(ip)
    for cidr in cfg.scan.own_networks:
        if addr in ipaddress.ip_network(cidr, strict=False):
            return f"{ip} is in our own network {cidr}"
    if not is_public(addr) and not cfg.probe.allow_non_global:
        return f"{ip} is not a global address"
    return ""


def probe_port(ip: str, port: int, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as sock:
            sock.settimeout(min(timeout, 1.0))
            try:
                banner = single_line(sock.recv(_BANNER_BYTES).decode("latin-1"), _BANNER_BYTES)
            except OSError:
                banner = ""
            return ProbeResult(port=port, open=True, banner=banner)
    except OSError:
        return ProbeResult(port=port, open=False)


def probe(ip: str, cfg: Config) -> tuple[ProbeResult, ...]:
    """Connect to every configured port at once; results in port order."""
    ports = cfg.probe.ports
    if not ports:
        return ()
    with ThreadPoolExecutor(max_workers=min(len(ports), 16)) as pool:
        return tuple(pool.map(lambda p: probe_port(ip, p, cfg.probe.timeout), ports))
