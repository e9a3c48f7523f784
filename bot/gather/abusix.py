"""Abusix' abuse contact DNS zone: TXT at the reversed address (nibbles for IPv6) under a zone."""

from __future__ import annotations

from bot.gather.dns import DnsSource, Records, reversed_labels


def query_name(ip: str, zone: str) -> str:
    """``1.2.3.4`` -> ``4.3.2.1.<zone>``; IPv6 -> 32 reversed nibbles + ``.<zone>``."""
    return f"{reversed_labels(ip)}.{zone.strip('.')}"


class AbusixSource:
    def __init__(self, dns_source: DnsSource, zone: str) -> None:
        self.dns = dns_source
        self.zone = zone

    def contacts(self, ip: str) -> Records:
        """The abuse addresses Abusix lists for ``ip`` and their TTL (raises LookupFailed on DNS failure)."""
        out: list[str] = []
        texts, ttl = self.dns.txt(query_name(ip, self.zone))
        for text in texts:
            out.extend(part.strip() for part in text.replace(",", " ").split() if "@" in part)
        return Records(tuple(dict.fromkeys(out)), ttl)
