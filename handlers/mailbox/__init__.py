"""The mailbox front end of ``incident serve``: IMAP folders read once per message (watcher.py over
imap.py, remembered in ledger.py), each mail turned into drafts or a filed reply (intake.py), and
the operators told by mail without Slack (notify_mail.py, approval.py). docs/operations.md."""
