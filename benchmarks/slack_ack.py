"""How fast /incident is acknowledged while drafts are being gathered (Slack allows 3 s; aim < 100 ms).

Starts the local sandbox (synthetic RDAP networks, DNS, whois on 127.0.0.1, ``--latency`` seconds added
to every HTTP answer, so that each draft's gathering takes a second or more), a local stand-in for
Slack's Web API (tests/support/slack_api.py), and the Slack app in HTTP mode on a real local server.
Then ``--requests`` signed /incident requests, each for another attacker address, are sent from
``--clients`` threads at once; each request's acknowledgement time is measured from sending to the
answer. Gathering runs in the background (``slack.workers`` drafts at a time) the whole while: the
number of drafts waiting or running when each answer came is printed too.

    python benchmarks/slack_ack.py [--requests 60] [--clients 4] [--latency 0.2]

The last line is ``ack_p95_ms=<95th percentile>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import from_dict  # noqa: E402
from handlers.slack import SlackFrontEnd, ids  # noqa: E402
from tests.sandbox import Sandbox  # noqa: E402
from tests.support.slack_api import SIGNING_SECRET, TEAM, SlackApi, form, signed  # noqa: E402

# The sandbox is local: the registries' politeness limits (LACNIC's 10 a minute) are raised for this run.
LIMITS = {reg: {"concurrency": 8, "per_minute": 6000}
          for reg in ("arin", "ripencc", "apnic", "lacnic", "afrinic")}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds added to every sandbox HTTP answer")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to let the drafts finish afterwards")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="slack-ack-") as tmpdir, \
            Sandbox(latency=args.latency, synthetic_networks=max(10, args.requests // 5)) as sb, \
            SlackApi() as api:
        data = sb.config_dict(tmpdir)
        data["gather"]["registries"] = LIMITS
        data["report"] = {**data["report"], "reporter_email": "security@mydomain.example", "suppress_days": 0}
        data["slack"] = {"enabled": True, "mode": "http", "http_port": 0, "channel": "C0DRAFTS",
                         "senders": ["U0BENCH"], "progress_seconds": 1.0}
        cfg = from_dict(data)
        ips = [ip for net in sb.synthetic for ip in net.ips[:5]][:args.requests]
        with App(cfg) as app:
            front = SlackFrontEnd(cfg, app, client=api.client(), signing_secret=SIGNING_SECRET)
            front.start()
            assert front.http is not None
            url = f"http://127.0.0.1:{front.http.port}{cfg.slack.http_path}"
            acks: list[float] = []
            busy: list[int] = []
            failures: list[str] = []
            lock = threading.Lock()
            todo = iter(enumerate(ips))

            def client() -> None:
                while True:
                    with lock:
                        item = next(todo, None)
                    if item is None:
                        return
                    n, ip = item
                    body = form(token="x", team_id=TEAM, channel_id="C0ELSEWHERE", user_id="U0BENCH",
                                command=ids.COMMAND, text=ip, response_url=api.response_url("bench"),
                                trigger_id=f"bench-{n}")
                    req = urllib.request.Request(url, data=body.encode(), headers=signed(body), method="POST")
                    started = time.perf_counter()
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        answer = resp.read().decode()
                        status = resp.status
                    took = (time.perf_counter() - started) * 1000
                    with lock:
                        acks.append(took)
                        busy.append(front.jobs.pending)
                        if status != 200 or "Looking into it" not in answer:
                            failures.append(f"{ip}: {status} {answer[:80]}")

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent_in = time.monotonic() - started
            finished = front.wait_idle(args.wait)
            drafted = len(app.incidents())
            total = time.monotonic() - started
            front.stop()

    print(f"sandbox HTTP latency {args.latency * 1000:.0f} ms per answer; {args.clients} clients at once; "
          f"slack.workers={cfg.slack.workers}")
    print(f"requests: {len(acks)} /incident through the HTTP-mode server in {sent_in:.2f} s; refused: "
          f"{len(failures)}")
    print(f"drafts waiting or being gathered when an ack came: median {statistics.median(busy):.0f}, "
          f"max {max(busy)}")
    print(f"drafts stored: {drafted} of {len(ips)} after {total:.1f} s"
          f"{'' if finished else ' (still gathering when the wait ended)'}")
    print(f"ack latency: median {statistics.median(acks):.1f} ms, p95 {percentile(acks, 95):.1f} ms, "
          f"max {max(acks):.1f} ms")
    for f in failures[:5]:
        print(f"  refused: {f}")
    print(f"ack_p95_ms={percentile(acks, 95):.1f}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
