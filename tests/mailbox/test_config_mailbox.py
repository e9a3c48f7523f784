"""[mailbox] and [serve]: every key documented in config.example.toml, bad values named at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_every_mailbox_and_serve_key_is_documented_in_the_example() -> None:
    example = ROOT / "config.example.toml"
    cfg = config.load(example)
    text = example.read_text()
    for section in ("mailbox", "serve"):
        assert f"[{section}]" in text
        for name in getattr(cfg, section).__dataclass_fields__:
            assert f"\n{name} =" in text, f"{section}.{name} undocumented"


@pytest.mark.parametrize("data, key", [
    ({"mailbox": {"host": "imap.example.net", "username": "u", "security": "none"}}, "mailbox.security"),
    ({"mailbox": {"security": "ssl"}}, "mailbox.security"),
    ({"mailbox": {"host": "imap.example.net"}}, "mailbox.username"),
    ({"mailbox": {"idle_renew_seconds": 900}}, "mailbox.idle_renew_seconds"),
    ({"mailbox": {"flag": "two words"}}, "mailbox.flag"),
    ({"mailbox": {"folders": ["INBOX"], "reply_folders": ["INBOX"]}}, "mailbox.reply_folders"),
    ({"mailbox": {"folders": ["bad\nname"]}}, r"mailbox.folders\[0\]"),
    ({"mailbox": {"max_tries": 0}}, "mailbox.max_tries"),
    ({"mailbox": {"port": 70000}}, "mailbox.port"),
    ({"serve": {"operators": ["not an address"]}}, r"serve.operators\[0\]"),
    ({"serve": {"mail_approval": True, "operators": ["ops@example.net"]}}, "serve.mail_approval"),
    ({"serve": {"reminder_days": -1}}, "serve.reminder_days"),
    ({"serve": {"shutdown_seconds": 0}}, "serve.shutdown_seconds"),
    ({"mailbox": {"polling": 5}}, "mailbox.polling: unknown key"),
])
def test_bad_values_are_refused_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        config.from_dict(data)


def test_the_imap_password_comes_from_a_file_or_the_environment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_IMAP_PASSWORD", "from-env")
    assert config.from_dict({}).mailbox.password() == "from-env"
    secret = tmp_path / "imap"
    secret.write_text("from-file\n")
    assert config.from_dict({"mailbox": {"password_file": str(secret)}}).mailbox.password() == "from-file"
    loopback = config.from_dict({"mailbox": {"host": "127.0.0.1", "username": "u", "security": "none"}})
    assert loopback.mailbox.security == "none", "clear text only to a server on this machine"
