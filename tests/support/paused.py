"""The `incident` command with a pause injected into the send path, for the crash tests.

    python -m tests.support.paused STAGE [incident arguments...]

STAGE is where every send stops for a minute (bot.sending: "recorded", after state sending is
committed and before the SMTP transaction; "delivered", after the server took the mail and before
"sent" is recorded), saying so on stderr, so that the test can kill the process right there. The
production code reads no environment variable for this: the hook is injected here, into App.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import bot.app
from handlers.cli.main import main


def _pause_at(stage: str) -> Any:
    def pause(at: str) -> None:
        if at == stage:
            sys.stderr.write(f"incident-test-pause: {at}\n")
            sys.stderr.flush()
            time.sleep(60)
    return pause


if __name__ == "__main__":
    real_init = bot.app.App.__init__
    hook = _pause_at(sys.argv[1])

    def init(self: bot.app.App, cfg: Any, **kw: Any) -> None:
        kw.setdefault("pause", hook)
        real_init(self, cfg, **kw)

    bot.app.App.__init__ = init  # type: ignore[method-assign]
    sys.exit(main(sys.argv[2:]))
