"""The live permission check every act makes before it acts.

The ``Identity`` a screen holds is a snapshot from sign-in; rights can change mid-session
(a leaver disabled, a role revoked). ``permissions_on`` reads the account, its roles and
the session from the database each time, in one statement: the account's roles, joined to
the account and filtered by "not disabled" and "the session is open". The one gate
(``services.gate.act``) runs it on the act's own transaction, so the check and the act see
the same database and cost one round trip, and records a refusal after the rollback.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, bindparam, exists, false, select

from auth.identity import Identity
from auth.models import ConsoleSession, User, UserRole
from auth.roles import Perm, permissions_of
from core.db import Database, columns, table

NOT_ALLOWED = "この操作の権限がありません ({what})。"

_U = columns(User)
_R = columns(UserRole)
_S = columns(ConsoleSession)

# The account's roles (a NULL role when it holds none), only while the account is enabled.
_ROLES = (
    select(_R.role)
    .select_from(table(User).outerjoin(table(UserRole), _R.user_id == _U.id))
    .where(_U.id == bindparam("user_id"), _U.disabled == false())
)
# … and only while the console session is open (a session that is gone counts as ended).
_ROLES_IN_SESSION = _ROLES.where(
    exists().where(and_(_S.id == bindparam("session_id"), _S.ended_at.is_(None)))
)


def permissions_on(conn: Connection, ident: Identity) -> frozenset[Perm]:
    """The permissions the account holds now, read on ``conn`` (inside its transaction).

    Empty when the account is gone or disabled, or when the identity names a console
    session that is gone or ended.
    """
    if ident.session_id:
        rows = conn.execute(
            _ROLES_IN_SESSION, {"user_id": ident.user_id, "session_id": ident.session_id}
        )
    else:
        rows = conn.execute(_ROLES, {"user_id": ident.user_id})
    return permissions_of([row[0] for row in rows if row[0] is not None])


def current_permissions(db: Database, ident: Identity) -> frozenset[Perm]:
    """The permissions the account holds now; empty when the session or account is gone."""
    with db.engine.connect() as conn:
        return permissions_on(conn, ident)
