"""Mail: building the message (message.py), sending it over SMTP (outbox.py), reading replies (replies.py)."""
