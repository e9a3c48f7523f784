"""Configuration: one TOML file -> frozen dataclasses, validated at start.

Every key has a default here (the bot's own sections, [mailbox], [slack], [serve], in
bot/config_bot.py), and config.example.toml documents each of them. Unknown keys and
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
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.config_bot import MailboxConfig, ServeConfig, SlackConfig
from bot.errors import ConfigError
from bot.registries import REGISTRIES
from bot.secret import read_secret

# --- sections --------------------------------------------------------------------------------



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
        return read_secret("smtp.password", self.password_env, self.password_file)


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
    cfg.slack.check()
    cfg.mailbox.check()
    cfg.serve.check(cfg.mailbox)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(cfg.scan.timezone)
    except Exception:
        raise ConfigError(f"scan.timezone: unknown time zone {cfg.scan.timezone!r}") from None


def _network(text: str, key: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not an IP network (CIDR)") from None
