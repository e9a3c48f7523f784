"""A draft report as an RFC 5322 message, built by the email library (never by string concatenation).

Header values pass through ``email.policy.SMTP``, which encodes non-ASCII (RFC 2047) and refuses CR/LF;
the subject has already had control characters turned into spaces by compose, and addresses are
checked here, so text from a log or a registry can never add a header.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from bot.config import Config
from bot.errors import UserError
from bot.models import Draft

_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def check_address(addr: str, what: str) -> str:
    """A plain mailbox address (no display name, no spaces, no CR/LF), or a UserError naming `what`."""
    addr = addr.strip()
    if not _ADDR.match(addr) or ".." in addr:
        raise UserError(f"{what}: {addr!r} is not a usable e-mail address")
    return addr


def sender(cfg: Config) -> str:
    """The From address: smtp.from_address, else report.reporter_email."""
    addr = cfg.smtp.from_address or cfg.report.reporter_email
    if not addr:
        raise UserError("set smtp.from_address (or report.reporter_email) to send reports")
    return check_address(addr, "smtp.from_address")


def new_message_id(incident_id: str, from_addr: str) -> str:
    """Unique and short enough not to be folded: <INC-...-NNNN.random@sender-domain>."""
    domain = from_addr.rpartition("@")[2] or "incident-bot.invalid"
    return f"<{incident_id}.{secrets.token_hex(8)}@{domain}>"


def _transfer_encoding(body: str) -> str:
    """7bit when the text allows it, so an abuse desk reading the raw mail sees the log lines as they
    are; quoted-printable otherwise (non-ASCII, or a line longer than SMTP allows)."""
    fits = all(len(line) <= 900 for line in body.splitlines())
    return "7bit" if body.isascii() and fits else "quoted-printable"


def build(
    draft: Draft,
    cfg: Config,
    *,
    to: Sequence[str],
    message_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The message for `draft` to the addresses `to` (Bcc-to-self is envelope-only, see `envelope`)."""
    from_addr = sender(cfg)
    msg = EmailMessage(policy=policy.SMTP)
    name = cfg.report.reporter_name
    msg["From"] = Address(display_name=name, addr_spec=from_addr) if name else from_addr
    msg["To"] = ", ".join(check_address(a, "recipient") for a in to)
    if cfg.smtp.reply_to:
        msg["Reply-To"] = check_address(cfg.smtp.reply_to, "smtp.reply_to")
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = message_id
    msg["X-Incident-ID"] = draft.incident_id
    msg.set_content(draft.body, charset="utf-8", cte=_transfer_encoding(draft.body))
    for att in draft.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=att.filename)
    return msg


def envelope(cfg: Config, to: Sequence[str]) -> tuple[str, list[str]]:
    """Envelope sender and recipients: the To addresses, plus ourselves when smtp.bcc_self is on."""
    from_addr = sender(cfg)
    rcpts = [check_address(a, "recipient") for a in to]
    if cfg.smtp.bcc_self and from_addr.lower() not in {r.lower() for r in rcpts}:
        rcpts.append(from_addr)
    return from_addr, rcpts
