"""The Slack app: /incident, pasted logs and the Report incident shortcut start drafts; drafts are
posted with Send / Edit / Skip; replies filed by the mailbox side appear in the draft's thread.

``SlackFrontEnd(cfg, app)`` (handlers/slack/front.py) is what ``incident serve`` runs; its
``notifier`` is the ``bot.notify.Notifier`` the mailbox watcher and the jobs announce through.
See docs/slack.md.
"""

from handlers.slack.front import SlackFrontEnd, build_client
from handlers.slack.notifier import SlackNotifier

__all__ = ["SlackFrontEnd", "SlackNotifier", "build_client"]
