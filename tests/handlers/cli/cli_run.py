"""Running the real `incident` command as a subprocess against the sandbox and a local SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.sandbox import Sandbox
from tests.sandbox.core import to_toml
from tests.support.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[3]


def incident_command() -> list[str]:
    """The installed console script next to this Python, else the module (same entry point)."""
    script = Path(sys.executable).parent / "incident"
    return [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]


def write_config(tmp: Path, sb: Sandbox, server: SmtpServer | None, /, **sections: dict[str, Any]) -> Path:
    cfg = sb.config_dict(str(tmp))
    cfg["report"] = {**cfg.get("report", {}), "incident_dir": str(tmp / "incident"),
                     "reporter_name": "Security Team", "reporter_email": "security@mydomain.example"}
    cfg["scan"] = {"own_hostnames": ["mydomain.com"], "own_networks": ["1.2.3.0/24"]}
    if server is not None:
        cfg["smtp"] = server.config_dict()
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    path = tmp / "incident.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    return path


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_")}
    out.update({"PYTHONPATH": str(ROOT), "EDITOR": "", "VISUAL": "", **extra})
    return out


def run(config: Path, *args: str, stdin: str | bytes = "", timeout: float = 60,
        **extra_env: str) -> subprocess.CompletedProcess[str]:
    data = stdin.decode("utf-8", "replace") if isinstance(stdin, bytes) else stdin
    return subprocess.run([*incident_command(), "--config", str(config), *args], input=data,
                          capture_output=True, text=True, timeout=timeout, cwd=str(config.parent),
                          env=env(**extra_env), check=False)


def popen(config: Path, *args: str, paused_at: str = "", **extra_env: str) -> subprocess.Popen[str]:
    """The command running in the background; with ``paused_at``, every send stops there for a minute
    (tests/support/paused.py) so that the test can kill it at that very point."""
    command = [sys.executable, "-m", "tests.support.paused", paused_at] if paused_at else incident_command()
    return subprocess.Popen([*command, "--config", str(config), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(config.parent), env=env(**extra_env))


def run_bytes(config: Path, *args: str, stdin: bytes,
              timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*incident_command(), "--config", str(config), *args], input=stdin,
                          capture_output=True, timeout=timeout, cwd=str(config.parent), env=env(),
                          check=False)
