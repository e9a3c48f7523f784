"""The Slack front end, composed: ``SlackFrontEnd(cfg, app)``, then ``start()`` / ``stop()``.

    front = SlackFrontEnd(cfg, app)          # tokens from the environment or the files in [slack]
    front.start()                            # Socket Mode connected, or the HTTP server listening
    watcher = Mailbox(..., notifier=front.notifier)
    ...
    front.stop()                             # within a few seconds

The Slack WebClient is built here and only here (``build_client``); tests pass their own ``client``
pointed at a local stand-in for Slack's Web API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App as BoltApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import App
from bot.config import Config, SlackConfig
from bot.errors import ConfigError, UserError
from handlers.slack import listeners
from handlers.slack.access import Senders
from handlers.slack.errors import ErrorReporter
from handlers.slack.intake import DraftRunner
from handlers.slack.jobs import Jobs
from handlers.slack.messages import Messages
from handlers.slack.notifier import SlackNotifier
from handlers.slack.transport import HttpServer, SocketRunner

log = logging.getLogger(__name__)


def build_client(sc: SlackConfig, token: str) -> WebClient:
    """The one Slack Web API client of the process (timeouts bounded; base URL from slack.api_url)."""
    if sc.api_url:
        return WebClient(token=token, timeout=15, base_url=sc.api_url.rstrip("/") + "/")
    return WebClient(token=token, timeout=15)


class _Listeners(ThreadPoolExecutor):
    """Bolt's listener threads, counted: ``idle`` says when every listener has returned."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers, thread_name_prefix="slack-bolt")
        self._running = 0
        self._cond = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._cond:
            self._running += 1

        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

        return super().submit(counted)

    def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


def _need(value: str, what: str, env: str, key: str) -> str:
    if not value:
        raise ConfigError(f"slack: no {what}: set {env} or slack.{key}_file")
    return value


class SlackFrontEnd:
    """The Slack app: listeners on a Bolt app, a transport (Socket Mode or HTTP), and ``notifier``.

    ``client``: a WebClient to use instead of building one (tests). ``bot_token``, ``app_token`` and
    ``signing_secret`` default to what [slack] names (environment variable or file)."""

    def __init__(self, cfg: Config, app: App, *, client: WebClient | None = None,
                 bot_token: str | None = None, app_token: str | None = None,
                 signing_secret: str | None = None) -> None:
        sc = cfg.slack
        if not sc.channel:
            raise ConfigError("slack.channel: the id of the channel drafts are posted in (C...) is needed")
        self.cfg = sc
        self.app = app
        if client is None:
            token = _need(bot_token or sc.bot_token(), "bot token", sc.bot_token_env, "bot_token")
            client = build_client(sc, token)
        self.client = client
        if sc.mode == "http":
            self._secret = _need(signing_secret or sc.signing_secret(), "signing secret",
                                 sc.signing_secret_env, "signing_secret")
            self._app_token = ""
        else:
            self._secret = signing_secret or ""
            self._app_token = _need(app_token or sc.app_token(), "app-level token", sc.app_token_env,
                                    "app_token")
        self.errors = ErrorReporter(client)
        self.messages = Messages(app, client, sc.channel)
        self.jobs = Jobs(sc.workers, sc.queue, self.errors)
        self.notifier = SlackNotifier(app, self.messages)
        self._listeners = _Listeners(16)
        self.bolt = BoltApp(client=client, signing_secret=self._secret or None,
                            request_verification_enabled=sc.mode == "http", token_verification_enabled=False,
                            listener_executor=self._listeners,
                            logger=logging.getLogger("handlers.slack.bolt"))
        parts = listeners.Parts(app=app, cfg=sc, client=client, messages=self.messages,
                                runner=DraftRunner(app, sc, self.messages, self.errors), jobs=self.jobs,
                                errors=self.errors, senders=Senders(sc, client), seen=listeners.Seen())
        listeners.register(self.bolt, parts)
        self.http: HttpServer | None = None
        self.socket: SocketRunner | None = None

    def start(self) -> None:
        """Check the bot token, then connect (Socket Mode) or listen (HTTP mode); returns at once."""
        try:
            who = self.client.auth_test()
        except SlackApiError as exc:
            why = exc.response.get("error", "unknown error")
            raise UserError(f"Slack refused the bot token: {why}") from exc
        except (SlackClientError, OSError) as exc:
            raise UserError(f"cannot reach Slack's Web API: {exc}") from exc
        log.info("Slack: signed in as %s in %s", who.get("user_id"), who.get("team"))
        if self.cfg.mode == "http":
            self.http = HttpServer(self.bolt, self.cfg.http_host, self.cfg.http_port, self.cfg.http_path)
            self.http.start()
        else:
            self.socket = SocketRunner(self.bolt, self._app_token,
                                       check_seconds=self.cfg.socket_check_seconds,
                                       quiet_seconds=self.cfg.socket_quiet_seconds)
            self.socket.start()

    def wait_idle(self, timeout: float = 15.0) -> bool:
        """Wait until every listener returned and every job finished (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._listeners.idle(max(0.0, deadline - time.monotonic())):
                return False
            if not self.jobs.wait_idle(max(0.0, deadline - time.monotonic())):
                return False
            if self._listeners.idle(0) and self.jobs.pending == 0:
                return True

    def stop(self) -> None:
        """Stop taking requests, give running jobs a few seconds, close the connection."""
        if self.http is not None:
            self.http.stop()
        if self.socket is not None:
            self.socket.stop()
        self.jobs.close(timeout=3.0)
        self._listeners.shutdown(wait=False, cancel_futures=True)
