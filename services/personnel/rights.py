"""Taking rights away from an account: its roles removed, its open console sessions ended.

The mechanism of a change round (``apply``) and the 棚卸し (``inventory``) both do it; an
ended session closes the person's console at its next session check (every few seconds).
Each write is one statement, so two transactions at once never both claim the same role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, update

from auth.models import ConsoleSession, UserRole
from core.clock import now
from core.db import columns, table

_CS = columns(ConsoleSession)
_UR = columns(UserRole)


def end_sessions(conn: Any, user_id: int, reason: str) -> int:
    """End every open console session of ``user_id``; their consoles close on next check."""
    return int(conn.execute(
        update(table(ConsoleSession)).where(
            _CS.user_id == user_id, _CS.ended_at.is_(None))
        .values(ended_at=now(), end_reason=reason)
    ).rowcount or 0)


def strip_roles(conn: Any, user_id: int) -> tuple[str, ...]:
    """Delete every role of the account; the roles that were there."""
    gone = conn.execute(
        delete(table(UserRole)).where(_UR.user_id == user_id)
        .returning(_UR.role)
    ).scalars().all()
    return tuple(sorted(gone))


def _chunks(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def strip_many(conn: Any, user_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """``strip_roles`` for many accounts at once: account id → roles removed."""
    out: dict[int, list[str]] = {}
    for chunk in _chunks(user_ids):
        for user_id, role in conn.execute(
            delete(table(UserRole)).where(_UR.user_id.in_(chunk))
            .returning(_UR.user_id, _UR.role)
        ):
            out.setdefault(user_id, []).append(role)
    return {u: tuple(sorted(r)) for u, r in out.items()}


def end_many(conn: Any, user_ids: list[int], reason: str) -> dict[int, int]:
    """``end_sessions`` for many accounts at once: account id → sessions ended."""
    out: dict[int, int] = {}
    stamp = now()
    for chunk in _chunks(user_ids):
        for (user_id,) in conn.execute(
            update(table(ConsoleSession)).where(
                _CS.user_id.in_(chunk), _CS.ended_at.is_(None))
            .values(ended_at=stamp, end_reason=reason).returning(_CS.user_id)
        ):
            out[user_id] = out.get(user_id, 0) + 1
    return out
