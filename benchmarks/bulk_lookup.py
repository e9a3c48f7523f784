"""Bulk lookup benchmark: 1,000 IPs across 100 networks, ours against a plain ipwhois loop.

Both run against the local sandbox (tests/sandbox: SYNTHETIC networks made up by us) with realistic
delays: 50 ms added to every registry (HTTP) answer and 20 ms to every DNS answer (a resolver asked
about names not in its cache). The sandbox runs in a child process (tests/sandbox/remote.py), as real
registries and resolvers run elsewhere: its servers' CPU time is not the measured client's. Both use
the same seams: our urllib opener (ipwhois' ``proxy_opener``: every request through our fetcher,
sent to the sandbox) and our dnspython resolver settings.

- ours: ``Gatherer.gather_many`` (bounded thread pool, per-registry gates, range cache, shared answers),
  every source on (rDNS, RDAP, origin AS, Abusix, domain, MX); fresh cache.
- loop: ``for ip in ips: IPWhois(ip, proxy_opener=...).lookup_rdap()``, sequential, ipwhois'
  own defaults (ASN lookup by DNS through our resolver, then RDAP and root-entity fetches).

NOTE: the default per-registry limits (LACNIC 10 a minute!) would make "ours" wait on purpose;
this benchmark raises them in its own config (concurrency 8, 100,000 a minute) and says so. It also
sets gather.workers (default 32 here, 16 in the default config) and prints it.

Run: ``python benchmarks/bulk_lookup.py [--networks 100] [--per-network 10] [--latency 0.05]
[--dns-latency 0.02] [--workers 32] [--no-loop]``
Last line: ``speedup=<loop time / our time> requests=<registry requests we made>
dns_per_address=<DNS queries we made per address>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ipwhois import IPWhois

from bot.clients import build_clients
from bot.config import from_dict
from bot.gather import Gatherer
from tests.sandbox.remote import RemoteSandbox

RIR_HOSTS = {"rdap.arin.net", "rdap.db.ripe.net", "rdap.apnic.net", "rdap.lacnic.net", "rdap.afrinic.net"}
RAISED = {"concurrency": 8, "per_minute": 100_000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--per-network", type=int, default=10, help="addresses per network (at most 10)")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every HTTP answer")
    ap.add_argument("--dns-latency", type=float, default=0.02, help="seconds added to every DNS answer")
    ap.add_argument("--workers", type=int, default=32, help="gather.workers for our run")
    ap.add_argument("--no-loop", action="store_true", help="skip the ipwhois loop (no speedup line)")
    args = ap.parse_args(argv)

    with RemoteSandbox(latency=args.latency, synthetic_networks=args.networks,
                       dns_latency=args.dns_latency) as sb, tempfile.TemporaryDirectory() as tmp:
        ips = [ip for net in sb.synthetic for ip in net.ips[:args.per_network]]
        data = sb.config_dict(tmp)
        data["gather"]["workers"] = args.workers
        data["gather"]["registries"] = {r: dict(RAISED) for r in
                                        ("arin", "ripencc", "apnic", "lacnic", "afrinic")}
        cfg = from_dict(data)
        clients = build_clients(cfg)
        print(f"{len(ips)} IPs across {len(sb.synthetic)} synthetic networks, "
              f"{args.latency * 1000:g} ms added per registry (HTTP) answer, "
              f"{args.dns_latency * 1000:g} ms per DNS answer (sandbox in its own process)")
        print(f"config: registry limits raised for this benchmark to {RAISED['concurrency']} at once, "
              f"{RAISED['per_minute']} a minute (defaults: LACNIC 1 at once, 10 a minute); "
              f"gather.workers = {args.workers}")

        # ours
        sb.reset_counts()
        gatherer = Gatherer(cfg, clients)
        start = time.perf_counter()
        found = dict(gatherer.gather_many(ips))
        ours = time.perf_counter() - start
        gatherer.close()
        requests = sb.http_requests()
        our_requests = sum(1 for host, _ in requests if host in RIR_HOSTS)
        entity_fetches = sum(1 for host, path in requests if host in RIR_HOSTS and "/entity/" in path)
        our_dns = len(sb.dns_queries())
        with_network = sum(1 for f in found.values() if f.network is not None)
        print(f"ours: {ours:.2f} s, {our_requests} registry requests ({len(requests)} HTTP requests in all, "
              f"IANA bootstrap included), {with_network}/{len(ips)} with a network; {our_dns} DNS queries "
              f"({our_dns / len(ips):.2f} per address)")
        print(f"networks: {len(sb.synthetic)}; entity fetches: {entity_fetches}; registry requests "
              f"{our_requests} <= networks + entity fetches: "
              f"{'yes' if our_requests <= len(sb.synthetic) + entity_fetches else 'NO'}")
        if args.no_loop:
            return 0

        # a plain sequential loop of ipwhois lookup_rdap calls, same seams
        sb.reset_counts()
        start = time.perf_counter()
        loop_ok = 0
        for ip in ips:
            obj = IPWhois(ip, timeout=int(cfg.gather.timeout) or 1, proxy_opener=clients.opener)
            obj.net.dns_resolver = clients.resolver  # ipwhois' ASN lookup over our sandbox DNS
            try:
                result = obj.lookup_rdap(retry_count=0)
            except Exception as exc:  # the loop is a baseline: count failures, keep going
                print(f"loop: {ip}: {type(exc).__name__}", file=sys.stderr)
                continue
            loop_ok += bool(result.get("network"))
        loop = time.perf_counter() - start
        loop_requests = sum(1 for host, _ in sb.http_requests() if host in RIR_HOSTS)
        print(f"loop: {loop:.2f} s, {loop_requests} registry requests, {loop_ok}/{len(ips)} with a network")
    print(f"speedup={loop / ours:.1f} requests={our_requests} dns_per_address={our_dns / len(ips):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
