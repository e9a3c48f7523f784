"""Hand-built findings for compose tests (the shapes gather returns; values from the sandbox's example)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import (
    Candidate,
    Confidence,
    Contact,
    DomainInfo,
    Evidence,
    Findings,
    Network,
    RegistryEntity,
    Role,
)

NOW = datetime(2026, 9, 8, 11, 22, 22, tzinfo=UTC)


def shinbiro_findings(ip: str = "211.191.28.13") -> Findings:
    irt = RegistryEntity("IRT-SHINBIRO-KR", "IRT-SHINBIRO-KR", "group", ("abuse",),
                         ("abuse@shinbiro.example",))
    block = (("2001:2d8::/32", "2001:2d8::", "2001:2d8:ffff:ffff:ffff:ffff:ffff:ffff") if ":" in ip
             else ("211.191.0.0/17", "211.191.0.0", "211.191.127.255"))
    net = Network(
        registry="krnic", handle=f"{block[1]} - {block[2]}", name="SHINBIRO-KR",
        cidrs=(block[0],), start=block[1], end=block[2], country="KR",
        org="Shinbiro (synthetic example)", asn=64496, as_name="SHINBIRO-AS", entities=(irt,), source="rdap",
    )
    dom = DomainInfo(name="shinbiro.example", guessed=True, guess_reason="name server of the reverse zone",
                     mx=(), parent_mx=("mail.shinbiro.example",), has_address=False)
    return Findings(ip=ip, rdns=None, rdns_verified=False, network=net, domain=dom)


def shinbiro_contacts() -> tuple[Contact, ...]:
    return (
        Contact("abuse@shinbiro.example", Confidence.HIGH, ("rdap abuse IRT-SHINBIRO-KR",)),
        Contact("ip@mgate.shinbiro.example", Confidence.MEDIUM, ("rdap administrative IA1-KR",)),
    )


def candidate(ip: str, lines: list[str], total: int | None = None) -> Candidate:
    ev = Evidence(tuple(lines), total if total is not None else len(lines),
                  datetime(2026, 4, 14, 23, 11, 8, tzinfo=UTC), datetime(2026, 4, 14, 23, 11, 13, tzinfo=UTC))
    return Candidate(ip=ip, count=ev.total_lines, source_count=ev.total_lines, role=Role.SOURCE,
                     reportable=True, evidence=ev)
