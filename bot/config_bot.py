"""The configuration sections of the long-running bot: [mailbox], [slack] and [serve].

Part of the one configuration schema (bot/config.py builds and checks them with the rest); kept apart
because they are many and concern `incident serve` only. Secrets (the IMAP password, Slack's tokens)
are named here by an environment variable or a file, never written in the TOML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import ConfigError
from bot.secret import read_secret

_ATOM = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


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
        return read_secret("mailbox.password", self.password_env, self.password_file)

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
        if self.address and not EMAIL.match(self.address):
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
        return read_secret("slack.bot_token", self.bot_token_env, self.bot_token_file)

    def app_token(self) -> str:
        return read_secret("slack.app_token", self.app_token_env, self.app_token_file)

    def signing_secret(self) -> str:
        return read_secret("slack.signing_secret", self.signing_secret_env, self.signing_secret_file)

    def check(self) -> None:
        """Values that would fail later, named now (called by the config's checks)."""
        if self.mode not in ("socket", "http"):
            raise ConfigError('slack.mode: expected "socket" or "http"')
        if self.enabled and not re.fullmatch(r"[CDG][A-Z0-9]{2,30}", self.channel):
            raise ConfigError("slack.channel: the id of the channel drafts are posted in (C...) is needed")
        for i, ch in enumerate(self.listen_channels):
            if not re.fullmatch(r"[CDG][A-Z0-9]{2,30}", ch):
                raise ConfigError(f"slack.listen_channels[{i}]: {ch!r} is not a channel id (C...)")
        for i, user in enumerate(self.senders):
            if not re.fullmatch(r"[UW][A-Z0-9]{2,30}", user):
                raise ConfigError(f"slack.senders[{i}]: {user!r} is not a user id (U...)")
        if self.sender_group and not re.fullmatch(r"S[A-Z0-9]{2,30}", self.sender_group):
            raise ConfigError(f"slack.sender_group: {self.sender_group!r} is not a user group id (S...)")
        if not 0 <= self.http_port < 65536:
            raise ConfigError(f"slack.http_port: {self.http_port} is not a TCP port")
        if not self.http_path.startswith("/"):
            raise ConfigError("slack.http_path: must start with /")
        for name, value in (("slack.workers", self.workers), ("slack.queue", self.queue),
                            ("slack.socket_check_seconds", self.socket_check_seconds),
                            ("slack.socket_quiet_seconds", self.socket_quiet_seconds)):
            if value <= 0:
                raise ConfigError(f"{name}: must be greater than zero")
        if self.group_cache_seconds < 0 or self.progress_seconds < 0:
            raise ConfigError("slack.group_cache_seconds and slack.progress_seconds: must not be negative")
        if self.api_url and not re.match(r"https?://", self.api_url):
            raise ConfigError("slack.api_url: expected an http(s) URL")


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
            if not EMAIL.match(addr) or ".." in addr:
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
