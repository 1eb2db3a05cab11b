"""The periodic full review (棚卸し) through its service, on SQLite and PostgreSQL.

Accounts are enrolled with ``add_user`` and signed in with ``sign_in``; staff rows are
written directly (the registry's import is tested elsewhere), so each flag can be set to
the day around its threshold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from auth.accounts import list_users
from auth.identity import Identity
from auth.models import ConsoleSession, User
from auth.signin import SessionState, check_session, sign_in
from core.clock import today_in_japan
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from logs.audit import events_after, last_seq, verify
from services.personnel.inventory import (
    campaign_lines,
    close_campaign,
    decide,
    get_campaign,
    get_line,
    list_campaigns,
    months_before,
    office_day,
    start_campaign,
)
from services.personnel.inventory_models import InventoryLine
from services.personnel.models import Staff
from tests.factories import ADMIN, PASSWORD, account, staff_record
from tests.procs import race

AT = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)  # 12:00 JST
DAY = date(2026, 6, 15)
TRAINED = date(2026, 1, 10)


# --- set-up -----------------------------------------------------------------------------


def person(db: Database, settings: Settings, login: str, no: str,
           roles: Iterable[str] = ("clerk",), *, department: str = "市民課",
           training_on: date | None = TRAINED, **items: Any) -> int:
    """An account with a staff record linked to it."""
    user_id = account(db, settings, login, roles, department=department).id
    staff_record(db, no, user_id, department=department, kana="ショクイン",
                 training_on=training_on, **items)
    return user_id


def seen(db: Database, user_id: int, *, last: datetime | None = None,
         created: datetime | None = None) -> None:
    """Set when the account was made and last signed in (None: never)."""
    with db.write() as s:
        values: dict[str, Any] = {"last_signin_at": last}
        if created is not None:
            values["created_at"] = created
        s.connection().execute(update(User.__table__).where(  # type: ignore[attr-defined]
            User.__table__.c.id == user_id).values(**values))  # type: ignore[attr-defined]


def signed_in(db: Database, settings: Settings, login: str) -> Identity:
    return sign_in(db, settings, login, PASSWORD, "192.0.2.30")


def by_login(db: Database, campaign_id: int, **kw: Any) -> dict[str, Any]:
    return {ln.login: ln for ln in campaign_lines(db, ADMIN, campaign_id, **kw)}


def roles_of(db: Database, login: str) -> tuple[str, ...]:
    return next(a.roles for a in list_users(db) if a.login == login)


def inventory_events(db: Database, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in events_after(db, since, 100_000)
            if e["action"].startswith("access.inventory.")]


@pytest.fixture
def office(db: Database, settings: Settings) -> dict[str, int]:
    """A small office: 市民課 with two clerks and a 係長 (reviewer), 情報政策課 admins,
    総務課 security officers, and an account with no staff record."""
    return {
        "sato": person(db, settings, "sato", "1001"),
        "suzuki": person(db, settings, "suzuki", "1002"),
        "takaha": person(db, settings, "takaha", "1003", ["reviewer"], post="係長"),
        "kato": person(db, settings, "kato", "2001", ["admin"], department="情報政策課",
                       post="主査"),
        "sec": person(db, settings, "sec", "3001", ["security_officer"], department="総務課",
                      post="主査"),
        "sec2": person(db, settings, "sec2", "3002", ["security_officer"],
                       department="総務課", post="主査"),
        "vendor": account(db, settings, "vendor", ["clerk"], department="委託").id,
    }


# --- the snapshot -----------------------------------------------------------------------


def test_every_account_is_listed_with_its_roles_and_staff_data(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    disabled = account(db, settings, "gone", ["clerk", "reviewer"]).id
    with db.write() as s:
        s.connection().execute(update(User.__table__).where(  # type: ignore[attr-defined]
            User.__table__.c.id == disabled).values(disabled=True))  # type: ignore[attr-defined]
    before = last_seq(db)
    camp = start_campaign(db, settings, ADMIN, deadline=today_in_japan() + timedelta(days=14))
    lines = by_login(db, camp.id)
    everyone = {a.login for a in list_users(db)}
    assert set(lines) == everyone and camp.lines == len(everyone) == 8
    assert lines["takaha"].roles == ("reviewer",)
    assert (lines["takaha"].staff_no, lines["takaha"].department, lines["takaha"].post) == (
        "1003", "市民課", "係長")
    assert lines["gone"].disabled and lines["gone"].roles == ("clerk", "reviewer")
    assert lines["vendor"].staff_no == "" and lines["vendor"].flags == ("unlinked",)
    assert all(ln.decision == "" for ln in lines.values())
    (ev,) = inventory_events(db, before)
    assert ev["action"] == "access.inventory.start" and ev["outcome"] == "success"
    details = json.loads(ev["details"])
    assert details["lines"] == 8 and details["flag_unlinked"] == 2  # vendor, gone


def test_only_one_campaign_is_open_at_a_time(db: Database, settings: Settings,
                                             office: dict[str, int]) -> None:
    first = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    with pytest.raises(Refused, match=f"棚卸し #{first.id}"):
        start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    assert [c.id for c in list_campaigns(db, ADMIN)] == [first.id]
    close_campaign(db, settings, ADMIN, first.id, today=DAY)
    second = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    assert second.id != first.id
    refused = [e for e in inventory_events(db) if e["outcome"] == "refused"]
    assert [json.loads(e["details"])["reason"] for e in refused] == ["open_campaign"]


def test_two_starts_at_once_give_one_campaign(db: Database, settings: Settings,
                                             office: dict[str, int]) -> None:
    gate = threading.Barrier(2)
    results: list[str] = []

    def go() -> None:
        gate.wait()
        try:
            start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
            results.append("started")
        except Refused as exc:
            results.append("refused" if "実施中" in exc.message else exc.message)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["refused", "started"]
    (camp,) = list_campaigns(db, ADMIN)
    assert len(campaign_lines(db, ADMIN, camp.id)) == camp.lines == len(office)


def test_a_deadline_in_the_past_is_bad_input_and_nothing_is_written(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    with pytest.raises(BadInput, match="期限"):
        start_campaign(db, settings, ADMIN, deadline=DAY - timedelta(days=1), at=AT)
    assert list_campaigns(db, ADMIN) == []
    (ev,) = inventory_events(db)
    assert ev["outcome"] == "refused"


def test_who_may_start_read_and_close(db: Database, settings: Settings,
                                      office: dict[str, int]) -> None:
    clerk = signed_in(db, settings, "sato")
    admin = signed_in(db, settings, "kato")
    reviewer = signed_in(db, settings, "takaha")
    with pytest.raises(Refused, match="権限がありません"):
        start_campaign(db, settings, clerk, deadline=DAY, at=AT)
    with pytest.raises(Refused):
        start_campaign(db, settings, reviewer, deadline=DAY, at=AT)
    camp = start_campaign(db, settings, admin, deadline=DAY, at=AT)
    assert camp.started_by == "kato"
    assert len(campaign_lines(db, reviewer, camp.id)) == camp.lines
    with pytest.raises(Refused):
        campaign_lines(db, clerk, camp.id)
    with pytest.raises(Refused):
        close_campaign(db, settings, reviewer, camp.id, today=DAY)
    close_campaign(db, settings, admin, camp.id, today=DAY)
    refusals = [e for e in inventory_events(db) if e["outcome"] == "refused"]
    assert [(e["actor"], e["action"]) for e in refusals] == [
        ("sato", "access.inventory.start"), ("takaha", "access.inventory.start"),
        ("sato", "access.inventory.list"), ("takaha", "access.inventory.close"),
    ]


# --- flags: each fires at its threshold and not below -----------------------------------


def test_dormant_from_the_last_sign_in_or_from_creation(db: Database, settings: Settings) -> None:
    cases = {
        "at90": (AT - timedelta(days=90), None),
        "under90": (AT - timedelta(days=90) + timedelta(seconds=1), None),
        "long": (AT - timedelta(days=400), None),
        "never90": (None, AT - timedelta(days=90)),
        "never89": (None, AT - timedelta(days=89, hours=23)),
    }
    for i, (login, (last, created)) in enumerate(cases.items()):
        uid = person(db, settings, login, f"50{i}")
        seen(db, uid, last=last, created=created or AT - timedelta(days=1000))
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    dormant = {login for login, ln in by_login(db, camp.id).items() if "dormant" in ln.flags}
    assert dormant == {"at90", "long", "never90"}
    assert get_campaign(db, ADMIN, camp.id).dormant_days == 90
    close_campaign(db, settings, ADMIN, camp.id, today=DAY)
    # The threshold is a setting.
    longer = start_campaign(db, settings.with_(inventory_dormant_days=100), ADMIN,
                            deadline=DAY, at=AT)
    dormant = {login for login, ln in by_login(db, longer.id).items() if "dormant" in ln.flags}
    assert dormant == {"long"}


def test_contract_ended_for_contractors_and_fixed_term_staff_only(
    db: Database, settings: Settings
) -> None:
    yesterday, today = DAY - timedelta(days=1), DAY
    person(db, settings, "itaku-ended", "601", employment="委託先", contract_end=yesterday)
    person(db, settings, "itaku-today", "602", employment="委託先", contract_end=today)
    person(db, settings, "itaku-none", "603", employment="委託先", contract_end=None)
    person(db, settings, "kaikei-ended", "604", employment="会計年度任用",
           contract_end=yesterday)
    person(db, settings, "kaikei-later", "605", employment="会計年度任用",
           contract_end=today + timedelta(days=200))
    person(db, settings, "seiki", "606", employment="正規", contract_end=yesterday)
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    flagged = {login for login, ln in by_login(db, camp.id).items() if "contract" in ln.flags}
    assert flagged == {"itaku-ended", "kaikei-ended"}


def test_training_older_than_twelve_months_or_missing(db: Database, settings: Settings) -> None:
    limit = months_before(DAY, 12)
    assert limit == date(2025, 6, 15)
    person(db, settings, "exactly12", "701", training_on=limit)
    person(db, settings, "daymore", "702", training_on=limit - timedelta(days=1))
    person(db, settings, "recent", "703", training_on=DAY)
    person(db, settings, "never", "704", training_on=None)
    account(db, settings, "nostaff")  # flagged as unlinked, not for training
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    assert {login for login, ln in lines.items() if "training" in ln.flags} == {
        "daymore", "never"}
    assert lines["nostaff"].flags == ("unlinked",)
    close_campaign(db, settings, ADMIN, camp.id, today=DAY)
    six = start_campaign(db, settings.with_(inventory_training_months=6), ADMIN,
                         deadline=DAY, at=AT)
    assert {login for login, ln in by_login(db, six.id).items() if "training" in ln.flags} \
        == {"exactly12", "daymore", "never"}


def test_months_before_keeps_to_the_end_of_a_shorter_month() -> None:
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2028, 2, 29), 12) == date(2027, 2, 28)
    assert months_before(date(2026, 1, 15), 12) == date(2025, 1, 15)


def test_unlinked_accounts_and_the_flagged_filter(db: Database, settings: Settings,
                                                  office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    flagged = by_login(db, camp.id, flagged=True)
    assert set(flagged) == {"vendor"} and flagged["vendor"].flags == ("unlinked",)
    assert camp.flagged == 1


# --- reviewers --------------------------------------------------------------------------


def test_the_assigned_reviewer_is_a_confirmer_of_the_same_department_never_oneself(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    person(db, settings, "abe", "1004", ["reviewer"], post="係長")  # before takaha by login
    off = person(db, settings, "aaa", "1005", ["reviewer"], post="係長")
    with db.write() as s:
        s.connection().execute(update(User.__table__).where(  # type: ignore[attr-defined]
            User.__table__.c.id == off).values(disabled=True))  # type: ignore[attr-defined]
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    assert lines["sato"].reviewer_login == "abe"  # aaa is disabled
    assert lines["abe"].reviewer_login == "takaha"  # never the account itself
    assert lines["takaha"].reviewer_login == "abe"
    assert lines["sec"].reviewer_login == "sec2" and lines["sec2"].reviewer_login == "sec"
    assert lines["kato"].reviewer_login == ""  # 情報政策課 has no confirmer
    assert lines["kato"].reviewer_label == "（セキュリティ管理者）"
    assert lines["vendor"].reviewer_login == ""
    assert set(by_login(db, camp.id, reviewer="abe")) == {"aaa", "sato", "suzuki", "takaha"}


# --- decisions --------------------------------------------------------------------------


def test_keep_and_revoke_by_a_reviewer(db: Database, settings: Settings,
                                       office: dict[str, int]) -> None:
    sato = signed_in(db, settings, "sato")
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    rev = signed_in(db, settings, "takaha")
    kept = decide(db, rev, lines["suzuki"].id, "keep")
    assert (kept.decision, kept.decided_by) == ("keep", "takaha")
    assert roles_of(db, "suzuki") == ("clerk",)
    before = last_seq(db)
    done = decide(db, rev, lines["sato"].id, "revoke", "異動済み")
    assert done.decision == "revoke" and done.removed_roles == ("clerk",)
    assert roles_of(db, "sato") == ()
    assert check_session(db, settings, sato) is SessionState.REVOKED
    with db.read() as s:
        cs = s.get(ConsoleSession, sato.session_id)
        assert cs is not None and cs.end_reason == "revoked" and cs.ended_at is not None
    (ev,) = inventory_events(db, before)
    assert (ev["action"], ev["actor"], ev["target"], ev["severity"]) == (
        "access.inventory.revoke", "takaha", "sato", "warning")
    details = json.loads(ev["details"])
    assert details["removed_roles"] == ["clerk"] and details["sessions_ended"] == 1
    summary = get_campaign(db, ADMIN, camp.id)
    assert (summary.kept, summary.revoked, summary.undecided) == (1, 1, camp.lines - 2)


def test_self_review_is_refused_and_recorded(db: Database, settings: Settings,
                                             office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    own = by_login(db, camp.id)["sec"]
    sec = signed_in(db, settings, "sec")
    before = last_seq(db)
    for verdict in ("keep", "revoke"):
        with pytest.raises(Refused, match="自分自身"):
            decide(db, sec, own.id, verdict)
    assert get_line(db, ADMIN, own.id).decision == ""
    assert roles_of(db, "sec") == ("security_officer",)
    evs = inventory_events(db, before)
    assert [(e["action"], e["outcome"], json.loads(e["details"])["reason"]) for e in evs] == [
        ("access.inventory.keep", "refused", "self_review"),
        ("access.inventory.revoke", "refused", "self_review"),
    ]
    # Another officer may.
    decide(db, signed_in(db, settings, "sec2"), own.id, "keep")


def test_the_database_refuses_a_self_decision_too(db: Database, settings: Settings,
                                                  office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    own = by_login(db, camp.id)["sec"]
    table: Any = InventoryLine.__table__  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError), db.write() as s:
        s.connection().execute(update(table).where(table.c.id == own.id).values(
            decision="keep", decided_by="sec", decided_user=office["sec"]))


def test_only_holders_of_the_review_permission_decide(db: Database, settings: Settings,
                                                      office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    line = by_login(db, camp.id)["suzuki"]
    for login in ("sato", "kato"):  # a clerk, an admin
        with pytest.raises(Refused, match="権限がありません"):
            decide(db, signed_in(db, settings, login), line.id, "revoke")
    assert roles_of(db, "suzuki") == ("clerk",)
    with pytest.raises(BadInput, match="判定"):
        decide(db, signed_in(db, settings, "sec"), line.id, "maybe")
    with pytest.raises(NotFound):
        decide(db, signed_in(db, settings, "sec"), 99_999, "keep")
    reasons = [json.loads(e["details"])["reason"] for e in inventory_events(db)
               if e["outcome"] == "refused"]
    assert reasons == ["permission", "permission", "bad_input", "not_found"]


def test_a_decision_is_final(db: Database, settings: Settings, office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    line = by_login(db, camp.id)["suzuki"]
    decide(db, signed_in(db, settings, "sec"), line.id, "keep")
    with pytest.raises(Refused, match="既に sec さんが「継続」と判定済み"):
        decide(db, signed_in(db, settings, "sec2"), line.id, "revoke")
    assert roles_of(db, "suzuki") == ("clerk",)


RACE_CHILD = r"""
import json, sys
from core.db import Database
from core.errors import JukiError
from core.settings import Settings
from auth.signin import sign_in
from services.personnel.inventory import decide
from tests.procs import on_your_marks

url, login, password, verdict, ids = sys.argv[1:6]
settings = Settings(database_url=url, audit_jsonl="-", argon2_profile="test")
db = Database(url)
ident = sign_in(db, settings, login, password, "192.0.2.40")
on_your_marks()
out = {}
for line_id in ids.split(","):
    try:
        decide(db, ident, int(line_id), verdict)
        out[line_id] = "won"
    except JukiError as exc:
        out[line_id] = type(exc).__name__ + ":" + exc.message
print(json.dumps(out, ensure_ascii=False), flush=True)
"""


def test_two_reviewers_at_once_one_decision_one_clear_refusal(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    person(db, settings, "sec", "3001", ["security_officer"], department="総務課")
    person(db, settings, "sec2", "3002", ["security_officer"], department="総務課")
    for i in range(12):
        person(db, settings, f"clerk{i:02d}", f"80{i:02d}")
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    targets = [ln.id for ln in campaign_lines(db, ADMIN, camp.id)
               if ln.login.startswith("clerk")]
    ids = ",".join(map(str, targets))
    results = race(RACE_CHILD, [
        [settings.resolved_database_url, login, PASSWORD, verdict, ids]
        for login, verdict in (("sec", "keep"), ("sec2", "revoke"))
    ], tmp_path / "go")
    keep, revoke = results
    lines = {ln.id: ln for ln in campaign_lines(db, ADMIN, camp.id)}
    for line_id in map(str, targets):
        outcomes = sorted((keep[line_id], revoke[line_id]))
        assert outcomes.count("won") == 1, outcomes
        loser = next(o for o in outcomes if o != "won")
        assert loser.startswith("Refused:") and "判定済み" in loser, loser
        line = lines[int(line_id)]
        winner = "keep" if keep[line_id] == "won" else "revoke"
        assert line.decision == winner
        assert roles_of(db, line.login) == (() if winner == "revoke" else ("clerk",))
    decided = [e for e in inventory_events(db)
               if e["action"] in ("access.inventory.keep", "access.inventory.revoke")]
    assert sorted(e["outcome"] for e in decided) == ["refused"] * 12 + ["success"] * 12
    assert all(json.loads(e["details"])["reason"] == "already_decided"
               for e in decided if e["outcome"] == "refused")
    assert verify(db).ok


# --- closing ----------------------------------------------------------------------------


def test_closing_before_the_deadline_is_refused(db: Database, settings: Settings,
                                                office: dict[str, int]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DAY + timedelta(days=7), at=AT)
    with pytest.raises(Refused, match="期限"):
        close_campaign(db, settings, ADMIN, camp.id, today=DAY + timedelta(days=6))
    assert get_campaign(db, ADMIN, camp.id).state == "open"
    close_campaign(db, settings, ADMIN, camp.id, today=DAY + timedelta(days=7))
    with pytest.raises(Refused, match="締め済み"):
        close_campaign(db, settings, ADMIN, camp.id, today=DAY + timedelta(days=8))
    with pytest.raises(NotFound):
        close_campaign(db, settings, ADMIN, 99_999, today=DAY)
    reasons = [json.loads(e["details"])["reason"] for e in inventory_events(db)
               if e["outcome"] == "refused"]
    assert reasons == ["before_deadline", "closed", "not_found"]


def test_undecided_lines_are_reported_and_keep_their_rights_by_default(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    suzuki = signed_in(db, settings, "suzuki")
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    sec = signed_in(db, settings, "sec")
    decide(db, sec, lines["sato"].id, "keep")
    done = close_campaign(db, settings, ADMIN, camp.id, today=DAY)
    undecided = {ln.login for ln in done.undecided}
    assert undecided == set(lines) - {"sato"}
    assert done.revoked_undecided == 0 and done.sessions == 0 and done.suspended == ()
    assert all(ln.close_action == "undecided" for ln in done.undecided)
    assert roles_of(db, "suzuki") == ("clerk",)
    assert check_session(db, settings, suzuki) is SessionState.ACTIVE
    close = inventory_events(db)[-1]
    assert close["action"] == "access.inventory.close" and close["severity"] == "warning"
    details = json.loads(close["details"])
    assert details["undecided"] == len(undecided) and details["kept"] == 1
    assert sorted(details["undecided_logins"]) == sorted(undecided)
    assert not details["revoke_undecided"]
    with pytest.raises(Refused, match="締め済み"):
        decide(db, sec, lines["suzuki"].id, "revoke")


def test_undecided_lines_are_revoked_at_closing_only_with_the_setting(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    suzuki = signed_in(db, settings, "suzuki")
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    sec = signed_in(db, settings, "sec")
    for login in lines:
        if login not in ("suzuki", "vendor", "sec"):
            decide(db, sec, lines[login].id, "keep")
    strict = settings.with_(inventory_revoke_undecided=True)
    done = close_campaign(db, strict, ADMIN, camp.id, today=DAY + timedelta(days=3))
    assert {ln.login for ln in done.undecided} == {"suzuki", "vendor", "sec"}
    assert done.revoked_undecided == 3
    assert all(ln.close_action == "revoked" for ln in done.undecided)
    assert roles_of(db, "suzuki") == roles_of(db, "vendor") == roles_of(db, "sec") == ()
    assert roles_of(db, "sato") == ("clerk",)  # kept
    assert check_session(db, settings, suzuki) is SessionState.REVOKED
    assert done.sessions == 2  # suzuki's and sec's
    revoked = [e for e in inventory_events(db)
               if e["action"] == "access.inventory.revoke_undecided"]
    assert sorted(e["target"] for e in revoked) == ["sec", "suzuki", "vendor"]
    assert verify(db).ok


def test_untrained_staff_are_suspended_only_with_the_setting(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    old = months_before(DAY, 12) - timedelta(days=1)
    person(db, settings, "lapsed", "1101", training_on=old)
    person(db, settings, "never", "1102", training_on=None)
    person(db, settings, "caught-up", "1103", training_on=old)
    lapsed = signed_in(db, settings, "lapsed")
    camp = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines = by_login(db, camp.id)
    assert {ln.login for ln in lines.values() if "training" in ln.flags} == {
        "lapsed", "never", "caught-up"}
    decide(db, signed_in(db, settings, "takaha"), lines["lapsed"].id, "keep")

    # Default: flagged and reported, nothing suspended.
    plain = close_campaign(db, settings, ADMIN, camp.id, today=DAY)
    assert plain.suspended == ()
    assert roles_of(db, "lapsed") == roles_of(db, "never") == ("clerk",)

    # With the setting: the still-overdue ones lose their roles, whatever the decision.
    camp2 = start_campaign(db, settings, ADMIN, deadline=DAY, at=AT)
    lines2 = by_login(db, camp2.id)
    assert "training" in lines2["caught-up"].flags
    decide(db, signed_in(db, settings, "takaha"), lines2["lapsed"].id, "keep")
    with db.write() as s:  # caught up on the training during the campaign
        s.connection().execute(update(Staff.__table__).where(  # type: ignore[attr-defined]
            Staff.__table__.c.staff_no == "1103").values(  # type: ignore[attr-defined]
            training_on=DAY))
    done = close_campaign(db, settings.with_(inventory_suspend_untrained=True), ADMIN,
                          camp2.id, today=DAY)
    assert {ln.login for ln in done.suspended} == {"lapsed", "never"}
    assert all(ln.suspended and ln.removed_roles == ("clerk",) for ln in done.suspended)
    assert roles_of(db, "lapsed") == roles_of(db, "never") == ()
    assert roles_of(db, "caught-up") == ("clerk",)
    assert check_session(db, settings, lapsed) is SessionState.REVOKED
    suspends = [e for e in inventory_events(db) if e["action"] == "access.inventory.suspend"]
    assert sorted(e["target"] for e in suspends) == ["lapsed", "never"]
    assert all(e["severity"] == "warning" for e in suspends)
    assert verify(db).ok


def test_office_day_is_japan_time() -> None:
    assert office_day(datetime(2026, 6, 14, 15, 0, tzinfo=UTC)) == date(2026, 6, 15)
    assert office_day(datetime(2026, 6, 14, 14, 59, tzinfo=UTC)) == date(2026, 6, 14)
