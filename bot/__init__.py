"""incident-bot core: scan logs, gather facts about an attacker, compose and send abuse reports.

The core holds no Slack, IMAP loop or CLI parsing; those live in handlers/.
"""

__version__ = "0.1.0"
