"""Compose: evidence + findings + recipients + description -> a draft report (pure, jinja2).

Templates live in bot/templates/ and can be replaced one by one by files of the same name in
``report.template_dir``. Every name is listed in ``TEMPLATES``. The environment uses StrictUndefined,
so a misspelt variable in a template is an error rather than a blank. Untrusted text (log lines,
registry names, the description) is only ever passed as template *data*; nothing from outside is
ever compiled as a template. Autoescape is off because the output is plain text, not HTML.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from bot import xarf
from bot.config import Config
from bot.errors import ConfigError
from bot.models import Attachment, Contact, Draft, Target
from bot.text import log_line, single_line, utf8_safe

# The one place template names are registered.
TEMPLATE_SUBJECT = "subject.txt.j2"
TEMPLATE_BODY = "body.txt.j2"
TEMPLATES = (TEMPLATE_SUBJECT, TEMPLATE_BODY)
WIDTH = 78                 # prose and fields are wrapped to this many characters; log lines never are

BUNDLED = Path(__file__).resolve().parent / "templates"
SUBJECT_MAX = 200
GROUPED_EXCERPT_MIN = 5
REDACTED_HOST = "[own-host]"
REDACTED_ADDRESS = "[own-address]"

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d])")
_IPV6 = re.compile(
    r"(?<![0-9A-Fa-f:])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?)"
)


def environment(template_dir: str = "") -> jinja2.Environment:
    """The jinja2 environment: the configured folder first, then the bundled templates."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        folder = Path(template_dir).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"report.template_dir: {template_dir} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(BUNDLED)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text mail; data is never template source
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


# --- redaction -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)  # one per configuration: a batch composes a thousand reports with it
def redactor(own_hostnames: tuple[str, ...], own_networks: tuple[str, ...]) -> Any:
    """A function masking own host names (and names under them) and addresses in own networks."""
    names = sorted({h.strip(".").lower() for h in own_hostnames if h.strip(".")}, key=len, reverse=True)
    host_re = (
        re.compile(r"(?<![\w.-])(?:[\w-]+\.)*(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])\.?",
                   re.IGNORECASE)
        if names else None
    )
    nets = [ipaddress.ip_network(n, strict=False) for n in own_networks]

    @functools.lru_cache(maxsize=4096)  # a log names the same few addresses on every line
    def own(text: str) -> bool:
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(addr.version == n.version and addr in n for n in nets)

    def mask_address(match: re.Match[str]) -> str:
        text = match.group(1)
        return match.group(0).replace(text, REDACTED_ADDRESS) if own(text) else match.group(0)

    def redact(line: str) -> str:
        if host_re is not None:
            line = host_re.sub(REDACTED_HOST, line)
        if nets:
            line = _IPV4.sub(mask_address, line)
            line = _IPV6.sub(mask_address, line)
        return line

    return redact


# --- wrapping (the template filters) ----------------------------------------------------------


# Where a wrapped line's continuation starts: after a bullet, a list number or a field's label.
_HANG = re.compile(r"[ \t]*(?:[-*\u2022][ \t]+|\d{1,3}[.)][ \t]+|[A-Za-z][\w /()-]{0,28}:[ \t]+)?")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def _fill(text: str, first: str, rest: str, width: int) -> str:
    # Words are never cut (an address, a host name or a URL stays whole, even past the width).
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def reflow(text: str, width: int = WIDTH) -> str:
    """Prose: each paragraph (lines between blank lines) refilled to ``width``, its indent kept."""
    body = text.strip("\n")
    if not body.strip():
        return text
    lead, tail = text[:len(text) - len(text.lstrip("\n"))], text[len(text.rstrip("\n")):]
    paragraphs = []
    for para in _PARAGRAPH.split(body):
        indent = para[:len(para) - len(para.lstrip(" "))]
        paragraphs.append(_fill(" ".join(para.split()), indent, indent, width))
    return lead + "\n\n".join(paragraphs) + tail


def wrap_lines(text: str, width: int = WIDTH) -> str:
    """Every line kept; a line longer than ``width`` is wrapped, continued under its text (after
    its indent, bullet or ``Label:``). For fields and a person's own text, whose breaks are theirs."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        hang = _HANG.match(line)
        cut = hang.end() if hang else 0
        if cut > width // 2:
            cut = len(line) - len(line.lstrip(" "))
        out.append(_fill(line[cut:], line[:cut], " " * cut, width))
    return "\n".join(out)


# The one place template filters are registered (a custom template may use them too).
FILTERS = {"reflow": reflow, "wrap_lines": wrap_lines}


# --- helpers ---------------------------------------------------------------------------------


def header_line(text: str) -> str:
    """Untrusted text fit for a header value or a one-line field of the report."""
    return single_line(text, SUBJECT_MAX)


def person_text(text: str) -> str:
    """A description a person wrote (``-d``, an edit, a chat field): their line and paragraph breaks
    kept, each line cleaned by the log-line rule (no control or bidi characters), at most one blank
    line in a row, no blank lines around it."""
    lines = [log_line(line) for line in utf8_safe(text).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _when(value: datetime | None) -> str:
    if value is None:
        return "unknown"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _attacker(target: Target, kind: xarf.Classification, excerpt_max: int, redact: Any) -> dict[str, Any]:
    cand, found = target.candidate, target.findings
    net = found.network
    written = [log_line(line) for line in cand.evidence.lines[:excerpt_max]]
    shown = [redact(line) for line in written]
    total = max(cand.evidence.total_lines, cand.count, len(shown))
    return {
        "ip": cand.ip,
        "activity": kind.label,
        "rdns": header_line(found.rdns or ""),
        "rdns_verified": found.rdns_verified,
        # registry text is attacker-influenced: one line each, so it cannot fake lines of the report
        "network": header_line(net.name) if net else "",
        "network_handle": header_line(net.handle) if net else "",
        "cidrs": [header_line(c) for c in net.cidrs] if net else [],
        "range": header_line(f"{net.start} - {net.end}") if net and net.start else "",
        "registry": header_line(net.registry.upper()) if net else "",
        "org": header_line(net.org) if net else "",
        "asn": f"AS{net.asn}" if net and net.asn else "",
        "as_name": header_line(net.as_name) if net else "",
        "country": header_line(net.country) if net else "",
        "first_seen": _when(cand.evidence.first_seen),
        "last_seen": _when(cand.evidence.last_seen),
        "count": cand.count,
        "excerpt": shown,
        "omitted": total - len(shown),
        "masked": shown != written,
        # filled by compose: the attachment's file name and XARF type, or why there is none
        "xarf": {"file": "", "type": "", "missing": ""},
    }


def _reporter(cfg: Config) -> dict[str, str]:
    rep = cfg.report
    email = single_line(rep.reporter_email or cfg.smtp.from_address)
    return {
        "name": single_line(rep.reporter_name),
        "email": email,
        "organisation": single_line(rep.organisation),
        "domain": email.rpartition("@")[2] if "@" in email else "",
    }


def _xarf_reporter(reporter: dict[str, str]) -> dict[str, str]:
    """XARF's contact_info: all three fields are required (org at most 200 characters)."""
    return {
        "org": (reporter["organisation"] or reporter["name"] or reporter["domain"] or "unknown")[:200],
        "contact": reporter["email"] or "unknown@invalid",
        "domain": reporter["domain"] or "invalid",
    }


# --- compose ---------------------------------------------------------------------------------


def compose(
    incident_id: str,
    targets: Sequence[Target],
    recipients: Sequence[Contact],
    cfg: Config,
    *,
    description: str = "",
    now: datetime,
    env: jinja2.Environment | None = None,
) -> Draft:
    """Render the report for one or more attackers (several when grouped by contact).

    The same inputs give the same draft: re-rendering a stored draft with merged evidence is a call
    with the new targets and the same id, description and ``now``.
    """
    if not targets:
        raise ValueError("compose needs at least one target")
    env = env or environment(cfg.report.template_dir)
    description = person_text(description)
    redact = (redactor(cfg.scan.own_hostnames, cfg.scan.own_networks) if cfg.report.redact
              else (lambda line: line))
    excerpt_max = max(cfg.report.excerpt_lines, 0)
    if len(targets) > 1:  # a grouped report shares the excerpt budget, at least a few lines each
        excerpt_max = min(excerpt_max, max(GROUPED_EXCERPT_MIN, excerpt_max // len(targets)))
    kinds = [xarf.classify(t.candidate.evidence.lines) for t in targets]
    attackers = [_attacker(t, k, excerpt_max, redact) for t, k in zip(targets, kinds, strict=True)]
    kind = kinds[0] if all(k is kinds[0] for k in kinds) else xarf.MIXED
    reporter = _reporter(cfg)
    attachments: list[Attachment] = []
    if cfg.report.xarf:
        for target, data, own_kind in zip(targets, attackers, kinds, strict=True):
            built = xarf.build_xarf(
                incident_id, target.candidate, data["excerpt"], classification=own_kind,
                description=description, reporter=_xarf_reporter(reporter), now=now,
            )
            if built.data is None:
                data["xarf"] = {"file": "", "type": "", "missing": built.reason}
                continue
            name = "xarf-" + re.sub(r"[^0-9A-Za-z.]+", "_", target.candidate.ip) + ".json"
            attachments.append(Attachment(name, "application/json", built.data))
            data["xarf"] = {"file": name, "type": f"connection/{built.type}", "missing": ""}
    context: dict[str, Any] = {
        "incident_id": incident_id,
        "classification": {"type": kind.type, "label": kind.label, "text": kind.text},
        "mixed": kind is xarf.MIXED,
        "description": description,
        "attackers": attackers,
        "reporter": reporter,
        "generated": _when(now),
        "xarf": cfg.report.xarf,
        "xarf_attached": len(attachments),
        "masked": any(a["masked"] for a in attackers),
        "log_timezone": cfg.scan.timezone,
    }
    try:
        subject = header_line(env.get_template(TEMPLATE_SUBJECT).render(context))
        body = utf8_safe(env.get_template(TEMPLATE_BODY).render(context))
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(f"report template missing: {exc.name}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"report template {exc.name or '?'} line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"report template uses an unknown variable: {exc.message}") from exc
    if f"[{incident_id}]" not in subject:
        # The token is what matches replies to the incident: never let a template drop it.
        subject = header_line(f"[{incident_id}] {subject}")
    return Draft(
        incident_id=incident_id,
        subject=subject,
        body=body,
        recipients=tuple(recipients),
        attachments=tuple(attachments),
    )


def with_body(draft: Draft, body: str) -> Draft:
    """The same draft with a body a person edited."""
    return Draft(draft.incident_id, draft.subject, body, draft.recipients, draft.attachments)
