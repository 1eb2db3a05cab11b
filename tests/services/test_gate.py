"""The gate: the check inside the act, a refusal recorded once after the rollback, the act
and its event in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from auth.identity import Identity
from auth.models import ConsoleSession
from auth.roles import Perm
from auth.stepup import StepUpNeeded
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, JukiError, NotFound, Refused
from core.settings import Settings
from logs.audit import events_after, last_seq
from services import gate
from tests.factories import enrol


def _notes(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM gate_probe")).scalar_one()


@pytest.fixture
def probe(db: Database) -> Database:
    with db.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE gate_probe (note VARCHAR(20))")
    return db


def _write(a: gate.Act, note: str) -> None:
    a.s.connection().execute(text("INSERT INTO gate_probe VALUES (:n)"), {"n": note})


def test_an_act_and_its_event_commit_together(probe: Database, settings: Settings) -> None:
    rev = enrol(probe, settings, "rev", ["reviewer"])
    before = last_seq(probe)
    with gate.act(probe, rev, "probe.write", perm=Perm.LINK_REVIEW, what="試し",
                  target="x:1") as a:
        _write(a, "one")
        a.record(details={"n": 1})
    events = events_after(probe, before)
    assert [(e["action"], e["outcome"], e["target"]) for e in events] == [
        ("probe.write", "success", "x:1")]
    assert _notes(probe) == 1


def test_a_missing_permission_is_refused_inside_and_recorded_once(
    probe: Database, settings: Settings,
) -> None:
    clerk = enrol(probe, settings, "clerk", ["clerk"])
    before = last_seq(probe)
    with pytest.raises(Refused, match="権限がありません \\(試し\\)"), gate.act(
        probe, clerk, "probe.write", perm=Perm.LINK_REVIEW, what="試し", target="x:1",
    ) as a:
        _write(a, "never")
    events = events_after(probe, before)
    assert [(e["action"], e["outcome"]) for e in events] == [("probe.write", "refused")]
    assert '"permission":"linkage.review"' in events[0]["details"]
    assert _notes(probe) == 0


def test_a_refusal_deep_inside_rolls_back_what_was_written(
    probe: Database, settings: Settings,
) -> None:
    rev = enrol(probe, settings, "rev", ["reviewer"])
    before = last_seq(probe)
    with pytest.raises(Refused, match="同じ人"), gate.act(
        probe, rev, "probe.write", perm=Perm.LINK_REVIEW, what="試し",
    ) as a:
        _write(a, "half")
        a.record()
        a.target = "proposal:7"  # found once the act has loaded what it works on
        a.refuse("同じ人は確認できません。", "four_eyes", proposal=7)
    events = events_after(probe, before)
    assert [(e["action"], e["outcome"], e["target"]) for e in events] == [
        ("probe.write", "refused", "proposal:7")]
    assert '"reason":"four_eyes"' in events[0]["details"]
    assert _notes(probe) == 0


def test_bad_input_is_recorded_and_raised_as_it_is(probe: Database, settings: Settings) -> None:
    clerk = enrol(probe, settings, "clerk", ["clerk"])
    before = last_seq(probe)
    with pytest.raises(BadInput, match="氏名"), gate.act(
        probe, clerk, "probe.write", perm=Perm.LINK_PROPOSE, what="試し",
    ) as a:
        _write(a, "half")
        raise BadInput("氏名: 入力してください。")
    (ev,) = events_after(probe, before)
    assert (ev["outcome"], ev["severity"]) == ("refused", "info")
    assert _notes(probe) == 0


def test_a_stale_password_asks_for_it_again(probe: Database, settings: Settings) -> None:
    rev: Identity = enrol(probe, settings, "rev", ["reviewer"])
    with probe.write() as s:
        cs = s.get(ConsoleSession, rev.session_id)
        assert cs is not None
        cs.last_auth_at = now() - timedelta(minutes=settings.step_up_minutes + 1)
        s.add(cs)
    before = last_seq(probe)
    with pytest.raises(StepUpNeeded), gate.act(
        probe, rev, "probe.write", perm=Perm.LINK_REVIEW, what="試し", step_up=True,
        settings=settings,
    ) as a:
        _write(a, "never")
    (ev,) = events_after(probe, before)
    assert '"reason":"step_up"' in ev["details"]
    # Without step_up the same act goes through.
    with gate.act(probe, rev, "probe.write", perm=Perm.LINK_REVIEW, what="試し") as a:
        _write(a, "ok")
    assert _notes(probe) == 1


def test_a_cli_operator_is_trusted(probe: Database) -> None:
    with gate.act(probe, Actor(login="os:admin"), "probe.write", perm=Perm.ACCESS_ADMIN,
                  what="試し") as a:
        assert a.holds(Perm.USER_ADMIN)
        _write(a, "ok")
        a.record()
    assert _notes(probe) == 1


def test_a_refusal_may_raise_its_own_error_and_name_any_detail(
    probe: Database, settings: Settings,
) -> None:
    """An error carrying more than its message reaches the caller as it is; the event
    may hold a ``message`` beside the reason."""
    clerk = enrol(probe, settings, "clerk", ["clerk"])
    before = last_seq(probe)
    typed = BadInput("生年月日: 日付を読み取れません。")
    with pytest.raises(BadInput) as caught, gate.act(
        probe, clerk, "probe.write", perm=Perm.LINK_PROPOSE, what="試し", target="x:1",
    ) as a:
        _write(a, "never")
        raise gate.Refusal(typed.message, "bad_input", severity="info", raising=typed,
                           message=typed.message, given=["氏名"])
    assert caught.value is typed
    (ev,) = events_after(probe, before)
    assert (ev["outcome"], ev["severity"], ev["target"]) == ("refused", "info", "x:1")
    assert '"given":["氏名"]' in ev["details"] and '"message":"生年月日' in ev["details"]


def test_bad_input_may_pass_unrecorded(probe: Database, settings: Settings) -> None:
    """``record_bad_input=False``: rolled back and raised, no event (a sealing failure is
    still recorded)."""
    clerk = enrol(probe, settings, "clerk", ["clerk"])
    before = last_seq(probe)
    with pytest.raises(BadInput, match="理由"), gate.act(
        probe, clerk, "probe.write", perm=Perm.LINK_PROPOSE, what="試し",
        record_bad_input=False,
    ) as a:
        _write(a, "half")
        raise BadInput("理由: 入力してください。")
    assert events_after(probe, before) == []
    assert _notes(probe) == 0


def test_any_one_of_several_permissions_will_do(probe: Database, settings: Settings) -> None:
    rev = enrol(probe, settings, "rev", ["reviewer"])
    clerk = enrol(probe, settings, "clerk", ["clerk"])
    wanted = (Perm.ACCESS_ADMIN, Perm.LINK_REVIEW)
    with gate.act(probe, rev, "probe.write", perm=wanted, what="試し") as a:
        assert a.holds(wanted) and not a.holds(Perm.ACCESS_ADMIN)
        _write(a, "ok")
    before = last_seq(probe)
    with pytest.raises(Refused, match="権限がありません \\(試し\\)"), gate.act(
        probe, clerk, "probe.write", perm=None, what="試し", target="x:1",
    ) as a:
        a.need(wanted, "試し", round=3)
    (ev,) = events_after(probe, before)
    assert '"permission":"access.admin | linkage.review"' in ev["details"]
    assert '"round":3' in ev["details"]
    assert _notes(probe) == 1


@pytest.mark.parametrize(("said", "error", "details"), [
    (lambda: gate.Refusal.saying("#9 はありません。", "not_found", error=NotFound), NotFound,
     '"message":"#9 はありません。","reason":"not_found"'),
    (lambda: gate.Refusal.of(BadInput("#2: 既に適用されています。")), BadInput,
     '"reason":"#2: 既に適用されています。"'),
])
def test_a_refusal_reaches_the_caller_as_the_error_it_names(
    probe: Database, settings: Settings, said: Callable[[], gate.Refusal],
    error: type[JukiError], details: str,
) -> None:
    """Refusal.saying keeps the message beside the reason word; Refusal.of turns an error
    said inside into the refusal, its message the reason. Either reaches the caller as
    the error it names, recorded once (severity warning), the act rolled back."""
    rev = enrol(probe, settings, "rev", ["reviewer"])
    before = last_seq(probe)
    with pytest.raises(error), gate.act(probe, rev, "probe.write", perm=Perm.LINK_REVIEW,
                                        what="試し", target="x:2") as a:
        _write(a, "never")
        raise said()
    (ev,) = events_after(probe, before)
    assert (ev["outcome"], ev["severity"], ev["target"], _notes(probe)) == (
        "refused", "warning", "x:2", 0)
    assert details in ev["details"]
