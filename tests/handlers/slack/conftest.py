"""Fixtures of the Slack tests: the local Web API stand-in and the app under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handlers.slack.helpers import Harness, make_harness
from tests.support.slack_api import SlackApi
from tests.support.smtp import SmtpServer


@pytest.fixture
def api() -> Iterator[SlackApi]:
    with SlackApi(group_members=["U0GROUPIE"]) as server:
        yield server


@pytest.fixture
def slack(tmp_path: Path, api: SlackApi, smtp: SmtpServer) -> Iterator[Harness]:
    h = make_harness(tmp_path, api, smtp)
    yield h
    h.front.stop()
    h.app.close()
