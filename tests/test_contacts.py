"""Contacts ranking (pure): order, overrides, catch-alls, exclusions, merging, malformed addresses."""

from __future__ import annotations

from bot.config import ContactOverride, ContactsConfig
from bot.contacts import abuse_status, explain, normalise_address, rank_contacts
from bot.models import Confidence, DomainInfo, Findings, Network, RegistryEntity


def _net(*entities: RegistryEntity, asn: int | None = 64500, registry: str = "ripencc") -> Network:
    return Network(registry=registry, handle="NET-1", name="EXAMPLE-NET", cidrs=("203.0.113.0/24",),
                   start="203.0.113.0", end="203.0.113.255", country="NL", org="Example BV", asn=asn,
                   as_name="EXAMPLE", entities=entities, source="rdap")


def _ent(handle: str, roles: tuple[str, ...], *emails: str, depth: int = 0,
         parent: str | None = None) -> RegistryEntity:
    return RegistryEntity(handle=handle, name=handle, kind="group", roles=roles, emails=emails,
                          depth=depth, parent=parent)


def _dom(name: str = "example.net", mx: tuple[str, ...] = ("mx.example.net",), has_address: bool = False,
         guessed: bool = False) -> DomainInfo:
    return DomainInfo(name=name, guessed=guessed, guess_reason="from e-mail" if guessed else "", mx=mx,
                      parent_mx=(), has_address=has_address)


def _findings(network: Network | None = None, domain: DomainInfo | None = None,
              abusix: tuple[str, ...] = ()) -> Findings:
    return Findings(ip="203.0.113.7", rdns=None, rdns_verified=False, network=network, domain=domain,
                    abusix=abusix)


def test_registry_abuse_first_then_abusix_then_other_registry_then_role_mailboxes() -> None:
    net = _net(_ent("TECH-1", ("technical",), "noc@example.net"),
               _ent("ORG-1", ("registrant",), "info@example.net"),
               _ent("AB-1", ("abuse",), "abuse-desk@example.net", depth=1, parent="ORG-1"))
    got = rank_contacts(_findings(net, _dom(), abusix=("abusix-listed@example.org",)), ContactsConfig())
    addresses = [c.address for c in got]
    assert addresses[:4] == ["abuse-desk@example.net", "abusix-listed@example.org", "noc@example.net",
                             "info@example.net"]
    assert got[0].confidence is Confidence.HIGH
    assert "nested under ORG-1" in got[0].sources[0]
    assert got[1].confidence is Confidence.MEDIUM
    low = [c for c in got if c.confidence is Confidence.LOW]
    assert [c.address for c in low] == [f"{box}@example.net" for box in ContactsConfig().role_mailboxes
                                        if f"{box}@example.net" not in addresses[:4]]


def test_role_mailboxes_only_for_a_domain_with_mx_or_address() -> None:
    none = rank_contacts(_findings(None, _dom(mx=(), has_address=False)), ContactsConfig())
    assert none == ()
    with_a = rank_contacts(_findings(None, _dom(mx=(), has_address=True)), ContactsConfig())
    assert "abuse@example.net" in [c.address for c in with_a]
    assert all(c.confidence is Confidence.LOW for c in with_a)


def test_overrides_by_cidr_asn_and_domain_win() -> None:
    net = _net(_ent("AB-1", ("abuse",), "abuse@example.net"))
    for ov in (ContactOverride(emails=("cert@local.example",), cidr="203.0.113.0/25"),
               ContactOverride(emails=("cert@local.example",), asn=64500),
               ContactOverride(emails=("cert@local.example",), domain="example.net")):
        got = rank_contacts(_findings(net, _dom()), ContactsConfig(override=(ov,)))
        assert got[0].address == "cert@local.example"
        assert got[0].confidence is Confidence.OVERRIDE
        assert got[0].sources[0].startswith("config override for")
    miss = ContactOverride(emails=("cert@local.example",), cidr="198.51.100.0/24")
    got = rank_contacts(_findings(net, _dom()), ContactsConfig(override=(miss,)))
    assert "cert@local.example" not in [c.address for c in got]


def test_registry_catch_all_is_demoted_and_says_why() -> None:
    net = _net(_ent("IRT-APNICRANDNET-AU", ("abuse",), "helpdesk@apnic.net"),
               _ent("TECH", ("technical",), "noc@example.net"), registry="apnic")
    got = rank_contacts(_findings(net), ContactsConfig())
    assert [c.address for c in got] == ["noc@example.net", "helpdesk@apnic.net"]
    assert got[0].flag == ""
    assert "catch-all" in got[1].flag and "APNIC" in got[1].flag
    assert "demoted" in explain(got[1])
    assert "catch-all" in abuse_status(_findings(net))


def test_nir_hostmaster_is_flagged() -> None:
    net = _net(_ent("IRT-KRNIC-KR", ("abuse",), "hostmaster@nic.or.kr"),
               _ent("DB50-AP", ("technical",), "abuse@bora.example"), registry="krnic")
    got = rank_contacts(_findings(net), ContactsConfig())
    assert got[0].address == "abuse@bora.example"
    assert "KRNIC" in got[-1].flag


def test_exclude_by_address_and_by_domain() -> None:
    net = _net(_ent("AB", ("abuse",), "abuse@example.net", "abuse@other.example"),
               _ent("T", ("technical",), "noc@sub.example.net"))
    got = rank_contacts(_findings(net), ContactsConfig(exclude=("abuse@other.example", "example.net")))
    assert got == ()


def test_duplicates_merge_case_insensitively_with_every_source() -> None:
    net = _net(_ent("AB", ("abuse",), "Abuse@Example.NET"), _ent("T", ("technical",), "abuse@example.net."))
    got = rank_contacts(_findings(net, abusix=("mailto:ABUSE@example.net",)), ContactsConfig())
    assert [c.address for c in got] == ["abuse@example.net"]
    assert got[0].confidence is Confidence.HIGH
    assert len(got[0].sources) == 3
    assert "abusix" in explain(got[0]) and "technical T" in explain(got[0])


def test_malformed_addresses_are_dropped() -> None:
    assert normalise_address("mailto:Abuse@Example.NET.") == "abuse@example.net"
    assert normalise_address("<noc@example.net>") == "noc@example.net"
    for bad in ("", "abuse", "a@b", "a@@b.net", "a@-bad-.net", "a b@example.net", "a@example.123",
                "x..y@example.net", "abuse@exa_mple.net"):
        assert normalise_address(bad) is None, bad
    net = _net(_ent("AB", ("abuse",), "not an address", "abuse@example.net"))
    assert [c.address for c in rank_contacts(_findings(net), ContactsConfig())] == ["abuse@example.net"]


def test_no_abuse_contact_is_said() -> None:
    net = _net(_ent("ORG", ("registrant",), "info@example.net"), registry="afrinic")
    assert "names no abuse contact" in abuse_status(_findings(net))
    assert "unknown" in abuse_status(_findings(None))


def test_a_domain_override_needs_a_confirmed_name_not_the_attackers_own_ptr() -> None:
    """Whoever runs the address writes its PTR: "x.bigisp.example" that does not resolve back, or a
    domain only guessed, must not route the report to the override for bigisp.example."""
    ov = ContactOverride(emails=("reports@bigisp.example",), domain="bigisp.example")
    cfg = ContactsConfig(override=(ov,))
    forged = Findings(ip="203.0.113.7", rdns="x.bigisp.example", rdns_verified=False, network=None,
                      domain=_dom("bigisp.example", guessed=True))
    assert "reports@bigisp.example" not in [c.address for c in rank_contacts(forged, cfg)]
    confirmed = Findings(ip="203.0.113.7", rdns="x.bigisp.example", rdns_verified=True, network=None,
                         domain=_dom("bigisp.example"))
    assert rank_contacts(confirmed, cfg)[0].address == "reports@bigisp.example"
