"""Configuration: one TOML file -> frozen dataclasses, validated at start.

Every key has a default here, and config.example.toml documents each of them. Unknown keys and
values of the wrong type are errors that name the key (``gather.timeout: expected a number``).
Secrets never live in the TOML: a key such as ``smtp.password_env`` names an environment
variable, ``smtp.password_file`` a file to read it from.

Lookup order for the file: ``--config PATH``, ``./incident.toml``, then the user's config dir
(``$XDG_CONFIG_HOME/incident-bot/config.toml``, default ``~/.config/...``). No file at all is
fine: the defaults apply.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import ConfigError
from bot.registries import REGISTRIES

# --- sections --------------------------------------------------------------------------------

_ATOM = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ScanConfig:
    own_networks: tuple[str, ...] = ()     # CIDRs: never attacker candidates
    own_hostnames: tuple[str, ...] = ()    # names (and their addresses if written in logs) of ours
    timezone: str = "UTC"                  # zone of syslog timestamps that carry none
    keep_received: bool = False            # consider lines holding "Received:" (the old -r)
    allow_non_global: bool = False         # rank private/loopback/documentation addresses normally
    excerpt_lines: int = 50                # lines kept per candidate as evidence


@dataclass(frozen=True)
class RegistryLimit:
    concurrency: int = 4                   # requests in flight at once to this registry
    per_minute: int = 60                   # requests started per minute


def default_limits() -> dict[str, RegistryLimit]:
    """Each RIR's politeness as bot/registries.py gives it."""
    return {r.key: RegistryLimit(r.concurrency, r.per_minute) for r in REGISTRIES if not r.national}


@dataclass(frozen=True)
class GatherConfig:
    timeout: float = 5.0                   # seconds: the longest single wait (connect, a read, a DNS answer)
    deadline: float = 20.0                 # seconds one HTTP or whois request may take in all
    workers: int = 16                      # concurrent lookups of different IPs
    nameservers: tuple[str, ...] = ()      # empty: the system's resolv.conf
    dns_port: int = 53
    abusix: bool = True                    # ask Abusix' abuse contact DNS zone
    abusix_zone: str = "abuse-contacts.abusix.zone"
    whois_fallback: bool = True            # port-43 whois when RDAP fails
    rdap_url_override: str = ""            # send every RDAP request to this base URL (a mirror/sandbox)
    whois_server_override: str = ""        # host:port answering every port-43 query
    cache_path: str = ""                   # sqlite file; empty: the user's cache dir
    cache_ttl_hours: float = 24.0
    bootstrap_max_age_hours: float = 24.0  # IANA's bootstrap files are fetched again when older than this
    registries: dict[str, RegistryLimit] = field(default_factory=default_limits)
    retries: int = 2                       # more attempts after a 429/5xx/timeout from a registry
    backoff: float = 2.0                   # seconds before the first retry (doubling; Retry-After wins)
    domain_rdap: bool = True               # look up the domain's registration (registrar abuse contact)


@dataclass(frozen=True)
class ProbeConfig:
    enabled: bool = False                  # off: probing can be seen as retaliation
    ports: tuple[int, ...] = (21, 22, 23, 25, 79, 80, 139, 6000, 6001)
    timeout: float = 2.0
    allow_non_global: bool = False         # only for tests against 127.0.0.1


@dataclass(frozen=True)
class ContactOverride:
    emails: tuple[str, ...] = ()
    cidr: str = ""
    asn: int = 0
    domain: str = ""


@dataclass(frozen=True)
class ContactsConfig:
    role_mailboxes: tuple[str, ...] = (
        "abuse", "security", "noc", "postmaster", "webmaster", "root", "hostmaster",
    )
    exclude: tuple[str, ...] = ()          # addresses or domains never to write to
    override: tuple[ContactOverride, ...] = ()


@dataclass(frozen=True)
class ReportConfig:
    incident_dir: str = "incident"
    template_dir: str = ""                 # a folder whose templates replace the bundled ones
    reporter_name: str = ""
    reporter_email: str = ""
    organisation: str = ""
    excerpt_lines: int = 50                # lines of log in the mail
    redact: bool = True                    # mask own hostnames/networks in the excerpt
    xarf: bool = True                      # attach a XARF v4 JSON report
    suppress_days: int = 7                 # do not report the same target again within N days
    suppress_by: str = "ip"                # "ip" or "contact"
    group_by_contact: bool = True          # with -A/-b: one report per contact, not one per IP
    merge_window_hours: float = 24.0       # the same attacker again while its draft is open: add to it


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""                         # empty: reports are written, not sent
    port: int = 587
    security: str = "starttls"             # "starttls", "tls" (implicit) or "none"
    username: str = ""
    password_env: str = "INCIDENT_SMTP_PASSWORD"
    password_file: str = ""
    from_address: str = ""
    reply_to: str = ""
    bcc_self: bool = False
    timeout: float = 30.0
    retries: int = 3
    retry_delay: float = 2.0               # seconds before the first retry; doubled each time
    connections: int = 4                   # SMTP connections kept open at most (a batch sends in parallel)
    cafile: str = ""                       # extra CA bundle (a local or private relay)

    def password(self) -> str:
        """The SMTP password from the file or environment variable named in the config."""
        if self.password_file:
            try:
                return Path(self.password_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                msg = f"smtp.password_file: cannot read {self.password_file}: {exc.strerror}"
                raise ConfigError(msg) from exc
        return os.environ.get(self.password_env, "") if self.password_env else ""


@dataclass(frozen=True)
class MailboxConfig:
    """[mailbox]: the alert and reply mailboxes `incident serve` reads over IMAP (handlers/mailbox)."""

    host: str = ""                         # empty: no mailbox is read
    port: int = 993
    security: str = "tls"                  # "tls" (implicit), "starttls", or "none" (loopback hosts only)
    username: str = ""
    password_env: str = "INCIDENT_IMAP_PASSWORD"
    password_file: str = ""
    cafile: str = ""                       # extra CA bundle (a private IMAP server)
    folders: tuple[str, ...] = ("INBOX",)  # alerts, and replies when Reply-To points here
    reply_folders: tuple[str, ...] = ()    # replies only: never read as alerts
    address: str = ""                      # the mailbox's own address (Reply-To of the operator notices)
    folder_prefix: str = "incident-bot"    # processed mail goes to <prefix>/done, no-report, unmatched...
    flag: str = "$IncidentBot"             # IMAP keyword set on every processed message
    every_address: bool = True             # a draft for each reportable address, not only the top one
    idle: bool = True                      # IMAP IDLE where the server offers it
    idle_renew_seconds: float = 540.0      # IDLE is re-issued this often (at most 600)
    poll_seconds: float = 60.0             # without IDLE: look for new mail this often
    timeout: float = 30.0                  # seconds for each IMAP command
    fetch_deadline: float = 120.0          # seconds for fetching one message whole
    max_message_mb: float = 25.0           # larger messages are not fetched: quarantined
    max_tries: int = 3                     # a message failing this many times is quarantined
    backoff: float = 2.0                   # seconds before reconnecting after a dropped connection (doubling)
    backoff_max: float = 300.0

    def password(self) -> str:
        """The IMAP password from the file or environment variable named in the config."""
        return _secret("mailbox.password", self.password_env, self.password_file)

    def check(self) -> None:
        """Values that would fail later, named now (called by ``_check``)."""
        if self.security not in ("tls", "starttls", "none"):
            raise ConfigError('mailbox.security: expected "tls", "starttls" or "none"')
        if self.host and self.security == "none" and self.host.lower() not in _LOOPBACK:
            raise ConfigError('mailbox.security: "none" sends the password in clear; only for a server on '
                              "this machine (127.0.0.1)")
        if not 0 < self.port < 65536:
            raise ConfigError(f"mailbox.port: {self.port} is not a TCP port")
        if self.host and not self.username:
            raise ConfigError("mailbox.username: needed with mailbox.host")
        if self.host and not (self.folders or self.reply_folders):
            raise ConfigError("mailbox.folders: at least one folder to read")
        names = [("folder_prefix", self.folder_prefix),
                 *((f"folders[{i}]", n) for i, n in enumerate(self.folders)),
                 *((f"reply_folders[{i}]", n) for i, n in enumerate(self.reply_folders))]
        for key, name in names:
            if not name.strip() or not name.isprintable():
                raise ConfigError(f"mailbox.{key}: not a usable folder name")
        if len({*self.folders, *self.reply_folders}) != len(self.folders) + len(self.reply_folders):
            raise ConfigError("mailbox.reply_folders: a folder is listed twice")
        if not _ATOM.match(self.flag):
            raise ConfigError("mailbox.flag: an IMAP keyword (letters, digits, _ . -, may start with $)")
        if self.address and not _EMAIL.match(self.address):
            raise ConfigError(f"mailbox.address: {self.address!r} is not an e-mail address")
        if not 0 < self.idle_renew_seconds <= 600:
            raise ConfigError("mailbox.idle_renew_seconds: more than 0, at most 600 (IDLE is re-issued at "
                              "least every 10 minutes)")
        for name in ("poll_seconds", "timeout", "fetch_deadline", "max_message_mb", "max_tries",
                     "backoff_max"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"mailbox.{name}: must be greater than zero")
        if self.backoff < 0:
            raise ConfigError("mailbox.backoff: must not be negative")


def _secret(key: str, env: str, path: str) -> str:
    """A secret from the file named in the config (first line) or else the environment variable."""
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}_file: cannot read {path}: {exc.strerror}") from exc
    return os.environ.get(env, "") if env else ""


@dataclass(frozen=True)
class SlackConfig:
    """[slack]: the Slack app (handlers/slack). Tokens come from the environment or files, never here."""

    enabled: bool = False                  # `incident serve` runs the Slack app
    mode: str = "socket"                   # "socket" (outbound only) or "http" (Slack calls us)
    channel: str = ""                      # channel id (C...) where drafts are posted
    listen_channels: tuple[str, ...] = ()  # more channel ids where pasted logs start a draft
    senders: tuple[str, ...] = ()          # user ids (U...) who may send, edit and skip
    sender_group: str = ""                 # a user group id (S...) whose members may too
    group_cache_seconds: float = 60.0      # how long the group's member list is trusted
    every_attacker: bool = False           # a paste with several attackers: one draft each (else the top one)
    workers: int = 4                       # drafts gathered at once
    queue: int = 100                       # drafts waiting for a worker before "busy" is answered
    progress_seconds: float = 2.0          # at most one progress update of a message this often
    bot_token_env: str = "SLACK_BOT_TOKEN"
    bot_token_file: str = ""
    app_token_env: str = "SLACK_APP_TOKEN"          # Socket Mode
    app_token_file: str = ""
    signing_secret_env: str = "SLACK_SIGNING_SECRET"  # HTTP mode
    signing_secret_file: str = ""
    http_host: str = "127.0.0.1"           # HTTP mode: where to listen (behind a TLS proxy)
    http_port: int = 3000                  # 0: any free port (tests)
    http_path: str = "/slack/events"
    socket_check_seconds: float = 30.0     # Socket Mode: how often the connection is checked
    socket_quiet_seconds: float = 120.0    # ... and re-made when nothing came back for this long
    api_url: str = ""                      # Slack's Web API base URL; empty: Slack's own (tests: local)

    def bot_token(self) -> str:
        return _secret("slack.bot_token", self.bot_token_env, self.bot_token_file)

    def app_token(self) -> str:
        return _secret("slack.app_token", self.app_token_env, self.app_token_file)

    def signing_secret(self) -> str:
        return _secret("slack.signing_secret", self.signing_secret_env, self.signing_secret_file)


@dataclass(frozen=True)
class ServeConfig:
    """[serve]: the long-running process: scheduled jobs, reminders, operator notices (handlers/serve)."""

    operators: tuple[str, ...] = ()        # told of drafts, replies and reminders by mail (without Slack)
    mail_approval: bool = False            # operators may answer a notice "send" or "skip"
    reminder_days: float = 14.0            # sent, no human answer after this many days: listed; 0: off
    reminder_every_hours: float = 24.0
    reminder_next_contact: bool = False    # also draft the report to the next contact (never sent by itself)
    retry_failed_minutes: float = 30.0     # failed sends (temporary failures) retried this often; 0: off
    retry_failed_max: int = 3              # ... at most this many times each
    cache_upkeep_hours: float = 6.0        # expired lookup-cache entries and stale spool files removed
    shutdown_seconds: float = 5.0          # on SIGTERM/SIGINT, wait this long for work in hand

    def check(self, mailbox: MailboxConfig) -> None:
        """Values that would fail later, named now (called by ``_check``)."""
        for i, addr in enumerate(self.operators):
            if not _EMAIL.match(addr) or ".." in addr:
                raise ConfigError(f"serve.operators[{i}]: {addr!r} is not an e-mail address")
        if self.mail_approval and not (self.operators and mailbox.host):
            raise ConfigError("serve.mail_approval: needs serve.operators, and mailbox.host to read "
                              "their answers")
        for name in ("reminder_days", "retry_failed_minutes", "retry_failed_max"):
            if getattr(self, name) < 0:
                raise ConfigError(f"serve.{name}: must not be negative")
        for name in ("reminder_every_hours", "cache_upkeep_hours", "shutdown_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"serve.{name}: must be greater than zero")


@dataclass(frozen=True)
class Config:
    scan: ScanConfig = field(default_factory=ScanConfig)
    gather: GatherConfig = field(default_factory=GatherConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    contacts: ContactsConfig = field(default_factory=ContactsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    path: str = ""                         # the file it was read from ("" = defaults)


# --- loading ---------------------------------------------------------------------------------

T = TypeVar("T")


def default_paths() -> list[Path]:
    """Where a config is looked for when no --config is given, in order."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path("incident.toml"), Path(base) / "incident-bot" / "config.toml"]


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration. An explicit path must exist."""
    if path is not None:
        return _load_file(Path(path))
    for candidate in default_paths():
        if candidate.is_file():
            return _load_file(candidate)
    return Config()


def from_dict(data: dict[str, Any], path: str = "") -> Config:
    """Build a Config from parsed TOML (used by load and by tests)."""
    data = {k: v for k, v in data.items()}
    cfg = _build(Config, data, "", skip={"path"})
    # A [gather.registries.X] table changes that registry only; the others keep their defaults.
    limits = {**default_limits(), **cfg.gather.registries}
    cfg = replace(cfg, path=path, gather=replace(cfg.gather, registries=limits))
    _check(cfg)
    return cfg


def _load_file(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return from_dict(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _build(cls: type[T], data: Any, prefix: str, skip: set[str] | None = None) -> T:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)} - (skip or set())  # type: ignore[arg-type]
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key")
    kwargs = {name: _convert(hints[name], data[name], f"{prefix}{name}") for name in known if name in data}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if is_dataclass(tp):
        return _build(tp, value, key + ".")  # type: ignore[arg-type]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        return tuple(_convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table")
        return {str(k): _convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: unsupported option type")  # pragma: no cover - schema bug
    raise ConfigError(f"{key}: unsupported option type {tp!r}")  # pragma: no cover - schema bug


def _check(cfg: Config) -> None:
    """Checks that need more than a type: values that would fail later, named now."""
    for i, cidr in enumerate(cfg.scan.own_networks):
        _network(cidr, f"scan.own_networks[{i}]")
    for i, ov in enumerate(cfg.contacts.override):
        key = f"contacts.override[{i}]"
        if not ov.emails:
            raise ConfigError(f"{key}.emails: at least one address is needed")
        if not (ov.cidr or ov.asn or ov.domain):
            raise ConfigError(f"{key}: give one of cidr, asn or domain")
        if ov.cidr:
            _network(ov.cidr, f"{key}.cidr")
    if cfg.report.suppress_by not in ("ip", "contact"):
        raise ConfigError('report.suppress_by: expected "ip" or "contact"')
    if cfg.smtp.security not in ("starttls", "tls", "none"):
        raise ConfigError('smtp.security: expected "starttls", "tls" or "none"')
    if not 0 < cfg.smtp.port < 65536:
        raise ConfigError(f"smtp.port: {cfg.smtp.port} is not a TCP port")
    for name, number in (("smtp.retries", cfg.smtp.retries), ("smtp.retry_delay", cfg.smtp.retry_delay),
                         ("report.excerpt_lines", cfg.report.excerpt_lines),
                         ("report.suppress_days", cfg.report.suppress_days),
                         ("report.merge_window_hours", cfg.report.merge_window_hours)):
        if number < 0:
            raise ConfigError(f"{name}: must not be negative")
    if cfg.smtp.timeout <= 0:
        raise ConfigError("smtp.timeout: must be greater than zero")
    if not 1 <= cfg.smtp.connections <= 50:
        raise ConfigError("smtp.connections: expected 1 to 50")
    for name, value in (
        ("gather.timeout", cfg.gather.timeout),
        ("gather.deadline", cfg.gather.deadline),
        ("gather.bootstrap_max_age_hours", cfg.gather.bootstrap_max_age_hours),
        ("gather.workers", cfg.gather.workers),
        ("probe.timeout", cfg.probe.timeout),
        ("scan.excerpt_lines", cfg.scan.excerpt_lines),
    ):
        if value <= 0:
            raise ConfigError(f"{name}: must be greater than zero")
    if cfg.gather.retries < 0 or cfg.gather.backoff < 0:
        raise ConfigError("gather.retries and gather.backoff: must not be negative")
    for i, port in enumerate(cfg.probe.ports):
        if not 0 < port < 65536:
            raise ConfigError(f"probe.ports[{i}]: {port} is not a TCP port")
    for reg, lim in cfg.gather.registries.items():
        if lim.concurrency < 1 or lim.per_minute < 1:
            raise ConfigError(f"gather.registries.{reg}: concurrency and per_minute must be at least 1")
    _check_slack(cfg.slack)
    cfg.mailbox.check()
    cfg.serve.check(cfg.mailbox)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(cfg.scan.timezone)
    except Exception:
        raise ConfigError(f"scan.timezone: unknown time zone {cfg.scan.timezone!r}") from None


def _check_slack(sc: SlackConfig) -> None:
    if sc.mode not in ("socket", "http"):
        raise ConfigError('slack.mode: expected "socket" or "http"')
    if sc.enabled and not re.fullmatch(r"[CDG][A-Z0-9]{2,30}", sc.channel):
        raise ConfigError("slack.channel: the id of the channel drafts are posted in (C...) is needed")
    for i, ch in enumerate(sc.listen_channels):
        if not re.fullmatch(r"[CDG][A-Z0-9]{2,30}", ch):
            raise ConfigError(f"slack.listen_channels[{i}]: {ch!r} is not a channel id (C...)")
    for i, user in enumerate(sc.senders):
        if not re.fullmatch(r"[UW][A-Z0-9]{2,30}", user):
            raise ConfigError(f"slack.senders[{i}]: {user!r} is not a user id (U...)")
    if sc.sender_group and not re.fullmatch(r"S[A-Z0-9]{2,30}", sc.sender_group):
        raise ConfigError(f"slack.sender_group: {sc.sender_group!r} is not a user group id (S...)")
    if not 0 <= sc.http_port < 65536:
        raise ConfigError(f"slack.http_port: {sc.http_port} is not a TCP port")
    if not sc.http_path.startswith("/"):
        raise ConfigError("slack.http_path: must start with /")
    for name, value in (("slack.workers", sc.workers), ("slack.queue", sc.queue),
                        ("slack.socket_check_seconds", sc.socket_check_seconds),
                        ("slack.socket_quiet_seconds", sc.socket_quiet_seconds)):
        if value <= 0:
            raise ConfigError(f"{name}: must be greater than zero")
    if sc.group_cache_seconds < 0 or sc.progress_seconds < 0:
        raise ConfigError("slack.group_cache_seconds and slack.progress_seconds: must not be negative")
    if sc.api_url and not re.match(r"https?://", sc.api_url):
        raise ConfigError("slack.api_url: expected an http(s) URL")


def _network(text: str, key: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not an IP network (CIDR)") from None
