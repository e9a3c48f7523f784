"""The Internet number registries, in one table: keys, names, services, mail domains, politeness.

Pure data (no network). The config's ``[gather.registries.<key>]`` tables, the RDAP and whois steps,
the registry-name shown to people and the catch-all rule for registry mailboxes all read it.

A key is the name the rest of the code uses (``arin``, ``ripencc``...); national registries (NIRs)
have keys too, because APNIC and LACNIC answers name them, but only the five RIRs are asked directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Registry:
    key: str
    name: str                      # as shown to people
    rdap_host: str = ""            # the RIR's RDAP service (only RIRs have one we ask)
    whois_host: str = ""           # its port-43 server
    mail_domains: tuple[str, ...] = ()   # its own mail: a catch-all, not the network's abuse desk
    concurrency: int = 4           # default politeness: requests in flight at once
    per_minute: int = 60           # and requests started per minute
    under: str = ""                # a national registry (NIR): the RIR it works under

    @property
    def national(self) -> bool:
        return bool(self.under)


REGISTRIES: tuple[Registry, ...] = (
    Registry("arin", "ARIN", "rdap.arin.net", "whois.arin.net", ("arin.net",), 4, 120),
    Registry("ripencc", "RIPE NCC", "rdap.db.ripe.net", "whois.ripe.net", ("ripe.net",), 4, 120),
    Registry("apnic", "APNIC", "rdap.apnic.net", "whois.apnic.net", ("apnic.net",), 4, 120),
    # LACNIC answers about ten requests a minute before it refuses more.
    Registry("lacnic", "LACNIC", "rdap.lacnic.net", "whois.lacnic.net", ("lacnic.net",), 1, 10),
    Registry("afrinic", "AFRINIC", "rdap.afrinic.net", "whois.afrinic.net", ("afrinic.net",), 2, 60),
    Registry("krnic", "KRNIC", mail_domains=("nic.or.kr", "kisa.or.kr"), under="apnic"),
    Registry("jpnic", "JPNIC", mail_domains=("nic.ad.jp",), under="apnic"),
    Registry("twnic", "TWNIC", mail_domains=("twnic.net.tw", "twnic.tw"), under="apnic"),
    Registry("cnnic", "CNNIC", mail_domains=("cnnic.cn",), under="apnic"),
    Registry("idnic", "IDNIC", mail_domains=("idnic.net",), under="apnic"),
    Registry("vnnic", "VNNIC", mail_domains=("vnnic.vn",), under="apnic"),
    Registry("irinn", "IRINN", mail_domains=("irinn.in",), under="apnic"),
    Registry("nicbr", "NIC.br", mail_domains=("nic.br", "registro.br"), under="lacnic"),
    Registry("nicmx", "NIC Mexico", under="lacnic"),
)

BY_KEY: dict[str, Registry] = {r.key: r for r in REGISTRIES}
RIRS: tuple[str, ...] = tuple(r.key for r in REGISTRIES if not r.national)
# The order in which the other RIRs are asked about transferred space (RIPE holds the most of it).
TRANSFER_ORDER: tuple[str, ...] = ("ripencc", "arin", "apnic", "lacnic", "afrinic")
RDAP_HOSTS: dict[str, str] = {r.rdap_host: r.key for r in REGISTRIES if r.rdap_host}
WHOIS_HOSTS: dict[str, str] = {r.whois_host: r.key for r in REGISTRIES if r.whois_host}


def name(key: str) -> str:
    """The registry as shown to people (``RIPE NCC``); an unknown key in capitals."""
    found = BY_KEY.get(key)
    return found.name if found else key.upper()


def mail_domains() -> dict[str, str]:
    """A registry's own mail domain -> who it is ("KRNIC (national registry)")."""
    return {domain: f"{r.name} (national registry)" if r.national else r.name
            for r in REGISTRIES for domain in r.mail_domains}
