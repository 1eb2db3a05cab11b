"""Why a backup, a restore or a drill stops, with the reason its refusal is recorded under.

Each error carries ``reason`` (the word in the refused event's details) beside its
Japanese message and exit code: 2 for what the operator gave (an identity that does not
open the file, a file that is no backup), 1 for a check that failed (a damaged file, a
database that is not empty, a tool that failed).
"""

from __future__ import annotations

from core.errors import BadInput, JukiError, Refused


class WrongIdentity(BadInput):
    """The identity given is not one the backup was encrypted for."""

    reason = "identity"


class NotABackup(BadInput):
    """The file is not an age file, or not a backup made by juki."""

    reason = "not_a_backup"


class Damaged(JukiError):
    """The file opened but does not hold what its manifest says (SHA-256, members)."""

    exit_code = 1
    reason = "damaged"


class NotEmpty(Refused):
    """A restore into a database that already holds tables."""

    reason = "not_empty"


class ToolFailed(JukiError):
    """``pg_dump``/``pg_restore`` or the database refused a step."""

    exit_code = 1
    reason = "tool"


def reason_of(exc: JukiError) -> str:
    """The word a refusal of ``exc`` is recorded under."""
    found = getattr(exc, "reason", None)
    if isinstance(found, str):
        return found
    return "bad_input" if isinstance(exc, BadInput) else "refused"
