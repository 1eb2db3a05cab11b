"""Step-up: a sensitive act asks for the password again when the last one is not recent.

A console at a counter may be left signed in; revealing a My Number, approving a link,
granting or revoking rights are the acts a passer-by must not be able to do. Such an act
asks the gate for it (``services.gate.act(..., step_up=True)``): when the session's last
authentication (sign-in, unlock, or a step-up) is older than ``settings.step_up_minutes``
(``recent``), the act is refused with ``StepUpNeeded`` (recorded), the screen asks the
password, ``reauthenticate`` checks it (a wrong one counts toward the lockout, like a wrong
unlock) and the act is tried again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from auth.identity import Identity
from auth.models import ConsoleSession, User
from auth.signin import _check_password, _end, _register_failure
from core.clock import aware, now
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import record

STEP_UP_MESSAGE = "この操作の前に、本人確認のためパスワードをもう一度入力してください。"


class StepUpNeeded(Refused):
    """The act needs a fresh password; the screen asks it and tries again."""

    def __init__(self) -> None:
        super().__init__(STEP_UP_MESSAGE)


def recent(last_auth_at: datetime | None, settings: Settings | None) -> bool:
    """The password given at ``last_auth_at`` is within ``step_up_minutes`` (the default,
    15, without settings): the one window rule, for this module and ``services.gate``."""
    minutes = float((settings or Settings()).step_up_minutes)
    return last_auth_at is not None and now() - aware(last_auth_at) <= timedelta(minutes=minutes)


def reauthenticate(db: Database, settings: Settings, ident: Identity, password: str) -> None:
    """Check the password again and mark the session freshly authenticated."""
    ok, _ = _check_password(db, settings, ident.user_id, password)
    refusal: str | None = None
    with db.write() as s:
        user = s.get(User, ident.user_id, with_for_update=True)
        cs = s.get(ConsoleSession, ident.session_id)
        if user is None or cs is None or cs.ended_at is not None or user.disabled:
            refusal = "このセッションは終了しています。もう一度サインインしてください。"
            record(s, ident.actor, "session.reauth", outcome="refused",
                   details={"reason": "session_ended"})
        elif not ok:
            record(s, ident.actor, "session.reauth", outcome="failure",
                   details={"reason": "wrong_password"})
            refusal = _register_failure(s, settings, user, ident.client_addr)
            if user.locked_until is not None and aware(user.locked_until) > now():
                _end(s, cs, ident, "lockout")
        else:
            user.failed_count = 0
            cs.last_auth_at = now()
            s.add_all([user, cs])
            record(s, ident.actor, "session.reauth", target=ident.login)
    if refusal is not None:
        raise Refused(refusal)
