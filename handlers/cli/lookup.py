"""Look up an IP address, host name or domain: who runs it and whom to tell (the old -x).

Prints everything gathered (reverse DNS, the registry's network and its contacts, origin AS,
domain and MX, Abusix, probes when asked) and the ranked contacts with where each came from.
Progress lines go to stderr as the lookup runs; --json prints one JSON document for scripts.

Exit status: 0 when at least one contact was found, 1 when none was, 3 when the lookups
themselves failed (no registry answer and problems reported), 2 for a bad target or config.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from bot.app import App
from bot.config import Config
from bot.contacts import explain
from bot.models import Contact, LookupResult
from bot.public_address import is_public
from bot.text import visible_line
from handlers.cli.exits import Exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="IP|HOST|DOMAIN", help="what to look up")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--probe", action=argparse.BooleanOptionalAction, default=None,
                        help="TCP-connect to the configured ports (default: config probe.enabled)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _progress(line: str) -> None:
    sys.stderr.write(visible_line(line) + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace, cfg: Config) -> int:
    quiet = args.quiet or args.json
    with App(cfg) as app:
        result, contacts = app.lookup(args.target, probe=args.probe, progress=None if quiet else _progress)
    if args.json:
        sys.stdout.write(json.dumps(to_json(result, contacts), indent=2) + "\n")
    else:
        sys.stdout.write(render(result, contacts))
    f = result.findings
    if contacts:
        return Exit.OK
    if f.ip and not is_public(f.ip):
        return Exit.NOTHING  # nobody to report a private/reserved address to: not a lookup failure
    if f.network is None and f.problems:
        return Exit.FAILED
    return Exit.NOTHING


def to_json(result: LookupResult, contacts: tuple[Contact, ...]) -> dict[str, Any]:
    doc = asdict(result)
    doc["contacts"] = [asdict(c) | {"explain": explain(c)} for c in contacts]
    return doc


def render(result: LookupResult, contacts: tuple[Contact, ...]) -> str:
    f = result.findings
    out: list[str] = []

    def add(label: str, value: object) -> None:
        out.append(f"{label + ':':<12}{visible_line(value)}")

    add("Target", f"{result.target} ({result.kind})")
    if result.kind != "ip":
        add("Addresses", ", ".join(result.addresses) or "none")
    if f.ip:
        add("Address", f.ip)
        add("Reverse", f"{f.rdns} ({'resolves back' if f.rdns_verified else 'does not resolve back'})"
            if f.rdns else "none")
    net = f.network
    if net is not None:
        where = f"{net.start} - {net.end}" if net.start else "range unknown"
        add("Network", f"{net.handle} {net.name} ({where}; {', '.join(net.cidrs)})")
        add("Registry", f"{net.registry} via {net.source}" + (f" ({net.url})" if net.url else ""))
        add("Holder", f"{net.org}" + (f", {net.country}" if net.country else ""))
        if net.asn:
            add("Origin AS", f"AS{net.asn} {net.as_name}".rstrip())
    dom = f.domain
    if dom is not None:
        guess = f" (a guess: {dom.guess_reason})" if dom.guessed else ""
        add("Domain", f"{dom.name}{guess}")
        if dom.host and dom.host != dom.name:
            add("Host MX", ", ".join(dom.host_mx) or "none")
        add("MX", ", ".join(dom.mx) or "none")
        if dom.parent_mx:
            add("Parent MX", ", ".join(dom.parent_mx))
        add("Resolves", "yes (A/AAAA)" if dom.has_address else "no A/AAAA record")
        if dom.registrar:
            add("Registrar", dom.registrar)
    if f.abusix:
        add("Abusix", ", ".join(f.abusix))
    for p in f.probes:
        add(f"Port {p.port}", ("open" + (f": {p.banner}" if p.banner else "")) if p.open else "closed")
    entities = (net.entities if net else ()) + (dom.entities if dom else ())
    if entities:
        out.append("Registry entities:")
        for e in entities:
            indent = "  " * (e.depth + 1)
            roles = ",".join(e.roles) or "-"
            entity = f"{indent}{e.handle or '(no handle)'} [{roles}] {e.name} {' '.join(e.emails)}"
            out.append(visible_line(entity).rstrip())
    for title, lines in (("Notes", f.notes), ("Problems", f.problems)):
        if lines:
            out.append(f"{title}:")
            out.extend(f"  - {visible_line(line)}" for line in lines)
    out.append("Contacts (best first):" if contacts else "Contacts: none found")
    out.extend(f"  {i}. {visible_line(explain(c))}" for i, c in enumerate(contacts, 1))
    return "\n".join(out) + "\n"
