"""Run the local sandbox until interrupted: python -m tests.sandbox [--latency S] [--dns-latency S]
[--synthetic N] [--config-out PATH].

Starts the HTTP replay, DNS and whois servers on 127.0.0.1, prints a config pointing the bot at
them (and writes it to --config-out PATH when given), and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.sandbox.core import Sandbox, to_toml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every HTTP answer")
    parser.add_argument("--dns-latency", type=float, default=0.0, help="seconds added to every DNS answer")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also serve N made-up networks (benchmarks; up to 1250)")
    parser.add_argument("--config-out", metavar="PATH", help="write the config here (TOML)")
    args = parser.parse_args(argv)
    if args.latency < 0 or args.dns_latency < 0:
        parser.error("--latency and --dns-latency must not be negative")
    if not 0 <= args.synthetic <= 1250:
        parser.error("--synthetic must be between 0 and 1250")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):      # Ctrl-C at any moment: a clean stop
        signal.signal(signum, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="incident-sandbox-") as tmp, \
            Sandbox(latency=args.latency, synthetic_networks=args.synthetic,
                    dns_latency=args.dns_latency) as sb:
        work = Path(args.config_out).resolve().parent if args.config_out else Path(tmp)
        text = to_toml(sb.config_dict(work))
        if args.config_out:
            try:
                Path(args.config_out).write_text(text, encoding="utf-8")
            except OSError as exc:
                print(f"sandbox: error: cannot write {args.config_out}: {exc.strerror}", file=sys.stderr)
                return 2
            print(f"# config written to {args.config_out}")
        print(text, flush=True)
        print(f"# RDAP {sb.rdap_base}  DNS 127.0.0.1:{sb.dns_port} (udp+tcp)  whois {sb.whois_address}")
        print(f"# example: incident lookup {sb.example.ips[0]}   (Ctrl-C stops)", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
