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
