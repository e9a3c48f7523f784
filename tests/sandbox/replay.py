"""Routing of the HTTP replay server: which answer a registry would give for host+path.

Order: IANA's bootstrap files; ARIN's bootstrap service (302 to the registry IANA names); the
recorded (and synthetic) answers by exact host+path; /ip/<address or CIDR> by the most specific
network holding it; otherwise 404 with an RDAP error body.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable

from tests.sandbox import recorded, synthetic
from tests.sandbox.example import EXAMPLE, example_entities, example_rdap
from tests.sandbox.recorded import Answer, Network, Recorded

RDAP_JSON = "application/rdap+json"
_IP_PATH = re.compile(r"^(?P<prefix>.*/ip/)(?P<query>[0-9A-Fa-f:.]+(?:/\d{1,3})?)$")
_SYNTHETIC = (("X-Sandbox", "synthetic"),)
_ENTITY_TAGS = {"ARIN": "arin", "RIPE": "ripencc", "AP": "apnic", "LACNIC": "lacnic", "AFRINIC": "afrinic"}


def error_answer(status: int, title: str, *description: str) -> Answer:
    body = {"rdapConformance": ["rdap_level_0"], "errorCode": status, "title": title,
            "description": list(description)}
    return Answer(status, RDAP_JSON, json.dumps(body, indent=2).encode())


def not_found(host: str, path: str) -> Answer:
    return error_answer(404, "Not Found", "No object found for this query (local sandbox).",
                        f"Nothing recorded for {host}{path}.")


class Replay:
    """Recorded answers plus the synthetic ones; read-only once built (safe across threads)."""

    def __init__(self, rec: Recorded, networks: Iterable[synthetic.SyntheticNetwork] = ()) -> None:
        self.rec = rec
        self.routes: dict[tuple[str, str], Answer] = dict(rec.routes)
        self.networks: list[Network] = list(rec.networks)
        self.synthetic = list(networks)
        for net in [*self.synthetic, EXAMPLE]:
            self._add_synthetic(net)
        self._v4 = self._services("ipv4.json")
        self._v6 = self._services("ipv6.json")

    def _add_synthetic(self, net: synthetic.SyntheticNetwork) -> None:
        host, _, epath, *_ = synthetic.SHAPES[net.registry]
        if net is EXAMPLE:
            body, (_, by_handle) = example_rdap(), example_entities()
        else:
            body, (_, by_handle) = synthetic.rdap_network(net), synthetic.entities(net)
        cidr = ipaddress.ip_network(net.cidr)
        answer = Answer(200, RDAP_JSON, synthetic.to_json(body), _SYNTHETIC)
        self.networks.append(Network(cidr.version, int(cidr.network_address), int(cidr.broadcast_address),
                                     host, answer, f"synthetic:{net.handle}"))
        for handle, entity in by_handle.items():
            body_e = synthetic.to_json(synthetic.rdap_entity(entity))
            self.routes[(host, epath + handle)] = Answer(200, RDAP_JSON, body_e, _SYNTHETIC)

    def _services(self, name: str) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
        out: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for prefixes, urls in self.rec.bootstrap_services(name):
            url = next((u for u in urls if u.startswith("https://")), urls[0])
            out.extend((ipaddress.ip_network(p), url) for p in prefixes)
        return out

    # --- routing -------------------------------------------------------------------------

    def resolve(self, host: str, path: str) -> Answer:
        if host == "data.iana.org" and path.startswith("/rdap/"):
            found = self.rec.bootstrap.get(path[len("/rdap/"):])
            return found or not_found(host, path)
        if host == "rdap-bootstrap.arin.net" and path.startswith("/bootstrap/"):
            return self._bootstrap_redirect(path[len("/bootstrap/"):]) or not_found(host, path)
        exact = self.routes.get((host, path)) or self.rec.route(host, path)
        if exact is not None:
            return exact
        match = _IP_PATH.match(path)
        if match:
            parsed = recorded.parse_query(match.group("query"))
            if parsed is not None:
                net = recorded.most_specific(self.networks, host, *parsed)
                if net is not None:
                    return net.answer
        return not_found(host, path)

    def registry_url(self, address: str) -> str | None:
        """The https base URL IANA's bootstrap names for an address or CIDR (ending in '/')."""
        try:
            net = ipaddress.ip_network(address, strict=False)
        except ValueError:
            return None
        table = self._v4 if net.version == 4 else self._v6
        holding = [(p, url) for p, url in table if p.version == net.version and net.subnet_of(p)]  # type: ignore[arg-type]
        if not holding:
            return None
        return max(holding, key=lambda item: item[0].prefixlen)[1]

    def _bootstrap_redirect(self, rest: str) -> Answer | None:
        kind, _, value = rest.partition("/")
        base: str | None = None
        if kind == "ip":
            base = self.registry_url(value)
        elif kind == "autnum" and value.isdigit():
            for ranges, urls in self.rec.bootstrap_services("asn.json"):
                for item in ranges:
                    low, _, high = item.partition("-")
                    if int(low) <= int(value) <= int(high or low):
                        base = next((u for u in urls if u.startswith("https://")), urls[0])
        elif kind == "entity" and "-" in value:
            registry = _ENTITY_TAGS.get(value.rsplit("-", 1)[1].upper())
            if registry:
                host, _, epath, *_ = synthetic.SHAPES[registry]
                return _redirect(f"https://{host}{epath}{value}")
        if base is None:
            return None
        return _redirect(f"{base}{kind}/{value}")


def _redirect(location: str) -> Answer:
    body = json.dumps({"rdapConformance": ["rdap_level_0"], "notices": [
        {"title": "Redirect", "description": [f"See {location}"]}]}).encode()
    return Answer(302, RDAP_JSON, body, (("Location", location),))
