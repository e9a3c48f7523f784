"""Block Kit within Slack's limits, and the [slack] configuration checks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import IncidentView
from bot.config import from_dict
from bot.errors import ConfigError
from bot.models import Confidence, Contact, Incident, State
from bot.text import mrkdwn, mrkdwn_line
from handlers.slack import SlackFrontEnd, blocks
from tests.compose.helpers import candidate, shinbiro_findings
from tests.support.fakes import make_app, stored_draft


def _view(lines: list[str], contacts: int = 2, ips: int = 1) -> IncidentView:
    draft = stored_draft("INC-20260908-0001", "211.191.28.13")
    target = dataclasses.replace(
        draft.targets[0],
        candidate=candidate("211.191.28.13", lines, total=len(lines) + 7),
        findings=shinbiro_findings(),
    )
    more = tuple(dataclasses.replace(target) for _ in range(ips - 1))
    cs = tuple(
        Contact(
            f"role{n}@a-rather-long-domain-name-for-a-contact.example",
            Confidence.LOW,
            ("guessed " * 20,),
            flag="catch-all" if n % 2 else "",
        )
        for n in range(contacts)
    )
    draft = dataclasses.replace(draft, targets=(target, *more), contacts=cs, recipients=(cs[0].address,))
    now = datetime(2026, 9, 8, tzinfo=UTC)
    inc = Incident(
        "INC-20260908-0001",
        "shinbiro.example",
        "/tmp/x",
        State.DRAFT,
        now,
        now,
        ips=tuple(f"211.191.28.{n}" for n in range(ips)),
    )
    return IncidentView(inc, draft, (), (), ())


def test_a_long_excerpt_is_cut_on_whole_lines_within_a_section() -> None:
    lines = [f"Apr 14 23:11:{i % 60:02d} <&> " + "x" * 180 for i in range(200)]
    out = blocks.incident_blocks(_view(lines))
    code = next(
        b["text"]["text"]
        for b in out
        if b["type"] == "section" and "```" in b.get("text", {}).get("text", "")
    )
    assert len(code) <= 3000 and code.startswith("```\n") and code.endswith("\n```")
    body = code[4:-4].split("\n")
    assert all(line.startswith("Apr 14") and line.endswith("x" * 180) for line in body)
    assert "&lt;&amp;&gt;" in body[0]
    assert any(
        f"{len(body)} of 207 lines shown" in e["text"]
        for b in out
        if b["type"] == "context"
        for e in b["elements"]
    )


def test_many_contacts_and_addresses_stay_within_slacks_limits() -> None:
    out = blocks.incident_blocks(_view(["one line"], contacts=14, ips=40))
    assert len(out) <= 50
    assert len(out[0]["text"]["text"]) <= 150
    box = next(b["accessory"] for b in out if "accessory" in b)
    assert len(box["options"]) == 10
    assert all(len(o["text"]["text"]) <= 75 and len(o["description"]["text"]) <= 75 for o in box["options"])
    assert any("catch-all" in o["description"]["text"] for o in box["options"])
    assert [o["value"] for o in box["initial_options"]] == [
        "role0@a-rather-long-domain-name-for-a-contact.example"
    ]
    assert any("More contacts" in e["text"] for b in out if b["type"] == "context" for e in b["elements"])


def test_mrkdwn_escapes_what_slack_would_parse() -> None:
    assert mrkdwn("<!here> & <@U1> `x`") == "&lt;!here&gt; &amp; &lt;@U1&gt; ˋxˋ"
    assert mrkdwn("a\u202eb\x1b[31m\nc") == "a b [31m\nc"
    assert mrkdwn_line("&" * 10, 4) == "&amp;" * 4, "cut before escaping: no half entity"


@pytest.mark.parametrize(
    ("slack", "key"),
    [
        ({"mode": "websocket"}, "slack.mode"),
        ({"enabled": True}, "slack.channel"),
        ({"senders": ["bob"]}, "slack.senders[0]"),
        ({"sender_group": "U123"}, "slack.sender_group"),
        ({"listen_channels": ["general"]}, "slack.listen_channels[0]"),
        ({"workers": 0}, "slack.workers"),
        ({"http_path": "events"}, "slack.http_path"),
        ({"bot_token": "xoxb-1"}, "slack.bot_token"),
    ],
)
def test_slack_configuration_errors_name_the_key(slack: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        from_dict({"slack": slack})


def test_tokens_come_from_the_environment_or_files_and_a_missing_one_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bot").write_text("xoxb-from-file\n")
    cfg = from_dict(
        {"slack": {"enabled": True, "channel": "C0DRAFTS", "bot_token_file": str(tmp_path / "bot")}}
    )
    assert cfg.slack.bot_token() == "xoxb-from-file"
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-env")
    assert cfg.slack.app_token() == "xapp-env"
    monkeypatch.delenv("SLACK_APP_TOKEN")
    app = make_app(tmp_path, cfg=cfg)
    with pytest.raises(ConfigError, match=r"no app-level token: set SLACK_APP_TOKEN or slack\.app_token"):
        SlackFrontEnd(cfg, app)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-env")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    http = from_dict(
        {
            "slack": {
                "enabled": True,
                "channel": "C0DRAFTS",
                "mode": "http",
                "bot_token_file": str(tmp_path / "bot"),
            }
        }
    )
    with pytest.raises(ConfigError, match="no signing secret"):
        SlackFrontEnd(http, make_app(tmp_path, cfg=http))
