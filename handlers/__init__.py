"""The ways in and out of incident-bot: the command line now; Slack and IMAP later."""
