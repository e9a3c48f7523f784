"""Forwarded alerts read from a real Dovecot become drafts through the core (incident serve --once).

Each sample mail (tests/data/mail/mailbox, README there) carries global addresses of our own relays in its
``Received:`` headers (45.33.32.x, a network the fake gatherer knows): a draft for one of them would
mean the intake mail's own headers were read as evidence.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.mailbox.conftest import Logs, ServeOnce, mailbox_config, make_app, sample
from tests.support.dovecot import Account

DONE, NO_REPORT, UNMATCHED = "incident-bot.done", "incident-bot.no-report", "incident-bot.unmatched"

FORMATS = {
    "fail2ban.eml": ("211.191.28.13", "Failed password for root from 211.191.28.13 port 50188"),
    "logcheck.eml": ("211.191.28.14", "maximum authentication attempts exceeded for root from 211.191.28.14"),
    "forwarded-inline.eml": ("211.191.28.15", "SRC=211.191.28.15 DST=192.0.2.80 PROTO=TCP SPT=40001 DPT=23"),
    "rfc822-attached.eml": ("211.191.28.16", "Failed password for invalid user ubnt from 211.191.28.16"),
    "attachment-text.eml": ("211.191.28.17", "{TCP} 211.191.28.17:51122 -> 192.0.2.22:22"),
    "attachment-gzip.eml": ("211.191.28.18", "SRC=211.191.28.18 DST=192.0.2.43"),
}


def message_id(raw: bytes) -> str:
    line = next(ln for ln in raw.decode().splitlines() if ln.lower().startswith("message-id:"))
    return line.split(":", 1)[1].strip()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_an_alert_becomes_a_draft_of_its_attacker_from_body_and_attachments(
        name: str, tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    raw = sample(name)
    imap.append("INBOX", raw)
    app = make_app(mailbox_config(tmp_path, imap))
    assert serve_once(app) == 0
    ip, line = FORMATS[name]
    [inc] = app.incidents()
    assert inc.ips == (ip,), "one draft, of the attacker only (never a relay from the Received: headers)"
    draft = app.store().draft(inc.id)
    assert any(line in ev for t in draft.targets for ev in t.candidate.evidence.lines)
    assert [(o.kind, o.ref) for o in app.store().origins(inc.id)] == [("mail", message_id(raw))]
    assert imap.messages("INBOX") == []
    [(_, flags, moved)] = imap.messages(DONE)
    assert "$IncidentBot" in flags and moved == raw, "moved whole, with our keyword; nothing deleted"


def test_an_alert_naming_only_our_networks_creates_nothing_and_is_put_aside_with_the_reason(
        tmp_path: Path, imap: Account, serve_once: ServeOnce, caplog: Logs) -> None:
    caplog.set_level(logging.INFO, "incident.mailbox")
    imap.append("INBOX", sample("own-networks.eml"))
    app = make_app(mailbox_config(tmp_path, imap, scan={"own_networks": ["211.191.30.0/24"]}))
    assert serve_once(app) == 0
    assert app.incidents() == []
    assert len(imap.messages(NO_REPORT)) == 1 and imap.messages("INBOX") == []
    logged = [r.getMessage() for r in caplog.records]
    assert any("uid=1 no-report" in t and "no reportable" in t for t in logged)


def test_the_same_attacker_again_adds_to_its_open_draft_and_the_same_mail_twice_adds_nothing(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    first = sample("fail2ban.eml")
    again = first.replace(b"<20261128100204.F2B.1@", b"<20261128110204.F2B.2@")
    again = again.replace(b"Nov 28 10:0", b"Nov 28 11:0")
    imap.append("INBOX", first)
    imap.append("INBOX", again)
    imap.append("INBOX", first)  # delivered twice: same Message-ID
    app = make_app(mailbox_config(tmp_path, imap))
    assert serve_once(app) == 0
    [inc] = app.incidents()
    assert {o.ref for o in app.store().origins(inc.id)} == {message_id(first), message_id(again)}
    lines = app.store().draft(inc.id).targets[0].candidate.evidence.lines
    assert any("Nov 28 10:01:47" in ln for ln in lines) and any("Nov 28 11:01:47" in ln for ln in lines)
    assert len([ln for ln in lines if "Failed password for root" in ln]) == 4, "each line once"
    assert len(imap.messages(DONE)) == 3


def test_every_address_or_only_the_top_one(tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    text = "\n".join([f"Nov 28 10:0{i}:00 fw sshd[1]: Failed password for root from 211.191.28.20 port 1 ssh2"
                      for i in range(5)] + ["Nov 28 10:09:00 fw sshd[1]: Failed password for root from "
                                            "211.191.28.21 port 1 ssh2"])
    mail = (f"From: a@mydomain.example\nTo: incidents@mydomain.example\nSubject: two\n"
            f"Message-ID: <two@mydomain.example>\n\n{text}\n").replace("\n", "\r\n").encode()
    imap.append("INBOX", mail)
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"every_address": False}))
    assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.20",)]


def test_an_unmatched_answer_without_addresses_is_kept_and_listed_never_dropped(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    raw = sample("unmatched.eml")
    imap.append("INBOX", raw)
    app = make_app(mailbox_config(tmp_path, imap))
    assert serve_once(app) == 0
    assert app.incidents() == []
    kept = list((tmp_path / "incident" / "unmatched").glob("*.eml"))
    assert len(kept) == 1 and kept[0].read_bytes().replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert len(imap.messages(UNMATCHED)) == 1 and imap.messages("INBOX") == []
