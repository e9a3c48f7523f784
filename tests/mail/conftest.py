"""Fixtures for the sending tests: a throwaway certificate and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.smtp import Cert, SmtpServer


@pytest.fixture
def smtp_starttls(cert: Cert) -> Iterator[SmtpServer]:
    with SmtpServer(security="starttls", users={"bot": "s3cret"}, cert=cert) as srv:
        yield srv
