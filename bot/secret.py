"""Secrets (passwords, tokens) are read from a file or an environment variable, never from the TOML."""

from __future__ import annotations

import os
from pathlib import Path

from bot.errors import ConfigError


def read_secret(key: str, env: str, path: str) -> str:
    """A secret from the file named in the config (first line) or else the environment variable."""
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}_file: cannot read {path}: {exc.strerror}") from exc
    return os.environ.get(env, "") if env else ""
