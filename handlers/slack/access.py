"""Who may act on a draft (send, edit, skip, tick recipients): the user ids in ``slack.senders`` and
the members of the user group ``slack.sender_group``.

The group's members come from ``usergroups.users.list`` and are trusted for
``slack.group_cache_seconds``; when Slack cannot be asked, a member list not older than ten times that
is used, and otherwise nobody is let in through the group (the user ids still work).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import SlackConfig

log = logging.getLogger(__name__)


class Senders:
    def __init__(self, cfg: SlackConfig, client: WebClient, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = frozenset(cfg.senders)
        self.group = cfg.sender_group
        self.ttl = cfg.group_cache_seconds
        self.client = client
        self.clock = clock
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._fetched: float | None = None

    def allowed(self, user_id: str) -> bool:
        if user_id in self.users:
            return True
        return bool(self.group) and user_id in self._group_members()

    def _group_members(self) -> frozenset[str]:
        with self._lock:  # one question to Slack at a time; the others wait for its answer
            now = self.clock()
            if self._fetched is not None and now - self._fetched < self.ttl:
                return self._members
            try:
                resp = self.client.usergroups_users_list(usergroup=self.group)
                users = resp.get("users") or []
                self._members = frozenset(u for u in users if isinstance(u, str))
                self._fetched = now
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("cannot read the members of %s (%s)", self.group, exc)
                if self._fetched is None or now - self._fetched > self.ttl * 10:
                    self._members = frozenset()
            return self._members
