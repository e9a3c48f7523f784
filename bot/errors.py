"""One exception tree for the whole project.

Only ``UserError`` carries text meant for a person; every other error is shown as a short,
generic message plus the incident id, while its traceback goes to the log. Wrappers around
third-party libraries convert their exceptions into these with ``raise ... from exc``.
"""

from __future__ import annotations


class IncidentError(Exception):
    """Base of every error the project raises on purpose."""


class UserError(IncidentError):
    """Bad input or configuration: the message is written for the person who can fix it."""


class NothingToDo(IncidentError):
    """No reportable address (or every one was skipped): the CLI exits 1 with this text."""


class ConfigError(UserError):
    """The configuration file is missing, unreadable or invalid; the message names the key."""


class InputError(UserError):
    """An input file or text cannot be used (missing, unreadable, a directory, empty...)."""


class LookupFailed(IncidentError):
    """A network lookup (DNS, RDAP, whois, probe) did not produce an answer.

    ``source`` names the lookup ("rdap", "dns", "whois"...); ``temporary`` says whether trying
    again later may succeed (timeouts, 429, 5xx) as opposed to a definite answer (NXDOMAIN, 404).
    """

    def __init__(self, message: str, *, source: str = "", temporary: bool = False) -> None:
        super().__init__(message)
        self.source = source
        self.temporary = temporary


class RateLimited(LookupFailed):
    """A registry asked us to slow down (HTTP 429, RIPE's rate-limit error)."""

    def __init__(self, message: str, *, source: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, source=source, temporary=True)
        self.retry_after = retry_after


class SendError(IncidentError):
    """Sending a report failed. ``permanent`` is true for 5xx answers."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class StoreError(IncidentError):
    """The incident store could not be read or written."""
