"""Validation of the [report] and [smtp] keys: a bad value is an error that names the key."""

from __future__ import annotations

import pytest

from bot.config import from_dict
from bot.errors import ConfigError


@pytest.mark.parametrize(("data", "key"), [
    ({"smtp": {"port": 0}}, "smtp.port"),
    ({"smtp": {"port": 70000}}, "smtp.port"),
    ({"smtp": {"retries": -1}}, "smtp.retries"),
    ({"smtp": {"retry_delay": -0.5}}, "smtp.retry_delay"),
    ({"smtp": {"timeout": 0}}, "smtp.timeout"),
    ({"smtp": {"security": "ssl"}}, "smtp.security"),
    ({"report": {"excerpt_lines": -1}}, "report.excerpt_lines"),
    ({"report": {"suppress_days": -7}}, "report.suppress_days"),
    ({"report": {"suppress_by": "network"}}, "report.suppress_by"),
    ({"smtp": {"retry_delay": "soon"}}, "smtp.retry_delay"),
])
def test_bad_values_name_the_key(data: dict[str, dict[str, object]], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(data)
    assert str(err.value).startswith(key)


def test_defaults_are_valid() -> None:
    cfg = from_dict({"smtp": {"port": 465, "security": "tls", "retries": 0, "retry_delay": 0}})
    assert cfg.smtp.retry_delay == 0.0 and cfg.report.suppress_days == 7
