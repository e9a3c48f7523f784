"""Shared pytest fixtures: the local sandbox servers (tests/sandbox), a throwaway TLS certificate and
a real SMTP server on 127.0.0.1 (tests/support/smtp.py). Fakes and helpers: tests/support/fakes.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox import Sandbox
from tests.support.smtp import Cert, SmtpServer, make_cert


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """HTTP replay, DNS and whois servers on 127.0.0.1 with 100 synthetic networks, no latency.

    Shared by the whole session: faults, logs and latency are reset after every test that uses it."""
    with Sandbox(latency=0.0, synthetic_networks=100) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset()


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for 127.0.0.1, for the SMTP servers' STARTTLS and implicit TLS."""
    return make_cert(Path(tmp_path_factory.mktemp("cert")))


@pytest.fixture
def smtp(cert: Cert) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 requiring STARTTLS and a login (user "bot", password "s3cret")."""
    with SmtpServer(security="starttls", users={"bot": "s3cret"}, cert=cert) as srv:
        yield srv
