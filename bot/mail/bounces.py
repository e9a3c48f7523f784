"""Bounces: which recipients failed, with what status, and which message of ours came back.

Two sources, best first:

1. RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``):
   read here from every block of every ``message/delivery-status`` part (``Part.fields``): per
   recipient the Action, Status, Final-Recipient, Original-Recipient, Diagnostic-Code and Remote-MTA.
   flufl.bounce reads DSNs too, but returns bare addresses: no status, no diagnostic.
2. The non-standard bounces of MTAs that send no DSN (Exim's X-Failed-Recipients and text, qmail's
   QSBMF, Postfix without DSN, Sendmail, old Exchange/Outlook NDRs, Google's old text, and dozens
   of rarer formats): the failed addresses come from flufl.bounce, the Mailman project's detectors
   kept up since 2001 on real bounces (Apache-2.0). It sees a copy of the mail rebuilt from the
   already bounded parts (text only, at most ``FLUFL_TEXT`` characters a part), so its regular
   expressions never run over more; any exception it raises is logged and taken as "found nothing".
   The status and diagnostic of each address are then read from the lines around it.

flufl.bounce is only asked once a mail looks like a bounce (``bounce_signs``): it was written for a
mailbox that receives nothing but bounces, and its looser patterns would find "failed addresses"
in an ordinary reply. When it finds nothing, the recipients of our enclosed original that the
notification's text names are taken as failed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from bot.mail.headers import Headers, addresses
from bot.mail.reading import Mail
from bot.text import single_line

log = logging.getLogger(__name__)
FLUFL_TEXT = 256 * 1024
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<!\d)([45]\d\d)(?:[ -]|$)")
_DAEMON = re.compile(r"^(?:mailer-daemon|mail-daemon|maildaemon|mailerdaemon)$", re.IGNORECASE)
_DAEMON_NAME = re.compile(r"mail delivery (?:sub)?system|mailer[- ]daemon", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery status notification \((?:failure|delay)|"
    r"delivery (?:has )?failed|mail delivery failed|failure notice|delivery failure|could not be delivered|"
    r"message not delivered|non remis|non distribuable|unzustellbar|nicht zustellbar|"
    r"no se (?:pudo|puede) entregar|non recapitabile|onbestelbaar|niedostarczalne|"
    r"warning: could not send message", re.IGNORECASE)


@dataclass(frozen=True)
class Recipient:
    """One recipient a bounce reports on."""

    address: str
    action: str                 # "failed" or "delayed"
    status: str = ""            # RFC 3463 code ("5.1.1"), or "" when the bounce gives none
    diagnostic: str = ""        # one line: "smtp; 550 5.1.1 <x@y>: Recipient address rejected"
    original: str = ""          # Original-Recipient: the address as we wrote it, when given
    remote_mta: str = ""


@dataclass(frozen=True)
class Bounce:
    failed: tuple[Recipient, ...]
    delayed: tuple[Recipient, ...]
    source: str                 # "dsn", "flufl.bounce", "X-Failed-Recipients", "enclosed original" or ""


def _address(value: str) -> str:
    """The address of an RFC 3464 recipient field (``rfc822; user@example.net``)."""
    kind, sep, rest = value.partition(";")
    found = addresses(rest if sep else kind)
    return found[0] if found else single_line(rest if sep else kind, 200).strip("<>")


def dsn_recipients(mail: Mail) -> tuple[list[Recipient], list[Recipient]] | None:
    """(failed, delayed) from the mail's own delivery-status parts; None when it has none."""
    reports = [p for p in mail.own_parts() if p.fields]
    if not reports:
        return None
    failed: list[Recipient] = []
    delayed: list[Recipient] = []
    for part in reports:
        for block in part.fields:
            final = block.get("Final-Recipient") or block.get("X-Actual-Recipient")
            if not final and "Action" not in block:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            status = _STATUS.search(block.get("Status"))
            action = block.get("Action").split("(")[0].strip().lower()
            if not action and status:
                action = "failed" if status.group(1)[0] == "5" else "delayed"
            rcpt = Recipient(
                address=_address(final or block.get("Original-Recipient")),
                action="failed" if action.startswith(("fail", "error")) else action,
                status=status.group(1) if status else "",
                diagnostic=single_line(block.get("Diagnostic-Code"), 300),
                original=_address(block.get("Original-Recipient")) if block.get("Original-Recipient") else "",
                remote_mta=_address(block.get("Remote-MTA")) if block.get("Remote-MTA") else "",
            )
            if rcpt.action == "failed":
                failed.append(rcpt)
            elif rcpt.action == "delayed":
                delayed.append(rcpt)
    return failed, delayed


def bounce_signs(headers: Headers) -> list[str]:
    """Why a mail looks like a non-DSN bounce (empty: it does not)."""
    signs: list[str] = []
    if "X-Failed-Recipients" in headers:
        signs.append("X-Failed-Recipients")
    sender = headers.from_address
    if _DAEMON.match(sender.partition("@")[0]) or _DAEMON_NAME.search(headers.get("From")):
        signs.append(f"From: {single_line(sender or headers.get('From'), 80)}")
    subject_says = bool(_BOUNCE_SUBJECT.search(headers.subject))
    if subject_says and (headers.return_path == "" or sender.partition("@")[0].lower() == "postmaster"
                         or signs):
        signs.append(f"Subject: {single_line(headers.subject, 80)}")
    return signs


def _flufl_copy(mail: Mail) -> Message:
    """The mail rebuilt for flufl.bounce from its bounded parts: headers, text bodies, DSN blocks."""
    built: list[Message] = []
    for part in mail.parts:
        msg = Message()
        for name, value in part.mime.fields[:200]:
            if name.lower() != "content-transfer-encoding":  # the text below is already decoded
                msg[name] = value
        for block in part.fields:
            sub = Message()
            for name, value in block.fields[:100]:
                sub[name] = value
            msg.attach(sub)
        if not part.fields and (part.content_type.startswith("text/") or not part.content_type.startswith(
                ("multipart/", "message/"))):
            msg.set_payload(part.text[:FLUFL_TEXT])
        built.append(msg)
        if part.parent >= 0:
            built[part.parent].attach(msg)
    return built[0]


def _flufl(mail: Mail) -> tuple[list[str], list[str]]:
    try:
        temporary, permanent = all_failures(_flufl_copy(mail))
    except Exception:  # a third-party detector on hostile input: found nothing, and say so in the log
        log.exception("flufl.bounce failed on a mail; taken as no recipient found")
        return [], []

    def decoded(found: frozenset[bytes]) -> list[str]:
        out = [a for raw in sorted(found) for a in addresses(raw.decode("ascii", "replace"))]
        return list(dict.fromkeys(out))
    return decoded(permanent), decoded(temporary)


def _notification_text(mail: Mail) -> str:
    return "\n".join(p.text for p in mail.own_parts() if p.content_type == "text/plain")


def _details(address: str, text: str, action: str) -> Recipient:
    """Status and diagnostic from the lines that name `address` in a non-DSN bounce."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if address.lower() in line.lower():
            window = " ".join(lines[i:i + 5])
            status = _STATUS.search(window)
            code = _SMTP_CODE.search(window)
            if status or code:
                diagnostic = window[code.start():] if code else window[status.start():] if status else ""
                fallback = f"{code.group(1)[0]}.0.0" if code else ""
                return Recipient(address, action, status.group(1) if status else fallback,
                                 single_line(diagnostic, 300))
    return Recipient(address, action)


def _enclosed_recipients(mail: Mail) -> list[str]:
    text = _notification_text(mail).lower()
    ours: list[str] = []
    for part in mail.parts:
        if part.enclosed is not None:
            ours += part.enclosed.to_addresses
    return [a for a in dict.fromkeys(ours) if a.lower() in text]


def parse_bounce(mail: Mail) -> Bounce | None:
    """The bounce this mail is, or None when it is none (a DSN that reports only successful
    deliveries, or a mail with no sign of a bounce)."""
    dsn = dsn_recipients(mail)
    if dsn is not None:  # a DSN says it all; one of delivered/relayed/expanded recipients is no bounce
        return Bounce(tuple(dsn[0]), tuple(dsn[1]), "dsn") if dsn[0] or dsn[1] else None
    signs = bounce_signs(mail.headers)
    if not signs:
        return None
    permanent, temporary = _flufl(mail)
    text = _notification_text(mail)
    if permanent or temporary:
        return Bounce(tuple(_details(a, text, "failed") for a in permanent),
                      tuple(_details(a, text, "delayed") for a in temporary if a not in permanent),
                      "flufl.bounce")
    listed = addresses(" , ".join(mail.headers.get_all("X-Failed-Recipients")))
    if listed:  # Exim's own list, for when flufl.bounce could not run
        return Bounce(tuple(_details(a, text, "failed") for a in listed), (), "X-Failed-Recipients")
    named = _enclosed_recipients(mail)
    if named:
        return Bounce(tuple(_details(a, text, "failed") for a in named), (), "enclosed original")
    return Bounce((), (), "")
