"""Crash safety: ``incident serve`` killed with SIGKILL at random moments while a batch of alerts and
replies is processed, then started again, over and over. In the end every alert has exactly one
draft, every reply is filed exactly once, and every message was moved exactly once.

Most kills come a random 0 to 0.3 s after the process began on the batch (each message takes tens of
milliseconds: mid-lookup, mid-transaction, between the commit and the move); one in three comes
while it starts (logging in, building its clients, the first lookups). Before each start one more
alert and one more reply arrive, so that there is always work in hand. The seed is in every
assertion's message, to replay a run.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
from pathlib import Path

from bot.models import Origin
from bot.store import Store, followups
from handlers.mailbox.ledger import Ledger
from tests.mailbox.process import ServeProcess, serve_config
from tests.sandbox import Sandbox
from tests.support.dovecot import Account
from tests.support.fakes import TESTER, sent_incident

KILLS = 30
FIRST_ALERTS, FIRST_REPLIES = 20, 10
ALERTS, REPLIES = FIRST_ALERTS + KILLS, FIRST_REPLIES + KILLS


def alert(ip: str, n: int) -> bytes:
    lines = "\r\n".join(f"Nov 28 10:{n % 60:02d}:{i:02d} fw sshd[{n}]: Failed password for root from {ip} "
                        f"port {40000 + i} ssh2" for i in range(4))
    return (f"From: fail2ban@fw.mydomain.example\r\nTo: incidents@mydomain.example\r\n"
            f"Subject: [Fail2Ban] sshd: banned {ip}\r\nMessage-ID: <alert-{n}@fw.mydomain.example>\r\n\r\n"
            f"{lines}\r\n").encode()


def reply(n: int) -> bytes:
    return (f"From: desk{n}@example.net\r\nTo: security@mydomain.example\r\nSubject: Re: your report\r\n"
            f"Message-ID: <reply-{n}@example.net>\r\nIn-Reply-To: <sent-{n}@mydomain.example>\r\n\r\n"
            f"We handled it, thanks.\r\n").encode()


def test_killed_at_random_moments_every_alert_one_draft_every_reply_filed_once(
        tmp_path: Path, sandbox: Sandbox, imap: Account) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    config = serve_config(tmp_path, sandbox, imap)
    store = Store(tmp_path / "incident")
    sent = [sent_incident(store, f"192.0.2.{n + 1}", f"Network scan from 192.0.2.{n + 1}",
                          mid=f"<sent-{n}@mydomain.example>") for n in range(REPLIES)]
    ips = [net.ips[0] for net in sandbox.synthetic][:ALERTS]
    assert len(ips) == ALERTS
    first = [alert(ips[n], n) for n in range(FIRST_ALERTS)] + [reply(n) for n in range(FIRST_REPLIES)]
    rng.shuffle(first)
    for raw in first:
        imap.append("INBOX", raw)

    moments = []
    for kill in range(KILLS):
        imap.append("INBOX", alert(ips[FIRST_ALERTS + kill], FIRST_ALERTS + kill))
        imap.append("INBOX", reply(FIRST_REPLIES + kill))
        serve = ServeProcess(config)
        try:
            if kill % 3 == 2:
                moment = "starting"
                delay = rng.uniform(0.0, 0.8)
            else:
                moment = "processing"
                assert serve.wait_for(" uid=", 30), (seed, serve.lines)
                delay = rng.uniform(0.0, 0.3)
            with contextlib.suppress(subprocess.TimeoutExpired):
                serve.proc.wait(delay)  # it keeps running: the kill comes at this moment
            assert serve.proc.poll() is None, (seed, serve.lines[-5:])
            serve.proc.send_signal(signal.SIGKILL)
            moments.append((moment, sum(" uid=" in ln for ln in serve.lines)))
        finally:
            if serve.proc.poll() is None:
                serve.proc.kill()
            serve.finish()
    processing = [done for moment, done in moments if moment == "processing"]
    assert len(processing) == 20 and sum(processing) >= 20, (seed, moments)
    last = ServeProcess(config, "--once")
    assert last.finish(120) == 0, (seed, last.lines[-10:])

    assert imap.messages("INBOX") == [], seed
    assert len(imap.messages("incident-bot.done")) == ALERTS + REPLIES, (seed, "each message moved once")
    for n in range(ALERTS):
        made = store.incidents_from(Origin("mail", f"<alert-{n}@fw.mydomain.example>"))
        assert len(made) == 1, (seed, n, made)
        assert [e.action for e in store.history(made[0])] == ["create"], (seed, store.history(made[0]))
        assert len(store.origins(made[0])) == 1
    assert len(store.incidents()) == ALERTS + REPLIES, (seed, "no draft twice")
    for inc_id in sent:
        assert len(followups.replies(store, inc_id)) == 1, (seed, inc_id)
        folder = Path(store.get(inc_id).folder)
        assert len(list(folder.glob("followup-*.eml"))) == 1, (seed, inc_id, sorted(folder.iterdir()))
        assert store.get(inc_id).state.value == "answered"
    assert Ledger(store).quarantined() == [], seed


def test_a_reply_whose_filing_was_killed_before_its_index_row_is_filed_into_the_same_file(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "incident")
    inc_id = sent_incident(store, mid="<sent@mydomain.example>")
    raw = reply(0)
    folder = Path(store.get(inc_id).folder)
    left = followups._write(folder, "followup-20261128100000", raw, followups.digest(raw)[:12])
    filed = followups.file_reply(store, inc_id, raw, actor=TESTER)
    assert filed.path == left and sorted(folder.glob("followup-*.eml")) == [left]
    empty = folder / f"followup-20261128100500-{followups.digest(reply(1))[:12]}.eml"
    empty.touch()  # killed after taking the name, before filling it
    again = followups.file_reply(store, inc_id, reply(1), actor=TESTER)
    assert again.path == empty and empty.read_bytes() == reply(1)
    assert len(followups.replies(store, inc_id)) == 2 and len(list(folder.glob("followup-*.eml"))) == 2
