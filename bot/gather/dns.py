"""DNS lookups through the injected dnspython resolver (never the system's stub when configured).

NXDOMAIN and "no such record" are answers (empty results); SERVFAIL, REFUSED and timeouts raise
:class:`bot.errors.LookupFailed` with ``temporary=True``.
"""

from __future__ import annotations

import ipaddress
import re
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from bot.errors import LookupFailed

_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")


def reversed_labels(ip: str) -> str:
    """``1.2.3.4`` -> ``4.3.2.1``; IPv6 -> its 32 nibbles reversed, dot-separated."""
    rev = dns.reversename.from_address(str(ipaddress.ip_address(ip))).to_text().rstrip(".")
    return rev.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")


class DnsSource:
    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def _servers(self) -> list[str]:
        out = []
        for ns in self.resolver.nameservers:
            address = ns if isinstance(ns, str) else getattr(ns, "address", "")
            if address:
                out.append(address)
        return out

    def _query(self, name: str, rdtype: str) -> list[str]:
        """One question to the resolver's name servers (its nameservers, port, timeout, lifetime).

        dnspython's stub ``Resolver.resolve`` costs about twice the CPU of the exchange itself;
        bulk lookups ask thousands of questions, so we exchange directly with ``dns.query`` using
        the injected resolver's settings: UDP, TCP when truncated, next server on failure.
        """
        try:
            query = dns.message.make_query(name, rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            raise LookupFailed(f"{rdtype} {name}: not a valid DNS name", source="dns") from exc
        wanted = dns.rdatatype.from_text(rdtype)
        deadline = time.monotonic() + self.resolver.lifetime
        failure = "DNS timed out"
        for server in self._servers():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            timeout = min(self.resolver.timeout, remaining)
            try:
                response = dns.query.udp(query, server, timeout=timeout, port=self.resolver.port,
                                         ignore_unexpected=True)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(query, server, timeout=timeout, port=self.resolver.port)
            except dns.exception.Timeout:
                failure = "DNS timed out"
                continue
            except (dns.exception.DNSException, OSError, ValueError) as exc:
                failure = f"DNS lookup failed ({type(exc).__name__})"
                continue
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return []
            if rcode != dns.rcode.NOERROR:
                failure = f"DNS server failure ({dns.rcode.to_text(rcode)})"
                continue
            return [rr.to_text() for rrset in response.answer if rrset.rdtype == wanted for rr in rrset]
        raise LookupFailed(f"{rdtype} {name}: {failure}", source="dns", temporary=True)

    def ptr(self, ip: str) -> str | None:
        """The reverse name of ``ip`` (without the trailing dot), None when there is none.

        A PTR is attacker-controlled: anything that is not a plain host name raises LookupFailed.
        """
        names = self._query(dns.reversename.from_address(ip).to_text(), "PTR")
        if not names:
            return None
        name = names[0].rstrip(".").lower()
        if not _HOSTNAME_RE.match(name):
            raise LookupFailed("the PTR record is not a host name", source="dns")
        return name

    def addresses(self, name: str, failures: list[str] | None = None) -> tuple[str, ...]:
        """A and AAAA of ``name``. When one of the two questions fails, the other's answer is still
        given (its failure appended to ``failures`` when a list is passed); raises when both fail."""
        out: list[str] = []
        errors: list[LookupFailed] = []
        for rdtype in ("A", "AAAA"):
            try:
                out.extend(self._query(name, rdtype))
            except LookupFailed as exc:
                errors.append(exc)
        if len(errors) == 2:
            raise errors[0]
        if failures is not None:
            failures.extend(str(exc) for exc in errors)
        return tuple(str(ipaddress.ip_address(a)) for a in out)

    def forward_confirms(self, name: str, ip: str) -> bool:
        """Whether ``name`` resolves back to ``ip`` (asking only for the address's own family)."""
        want = ipaddress.ip_address(ip)
        found = self._query(name, "A" if want.version == 4 else "AAAA")
        return any(ipaddress.ip_address(a) == want for a in found)

    def reverse_zone_ns(self, ip: str) -> tuple[str, ...]:
        """Name servers of the reverse zone holding ``ip`` (the /24, else /16; IPv6: the /48, else /32).

        Whoever the zone is delegated to runs the network's DNS: the old tool's domain guess.
        """
        labels = reversed_labels(ip).split(".")
        suffix = "in-addr.arpa" if ipaddress.ip_address(ip).version == 4 else "ip6.arpa"
        for keep in ((3, 2) if suffix == "in-addr.arpa" else (12, 8)):
            zone = ".".join([*labels[-keep:], suffix])
            hosts = [t.rstrip(".").lower() for t in self._query(zone, "NS")]
            found = tuple(dict.fromkeys(h for h in hosts if _HOSTNAME_RE.match(h)))
            if found:
                return found
        return ()

    def mx(self, name: str) -> tuple[str, ...]:
        records = []
        for text in self._query(name, "MX"):
            parts = text.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1] != ".":
                records.append((int(parts[0]), parts[1].rstrip(".").lower()))
        return tuple(host for _, host in sorted(records))

    def txt(self, name: str) -> tuple[str, ...]:
        out = []
        for text in self._query(name, "TXT"):
            # rdata text is one or more quoted strings; join them as RFC 7208 does
            chunks = [c for c in text.split('"') if c.strip()]
            out.append("".join(chunks))
        return tuple(out)

    def origin_asn(self, ip: str) -> tuple[int | None, str]:
        """(origin AS number, announced prefix) from Team Cymru's DNS zone; (None, "") when unknown."""
        zone = "origin.asn.cymru.com" if ipaddress.ip_address(ip).version == 4 else "origin6.asn.cymru.com"
        texts = self.txt(f"{reversed_labels(ip)}.{zone}")
        fields = [f.strip() for f in texts[0].split("|")] if texts else []
        first = fields[0].split() if fields else []
        if not first or not first[0].isdigit():
            return None, ""
        prefix = ""
        if len(fields) > 1:
            try:
                prefix = str(ipaddress.ip_network(fields[1], strict=False))
            except ValueError:
                prefix = ""
        return int(first[0]), prefix

    def as_name(self, asn: int) -> str:
        """The AS name Team Cymru lists ("" when none)."""
        for text in self.txt(f"AS{asn}.asn.cymru.com"):
            fields = [f.strip() for f in text.split("|")]
            if len(fields) >= 5:
                return fields[4]
        return ""
