"""The live permission check every service calls before it acts.

The ``Identity`` a screen holds is a snapshot from sign-in; rights can change mid-session
(a leaver disabled, a role revoked). ``require`` reads the account, its roles and the
session from the database each time, and records a refusal before raising it.
"""

from __future__ import annotations

from sqlmodel import select

from auth.identity import Identity
from auth.models import ConsoleSession, User, UserRole
from auth.roles import Perm, permissions_of
from core.db import Database
from core.errors import Refused
from logs.audit import record_alone

NOT_ALLOWED = "この操作の権限がありません ({what})。"


def current_permissions(db: Database, ident: Identity) -> frozenset[Perm]:
    """The permissions the account holds now; empty when the session or account is gone."""
    with db.read() as s:
        user = s.get(User, ident.user_id)
        cs = s.get(ConsoleSession, ident.session_id) if ident.session_id else None
        if user is None or user.disabled:
            return frozenset()
        if ident.session_id and (cs is None or cs.ended_at is not None):
            return frozenset()
        roles = s.exec(select(UserRole.role).where(UserRole.user_id == ident.user_id)).all()
    return permissions_of(list(roles))


def require(
    db: Database, ident: Identity, perm: Perm, *, action: str, what: str, target: str = "",
    purpose: str = "",
) -> None:
    """Raise ``Refused`` (and record it under ``action``) unless ``ident`` holds ``perm`` now."""
    if perm in current_permissions(db, ident):
        return
    record_alone(
        db, ident.actor, action, target=target, purpose=purpose, outcome="refused",
        severity="warning", details={"reason": "permission", "permission": str(perm)},
    )
    raise Refused(NOT_ALLOWED.format(what=what))
