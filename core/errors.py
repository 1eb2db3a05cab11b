"""Errors that carry a message for the user, in Japanese, and the CLI exit code they mean."""

from __future__ import annotations


class JukiError(Exception):
    """Base for errors whose message is shown to the user as it is."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(JukiError):
    """The input cannot be used (a field, a row, a value): CLI exit 2, nothing written."""

    exit_code = 2


class Refused(JukiError):
    """A rule says no (permission, lockout, four eyes): CLI exit 1; the attempt is recorded."""

    exit_code = 1


class NotFound(JukiError):
    exit_code = 1


class StorageFault(JukiError):
    """The database cannot do the act now (it cannot be reached, or its disk is full):
    CLI exit 1. Said in the user's words by ``core.db``, which raises it for the
    driver's error; a console says so and carries on when the database is back."""

    exit_code = 1

    def __init__(self, message: str, waiting: str = "") -> None:
        super().__init__(message)
        self.waiting = waiting or message
        """The line for a process that waits for the database to come back (the console's
        notice, ``juki audit forward`` and ``watch`` on stderr)."""


class DatabaseUnreachable(StorageFault):
    """The server is down, restarting, or the connection to it was cut."""


class DiskFull(StorageFault):
    """No space left where the database writes: the act was not written."""


class TrailHeld(StorageFault):
    """The database was restored and its trail waits for ``juki audit recover``: a
    trigger refuses every new event until then (docs/architecture.md §11). Nothing was
    written; a process that waits (forward, watch, a console) carries on once lifted."""
