"""Fixtures for gather tests: a config pointing at the session sandbox, and a Gatherer on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clients import build_clients
from bot.config import Config, from_dict
from bot.gather import Gatherer
from tests.sandbox import Sandbox

FAST_LIMITS = {r: {"concurrency": 8, "per_minute": 100_000}
               for r in ("arin", "ripencc", "apnic", "lacnic", "afrinic")}


def sandbox_config(sb: Sandbox, tmp: Path, **gather: Any) -> Config:
    """The sandbox's config with short timeouts, tiny backoff and the registry limits raised."""
    data = sb.config_dict(tmp)
    data["gather"].update({"timeout": 0.5, "retries": 2, "backoff": 0.01, "registries": FAST_LIMITS})
    data["gather"].update(gather)
    return from_dict(data)


class Sleeps(list[float]):
    """A stand-in for time.sleep that records the pauses instead of waiting them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def cfg(sandbox: Sandbox, tmp_path: Path) -> Config:
    return sandbox_config(sandbox, tmp_path)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gatherer(cfg: Config, sleeps: Sleeps) -> Iterator[Gatherer]:
    g = Gatherer(cfg, build_clients(cfg), sleep=sleeps)
    yield g
    g.cache.close()
