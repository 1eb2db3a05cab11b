"""The live permission check (``auth.access``): rights as they are now, not at sign-in.

Each case changes the account, its roles or its session after sign-in and proves that
an act of the gate (``services.gate``) and ``current_permissions`` see the change, that a
refusal is recorded, and that a service running the check inside its own transaction
(the lookup search) refuses the same way.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import delete

from auth.access import current_permissions, permissions_on
from auth.accounts import add_user, disable_user
from auth.identity import Identity
from auth.models import UserRole
from auth.roles import Perm, permissions_of
from auth.signin import sign_in, sign_out
from core.actor import Actor
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after, last_seq
from services import gate
from services.lookup.search import search
from services.lookup.types import LookupQuery

PASSWORD = "asa-no-kaze-ga-fuku"
ADMIN = Actor(login="os:admin")
PURPOSE = "住民票の写し等の交付"


@pytest.fixture
def reviewer(db: Database, settings: Settings) -> Identity:
    add_user(db, settings, ADMIN, login="sato", name="佐藤 花子", roles=["reviewer", "clerk"],
             password=PASSWORD, department="市民課")
    return sign_in(db, settings, "sato", PASSWORD, "203.0.113.9")


def _events(db: Database, since: int) -> list[dict]:
    out = events_after(db, since, 1000)
    for ev in out:
        ev["details"] = json.loads(ev["details"])
    return out


def _require(db: Database, ident: Identity, perm: Perm, what: str, purpose: str = "") -> None:
    """A read-only act of the one gate (services.gate) needing ``perm``."""
    with gate.act(db, ident, "bench.test", perm=perm, what=what, purpose=purpose,
                  write=False):
        pass


def _require_lookup(db: Database, ident: Identity) -> None:
    _require(db, ident, Perm.LOOKUP, "照会", PURPOSE)


def test_the_roles_held_now_give_the_permissions(db: Database, reviewer: Identity) -> None:
    assert current_permissions(db, reviewer) == permissions_of(["reviewer", "clerk"])
    with db.write() as s:
        assert permissions_on(s.connection(), reviewer) == permissions_of(["reviewer", "clerk"])
    since = last_seq(db)
    _require_lookup(db, reviewer)
    assert _events(db, since) == []  # a granted check records nothing of its own


def test_a_missing_permission_is_refused_and_recorded(db: Database, settings: Settings) -> None:
    add_user(db, settings, ADMIN, login="kansa", name="監査 一郎", roles=["auditor"],
             password=PASSWORD)
    auditor = sign_in(db, settings, "kansa", PASSWORD, "203.0.113.9")
    since = last_seq(db)
    with pytest.raises(Refused) as info:
        _require_lookup(db, auditor)
    assert "照会" in info.value.message
    [ev] = _events(db, since)
    assert (ev["action"], ev["outcome"], ev["actor"], ev["purpose"]) == (
        "bench.test", "refused", "kansa", PURPOSE
    )
    assert ev["details"] == {"reason": "permission", "permission": str(Perm.LOOKUP)}


def test_a_role_revoked_after_sign_in_is_gone_at_once(db: Database, reviewer: Identity) -> None:
    assert reviewer.can(Perm.LOOKUP_MY_NUMBER)  # the snapshot still says yes …
    with db.transaction() as conn:
        conn.execute(delete(UserRole).where(
            UserRole.user_id == reviewer.user_id, UserRole.role == "reviewer"  # type: ignore[arg-type]
        ))
    assert current_permissions(db, reviewer) == permissions_of(["clerk"])  # … the database no
    with pytest.raises(Refused):
        _require(db, reviewer, Perm.LOOKUP_MY_NUMBER, "個人番号")
    _require_lookup(db, reviewer)  # what the remaining role grants still works


def test_an_account_with_no_roles_holds_nothing(db: Database, reviewer: Identity) -> None:
    with db.transaction() as conn:
        conn.execute(delete(UserRole).where(UserRole.user_id == reviewer.user_id))  # type: ignore[arg-type]
    assert current_permissions(db, reviewer) == frozenset()


def test_a_disabled_account_holds_nothing(db: Database, reviewer: Identity) -> None:
    disable_user(db, ADMIN, "sato")
    assert current_permissions(db, reviewer) == frozenset()
    with pytest.raises(Refused):
        _require_lookup(db, reviewer)


def test_an_ended_or_unknown_session_holds_nothing(db: Database, reviewer: Identity) -> None:
    other = replace(reviewer, session_id="no-such-session")
    assert current_permissions(db, other) == frozenset()
    sign_out(db, reviewer)
    assert current_permissions(db, reviewer) == frozenset()
    with pytest.raises(Refused):
        _require_lookup(db, reviewer)


def test_an_identity_without_a_console_session_goes_by_the_account(
    db: Database, reviewer: Identity
) -> None:
    batch = replace(reviewer, session_id="")
    assert current_permissions(db, batch) == permissions_of(["reviewer", "clerk"])
    disable_user(db, ADMIN, "sato")
    assert current_permissions(db, batch) == frozenset()


def test_an_unknown_account_holds_nothing(db: Database, reviewer: Identity) -> None:
    assert current_permissions(db, replace(reviewer, user_id=reviewer.user_id + 999)) == (
        frozenset()
    )


def test_the_search_checks_inside_its_transaction_and_records_the_refusal(
    db: Database, settings: Settings, reviewer: Identity
) -> None:
    query = LookupQuery(PURPOSE, name="サトウ ハナコ")
    search(db, settings, reviewer, query)  # allowed while the account is enabled
    disable_user(db, ADMIN, "sato")
    since = last_seq(db)
    with pytest.raises(Refused) as info:
        search(db, settings, reviewer, query)
    assert "住民記録の照会" in info.value.message
    [ev] = _events(db, since)  # the refusal only: no search event was committed
    assert (ev["action"], ev["outcome"], ev["purpose"]) == ("register.search", "refused", PURPOSE)
    assert ev["details"] == {"reason": "permission", "permission": str(Perm.LOOKUP)}
