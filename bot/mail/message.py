"""A draft report as an RFC 5322 message, built by the email library (never by string concatenation).

Every header value is checked before the email library writes it: addresses by ``check_address``,
the rest by ``_header``, which refuses CR/LF/NUL and RFC 2047-encodes non-ASCII. The subject has
already had control characters turned into spaces by compose, so text from a log or a registry can
never add a header.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

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


def _header(value: str) -> str | Header:
    """A header value as the email library writes it: ASCII as is (folded when long), anything else
    RFC 2047-encoded. CR, LF or NUL in a value is refused, never written: compose already turned
    them into spaces, so one reaching this point is a bug that must not become a header."""
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError(f"a header value holds a line break: {value[:60]!r}")
    return value if value.isascii() else Header(value, "utf-8")


def check_message_id(value: str) -> str:
    """One of our Message-IDs (ASCII, no white space or line break), else a ValueError."""
    if not value.isascii() or any(ch.isspace() or ch == "\x00" for ch in value):
        raise ValueError(f"not a Message-ID: {value[:60]!r}")
    return value


def _text_part(body: str) -> MIMEText:
    if _transfer_encoding(body) == "7bit":
        part = MIMEText(body, "plain", "us-ascii")
        part.set_param("charset", "utf-8")  # ASCII is UTF-8: say the charset the report is written in
        return part
    charset = Charset("utf-8")
    charset.body_encoding = QP
    return MIMEText(body, "plain", charset)  # type: ignore[arg-type]  # a Charset is accepted


def build(
    draft: Draft,
    cfg: Config,
    *,
    to: Sequence[str],
    message_id: str,
    now: datetime | None = None,
) -> bytes:
    """The message for `draft` to the addresses `to`, as the bytes handed to the SMTP server (CRLF line
    ends). Bcc-to-self is envelope-only, see `envelope`.

    Built with the email library's MIME classes (its classic API: the newer one parses every header
    it is given back again, three times the cost, and a batch builds a thousand of these); every
    header value is checked by `_header` or `check_address` first."""
    from_addr = sender(cfg)
    body = _text_part(draft.body)
    msg: Message = body
    if draft.attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        for att in draft.attachments:
            maintype, _, subtype = att.content_type.partition("/")
            part = MIMEBase(maintype or "application", subtype or "octet-stream")
            part.set_payload(att.data)
            encode_base64(part)
            _header(att.filename)
            name = att.filename if att.filename.isascii() else ("utf-8", "", att.filename)  # RFC 2231
            part.add_header("Content-Disposition", "attachment", filename=name)
            msg.attach(part)
    reporter = cfg.report.reporter_name
    if reporter:
        _header(reporter)  # the check only: formataddr quotes and encodes the display name itself
    msg["From"] = formataddr((reporter, from_addr), charset="utf-8") if reporter else from_addr
    msg["To"] = ", ".join(check_address(a, "recipient") for a in to)
    if cfg.smtp.reply_to:
        msg["Reply-To"] = check_address(cfg.smtp.reply_to, "smtp.reply_to")
    # typeshed says str; the classic API takes a Header for a non-ASCII value (that is its purpose)
    msg["Subject"] = _header(draft.subject)  # type: ignore[assignment]
    msg["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = check_message_id(message_id)
    msg["X-Incident-ID"] = check_message_id(f"<{draft.incident_id}>")[1:-1]
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(msg)
    return out.getvalue()


# How the message goes on the wire: CRLF line ends, header lines folded at 78 characters.
_WIRE = policy.compat32.clone(linesep="\r\n")
def envelope(cfg: Config, to: Sequence[str]) -> tuple[str, list[str]]:
    """Envelope sender and recipients: the To addresses, plus ourselves when smtp.bcc_self is on."""
    from_addr = sender(cfg)
    rcpts = [check_address(a, "recipient") for a in to]
    if cfg.smtp.bcc_self and from_addr.lower() not in {r.lower() for r in rcpts}:
        rcpts.append(from_addr)
    return from_addr, rcpts
