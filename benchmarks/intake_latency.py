"""From an alert's APPEND into the mailbox to its draft committed, with `incident serve` on IMAP IDLE.

Starts the local sandbox (synthetic RDAP networks, DNS, whois on 127.0.0.1, --latency seconds added to
every HTTP answer), a local Dovecot (tests/support/dovecot.py; Debian's dovecot-imapd must be
installed), and the real `incident serve` as its own process, reading the mailbox over STARTTLS with
IDLE. Then, one at a time, it APPENDs --alerts fail2ban-style alerts, each naming an attacker in a
network not seen before (so every one is looked up whole: RDAP, DNS, whois as needed), and times
each from the APPEND's answer to the moment the draft with that alert's Message-ID as its origin is
in the incident index. Prints each time, the median and the 95th percentile, and the polling
interval IDLE replaces; the last line is ``median_s=<median>``. The target: a median under 2 s.

Registry rate limits are raised in this run's configuration (every alert is a new network; the
real registries' limits are not what is measured here).

    python benchmarks/intake_latency.py [--alerts 20] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import MailboxConfig  # noqa: E402
from bot.models import Origin  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.mailbox.process import ServeProcess, serve_config  # noqa: E402
from tests.sandbox import Sandbox  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.smtp import make_cert  # noqa: E402


def alert(ip: str, n: int) -> tuple[bytes, str]:
    mid = f"<bench-{n}-{time.time_ns()}@fw.mydomain.example>"
    lines = "\r\n".join(f"Nov 28 10:{n % 60:02d}:{i:02d} fw sshd[{n}]: Failed password for root from {ip} "
                        f"port {40000 + i} ssh2" for i in range(6))
    raw = (f"From: Fail2Ban <fail2ban@fw.mydomain.example>\r\nTo: incidents@mydomain.example\r\n"
           f"Subject: [Fail2Ban] sshd: banned {ip}\r\nMessage-ID: {mid}\r\n\r\nHi,\r\n\r\n"
           f"The IP {ip} has just been banned by Fail2Ban after 6 attempts against sshd.\r\n\r\n"
           f"{lines}\r\n")
    return raw.encode(), mid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=20, help="alerts to time, one after the other (>= 20)")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every HTTP answer")
    args = ap.parse_args()
    if args.alerts < 1:
        ap.error("--alerts: at least one")

    with tempfile.TemporaryDirectory(prefix="intake-latency-") as tmpdir:
        tmp = Path(tmpdir)
        cert = make_cert(tmp)
        with Sandbox(latency=args.latency, synthetic_networks=max(100, args.alerts)) as sb, \
                Dovecot(cert=cert) as server:
            imap = server.account()
            config = serve_config(tmp, sb, imap)
            store = Store(tmp / "incident")
            serve = ServeProcess(config)
            try:
                if not serve.wait_for("incident-bot.done", 30):
                    print("incident serve did not start:", *serve.lines[-10:], sep="\n", file=sys.stderr)
                    return 1
                time.sleep(0.5)  # in IDLE now
                times = []
                for n, net in enumerate(sb.synthetic[:args.alerts]):
                    raw, mid = alert(net.ips[0], n)
                    imap.append("INBOX", raw)
                    appended = time.monotonic()
                    origin = Origin("mail", mid)
                    while not store.incidents_from(origin):
                        if time.monotonic() - appended > 60:
                            print(f"alert {n} not drafted within 60 s:", *serve.lines[-10:], sep="\n",
                                  file=sys.stderr)
                            return 1
                        time.sleep(0.01)
                    times.append(time.monotonic() - appended)
                    print(f"alert {n + 1:>3}  {net.ips[0]:<40} drafted after {times[-1]:.3f} s")
            finally:
                serve.proc.send_signal(signal.SIGTERM)
                serve.finish(20)
    median = statistics.median(times)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]
    poll = MailboxConfig().poll_seconds
    print(f"alerts: {len(times)}, HTTP latency {args.latency:g} s per answer")
    print(f"APPEND -> draft committed, with IDLE: median {median:.3f} s, p95 {p95:.3f} s, "
          f"max {max(times):.3f} s")
    print(f"polling it replaces: every {poll:g} s (mailbox.poll_seconds), i.e. {poll / 2:g} s of waiting on "
          f"average and up to {poll:g} s before the lookups even start")
    print(f"median_s={median:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
