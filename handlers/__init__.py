"""The ways in and out of incident-bot, one package per front end; each is a thin adapter over bot.app.

- ``handlers.cli``: the ``incident`` command line.
"""
