"""``incident serve`` as a real process for the tests: its configuration (the sandbox for lookups, a
Dovecot account for mail) and its standard error read line by line as it runs."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.handlers.cli.cli_run import env, incident_command
from tests.sandbox import Sandbox
from tests.sandbox.core import to_toml
from tests.support.dovecot import Account

FAST_REGISTRIES = "".join(f"\n[gather.registries.{r}]\nconcurrency = 8\nper_minute = 100000\n"
                          for r in ("arin", "ripencc", "apnic", "lacnic", "afrinic"))


def serve_config(tmp: Path, sb: Sandbox, imap: Account, **sections: dict[str, Any]) -> Path:
    """incident.toml for a serve process: lookups answered by the sandbox (registry limits raised:
    every restart is a new process with its own gates), mail read from ``imap``."""
    cfg = sb.config_dict(str(tmp))
    cfg["report"] = {**cfg["report"], "reporter_email": "security@mydomain.example"}
    cfg["mailbox"] = imap.config_dict()
    cfg["serve"] = {"reminder_days": 0, "retry_failed_minutes": 0, "shutdown_seconds": 3.0}
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    path = tmp / "incident.toml"
    path.write_text(to_toml(cfg) + FAST_REGISTRIES, encoding="utf-8")
    return path


class ServeProcess:
    """``incident --config CONFIG serve ARGS``, its stderr collected in ``lines`` as it comes."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen([*incident_command(), "--config", str(config), "serve", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, cwd=str(config.parent), env=env())
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        with self._seen:
            while not any(text in ln for ln in self.lines):
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return any(text in ln for ln in self.lines)
                self._seen.wait(min(left, 0.05))
        return True

    def finish(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code
