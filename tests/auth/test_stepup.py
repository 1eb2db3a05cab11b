"""Step-up: reveal, approve, grant and revoke ask for the password again after a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from auth.identity import Identity
from auth.stepup import StepUpNeeded, reauthenticate
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after, last_seq
from services import gate
from services.lookup.record import reveal_my_number
from tests.factories import PASSWORD
from tests.services.lookup_data import KNOWN_NUMBER, PURPOSE, build_world


def _age(db: Database, ident: Identity, minutes: float) -> None:
    with db.write() as s:
        s.connection().execute(
            text("UPDATE console_session SET last_auth_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(minutes=minutes), "i": ident.session_id})


def require_recent_auth(db: Database, ident: Identity, settings: Settings, *, action: str,
                        target: str = "") -> None:
    """An act of the one gate (services.gate) that asks for a recent password."""
    with gate.act(db, ident, action, perm=None, what="x", target=target, step_up=True,
                  settings=settings, write=False):
        pass


def test_fresh_passes_stale_is_refused_and_recorded(db: Database, settings: Settings) -> None:
    world = build_world(db, settings)
    rev = world.people["reviewer"]
    _age(db, rev, 14)
    require_recent_auth(db, rev, settings, action="x.test")  # within 15 minutes
    _age(db, rev, 16)
    since = last_seq(db)
    with pytest.raises(StepUpNeeded):
        require_recent_auth(db, rev, settings, action="x.test", target="t")
    [ev] = events_after(db, since, 10)
    assert (ev["action"], ev["outcome"]) == ("x.test", "refused")
    require_recent_auth(db, rev, settings.with_(step_up_minutes=30), action="x.test")


def test_a_stale_reveal_needs_the_password_and_then_works(db: Database,
                                                          settings: Settings) -> None:
    world = build_world(db, settings)
    rev = world.people["reviewer"]
    _age(db, rev, 60)
    with pytest.raises(StepUpNeeded):
        reveal_my_number(db, settings, rev, world.ids["髙橋一郎"], purpose=PURPOSE,
                         reason="窓口での本人確認")
    with pytest.raises(Refused):
        reauthenticate(db, settings, rev, "not-the-password")
    with pytest.raises(StepUpNeeded):  # a wrong password refreshed nothing
        reveal_my_number(db, settings, rev, world.ids["髙橋一郎"], purpose=PURPOSE,
                         reason="窓口での本人確認")
    reauthenticate(db, settings, rev, PASSWORD)
    shown = reveal_my_number(db, settings, rev, world.ids["髙橋一郎"], purpose=PURPOSE,
                             reason="窓口での本人確認")
    assert shown.number.replace(" ", "") == KNOWN_NUMBER


def test_wrong_step_up_passwords_count_toward_the_lockout(db: Database,
                                                          settings: Settings) -> None:
    world = build_world(db, settings)
    rev = world.people["reviewer"]
    for _ in range(settings.lockout_threshold):
        with pytest.raises(Refused):
            reauthenticate(db, settings, rev, "not-the-password")
    with pytest.raises(Refused):  # locked now: even the right password is refused
        reauthenticate(db, settings, rev, PASSWORD)


def test_grant_approve_and_revoke_are_guarded_too(db: Database, settings: Settings) -> None:
    """The other sensitive services refuse a stale session before they act; keep does not."""
    from core.errors import NotFound
    from services.linkage.decision import approve
    from services.personnel.apply import apply_change
    from services.personnel.inventory import decide
    from tests.factories import enrol

    world = build_world(db, settings)
    rev = world.people["reviewer"]
    adm = enrol(db, settings, "adm", ["admin"], name="管理 太郎", department="", client="")
    for who in (rev, adm):
        _age(db, who, 60)
    with pytest.raises(StepUpNeeded):
        apply_change(db, adm, 1, settings=settings)
    with pytest.raises(StepUpNeeded):
        decide(db, rev, 1, "revoke", "退職済み", settings=settings)
    with pytest.raises(StepUpNeeded):
        approve(db, rev, 1, version=1, settings=settings)
    with pytest.raises(NotFound):  # keeping a right is not sensitive: no step-up asked
        decide(db, rev, 1, "keep", "", settings=settings)
    reauthenticate(db, settings, adm, PASSWORD)
    with pytest.raises(NotFound):  # fresh again: the grant goes on to its own checks
        apply_change(db, adm, 1, settings=settings)
