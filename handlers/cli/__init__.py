"""The ``incident`` command line: one module per command, registered in ``main.COMMANDS``."""

from handlers.cli.main import main

__all__ = ["main"]
