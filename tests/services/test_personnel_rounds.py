"""Importing change rounds, applying them and re-confirming them, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from auth.accounts import list_users
from auth.signin import SessionState, check_session, sign_in
from core.actor import Actor
from core.clock import today_in_japan
from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from services.personnel.apply import apply_change, apply_due, sign_in_checked
from services.personnel.confirm import confirm_change, waiting
from services.personnel.models import ChangeRound, PersonnelChange, RightsChange, Staff
from services.personnel.rounds import import_round, list_rounds, round_lines
from services.personnel.staff import link_account
from tests.factories import ADMIN, PASSWORD, account
from tests.services.personnel_setup import DAY, csv_file, events, last_seq, registry


@pytest.fixture
def people(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return registry(db, settings)


def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as s:
        count = select(func.count()).select_from(table.__table__)
        return s.connection().execute(count).scalar_one()


def _roles(db: Database, login: str) -> tuple[str, ...]:
    return next(a.roles for a in list_users(db) if a.login == login)


def _disabled(db: Database, login: str) -> bool:
    return next(a.disabled for a in list_users(db) if a.login == login)


def _import(db, settings, *rows, today=DAY, who=ADMIN, **kw):  # type: ignore[no-untyped-def]
    return import_round(db, settings, who, name="idou.csv", data=csv_file(*rows, **kw),
                        today=today)


# --- the file is checked whole ------------------------------------------------------


def test_a_file_with_one_bad_row_applies_nothing_and_names_line_and_field(
    db: Database, settings: Settings, people
) -> None:
    since = last_seq(db)
    with pytest.raises(BadInput) as info:
        _import(db, settings,
                "2026-04-01,1001,職員 sato,退職,市民課,,,",
                "2026-04-01,1002,職員 suzuki,昇任,市民課,市民課,係員,係長",
                "令和8年4月1日,1003,職員 takaha,転出,市民課,税務課,係長,主査")
    assert "3行目 異動区分" in info.value.message and "昇任" in info.value.message
    assert _count(db, ChangeRound) == 0 and _count(db, PersonnelChange) == 0
    assert _count(db, RightsChange) == 0
    assert _roles(db, "sato") == ("clerk",) and not _disabled(db, "sato")
    [ev] = events(db, since)
    assert (ev["action"], ev["outcome"]) == ("hr.import", "refused")


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("2026-13-01,1001,職員 sato,退職,,,,", "2行目 発令日"),
        (",1001,職員 sato,退職,,,,", "2行目 発令日: 入力がありません"),
        ("2026-04-01,,職員 sato,退職,,,,", "2行目 職員番号: 入力がありません"),
        ("2026-04-01,1001,,退職,,,,", "2行目 氏名"),
        ("2026-04-01,9999,新人,採用,,,,", "2行目 新所属: 採用には新所属が必要です"),
        ("2026-04-01,1001,職員 sato,転出,総務課,税務課,,", "2行目 旧所属: 職員台帳では「市民課」"),
        ("2026-04-01,7777,誰か,退職,,,,", "2行目 職員番号: 7777 は職員台帳にありません"),
    ],
)
def test_bad_rows_are_named(db: Database, settings: Settings, people, row: str,
                            words: str) -> None:
    with pytest.raises(BadInput, match=words):
        _import(db, settings, row)
    assert _count(db, ChangeRound) == 0


def test_a_missing_column_is_named(db: Database, settings: Settings, people) -> None:
    bad = "発令日,職員番号,氏名\n2026-04-01,1001,x\n".encode()
    with pytest.raises(BadInput, match="異動区分・旧所属・新所属・旧職・新職"):
        import_round(db, settings, ADMIN, name="x.csv", data=bad, today=DAY)


def test_cp932_files_are_read_and_the_same_file_twice_is_refused(
    db: Database, settings: Settings, people
) -> None:
    data = csv_file("2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員", encoding="cp932")
    done = import_round(db, settings, ADMIN, name="sjis.csv", data=data, today=DAY)
    assert done.grants == 1 and done.rows == 1
    [line] = round_lines(db, done.round_id)
    assert (line.name, line.action, line.role) == ("山田 花子", "grant", "clerk")
    with pytest.raises(BadInput, match="取込済み"):
        import_round(db, settings, ADMIN, name="again.csv", data=data, today=DAY)


# --- leavers lose their rights by mechanism -------------------------------------------


def test_a_leaver_loses_rights_on_the_date_and_an_open_session_ends(
    db: Database, settings: Settings, people
) -> None:
    sato = people["sato"]
    done = _import(db, settings, "2026-04-10,1001,職員 sato,退職,市民課,,係員,",
                   today=date(2026, 4, 1))
    assert done.applied_now == 0  # not yet due
    assert _roles(db, "sato") == ("clerk",)
    assert check_session(db, settings, sato) is SessionState.ACTIVE
    before = apply_due(db, settings, Actor.cli(), today=date(2026, 4, 9))
    assert before.rights == 0
    applied = apply_due(db, settings, Actor.cli(), today=date(2026, 4, 10))
    assert (applied.registry, applied.rights, applied.sessions) == (1, 2, 1)
    assert _roles(db, "sato") == () and _disabled(db, "sato")
    assert check_session(db, settings, sato) is SessionState.REVOKED
    with pytest.raises(Refused):
        sign_in(db, settings, "sato", PASSWORD)
    with db.read() as s:
        staff = s.connection().execute(
            select(Staff.__table__).where(Staff.__table__.c.staff_no == "1001")).mappings().one()
    assert staff["status"] == "退職" and staff["left_on"] == date(2026, 4, 10)
    again = apply_due(db, settings, Actor.cli(), today=date(2026, 4, 11))
    assert (again.registry, again.rights) == (0, 0)


def test_sign_in_applies_what_is_due_first(db: Database, settings: Settings, people) -> None:
    today = today_in_japan()
    _import(db, settings, f"{today + timedelta(days=1)},1002,職員 suzuki,退職,市民課,,,",
            today=today)
    assert sign_in_checked(db, settings, "suzuki", PASSWORD).login == "suzuki"
    with db.write() as s:  # the day comes: move the 発令日 back rather than the clock
        s.connection().execute(text("UPDATE personnel_change SET effective_on = :d"),
                               {"d": today})
        s.connection().execute(text("UPDATE rights_change SET effective_on = :d"), {"d": today})
    with pytest.raises(Refused):
        sign_in_checked(db, settings, "suzuki", PASSWORD)
    assert _disabled(db, "suzuki") and _roles(db, "suzuki") == ()


# --- grants wait for an admin ---------------------------------------------------------


def test_grants_are_applied_by_an_admin_only_from_the_date(
    db: Database, settings: Settings, people
) -> None:
    done = _import(db, settings, "2026-04-01,1001,職員 sato,転入,市民課,市民課,係員,係長",
                   today=date(2026, 3, 20))
    lines = {ln.action: ln for ln in round_lines(db, done.round_id)}
    assert set(lines) == {"revoke", "grant"}
    with pytest.raises(BadInput, match="発令日"):
        apply_change(db, people["kato"], lines["grant"].id, today=date(2026, 3, 31))
    with pytest.raises(Refused):  # a clerk may not
        apply_change(db, people["suzuki"], lines["grant"].id, today=DAY)
    apply_due(db, settings, Actor.cli(), today=DAY)
    assert _roles(db, "sato") == ()  # revoked by mechanism, granted by nobody yet
    apply_change(db, people["kato"], lines["grant"].id, today=DAY)
    assert _roles(db, "sato") == ("reviewer",)
    with pytest.raises(BadInput, match="既に適用"):
        apply_change(db, people["ito"], lines["grant"].id, today=DAY)


def test_an_admin_cannot_grant_to_their_own_account(
    db: Database, settings: Settings, people
) -> None:
    done = _import(db, settings, "2026-04-01,2001,職員 kato,転入,情報政策課,情報政策課,主査,課長")
    grant = next(ln for ln in round_lines(db, done.round_id) if ln.action == "grant")
    since = last_seq(db)
    with pytest.raises(Refused, match="自分自身"):
        apply_change(db, people["kato"], grant.id, today=DAY)
    assert [e["outcome"] for e in events(db, since)] == ["refused"]


# --- re-confirmation by a different person ---------------------------------------------


def _applied_round(db, settings, people):  # type: ignore[no-untyped-def]
    done = _import(db, settings, "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員",
                   "2026-04-01,1002,職員 suzuki,退職,市民課,,,")
    # 山田 gets an account (a security officer's, so that she could confirm — not her own)
    account(db, settings, "yamada", ["security_officer"], name="山田 花子", department="総務課")
    people["yamada"] = sign_in(db, settings, "yamada", PASSWORD)
    link_account(db, ADMIN, "4001", "yamada")
    lines = round_lines(db, done.round_id)
    grant = next(ln for ln in lines if ln.action == "grant")
    apply_change(db, people["kato"], grant.id, today=DAY)
    return round_lines(db, done.round_id)


def test_confirm_and_dispute_by_a_different_person(db: Database, settings: Settings,
                                                   people) -> None:
    lines = _applied_round(db, settings, people)
    grant = next(ln for ln in lines if ln.action == "grant")
    revoke = next(ln for ln in lines if ln.action == "revoke")
    confirm_change(db, people["sec"], grant.id, "confirmed")
    with pytest.raises(BadInput, match="コメント"):
        confirm_change(db, people["takaha"], revoke.id, "disputed", "")
    confirm_change(db, people["takaha"], revoke.id, "disputed", "退職日が違う")
    after = {ln.id: ln for ln in round_lines(db, lines[0].round_id)}
    assert (after[grant.id].verdict, after[grant.id].confirmed_by) == ("confirmed", "sec")
    assert after[revoke.id].comment == "退職日が違う"
    with pytest.raises(BadInput, match="判定済み"):
        confirm_change(db, people["sec"], revoke.id, "confirmed")
    [summary] = list_rounds(db)
    assert (summary.confirmed, summary.disputed) == (1, 1)


def test_self_confirmation_is_refused_and_recorded(db: Database, settings: Settings,
                                                   people) -> None:
    lines = _applied_round(db, settings, people)
    grant = next(ln for ln in lines if ln.action == "grant")
    # kato applied it; give kato the review permission too: still not theirs to confirm
    with db.write() as s:
        s.connection().execute(text(
            "INSERT INTO app_user_role (user_id, role) VALUES (:u, 'security_officer')"),
            {"u": people["kato"].user_id})
    since = last_seq(db)
    with pytest.raises(Refused, match="自分が適用"):
        confirm_change(db, people["kato"], grant.id, "confirmed")
    # the subject (yamada, linked to 4001) may not confirm their own change either
    with pytest.raises(Refused, match="自分自身"):
        confirm_change(db, people["yamada"], grant.id, "confirmed")
    with pytest.raises(Refused, match="権限がありません"):  # a clerk holds no review right
        confirm_change(db, people["sato"], grant.id, "confirmed")
    assert [e["outcome"] for e in events(db, since)] == ["refused"] * 3


def test_the_database_refuses_self_confirmation_too(db: Database, settings: Settings,
                                                    people) -> None:
    lines = _applied_round(db, settings, people)
    grant = next(ln for ln in lines if ln.action == "grant")
    with pytest.raises(IntegrityError), db.write() as s:
        s.connection().execute(text(
            "UPDATE rights_change SET verdict = 'confirmed', confirmed_by = 'kato' "
            "WHERE id = :i"), {"i": grant.id})


@pytest.mark.parametrize("by", ["account", "login", "both"])
def test_the_database_refuses_the_subject_confirming_their_own_change(
    db: Database, settings: Settings, people, by: str
) -> None:
    """yamada (staff 4001) is the subject of the grant: neither her account id nor her
    login may stand as its confirmer, whatever the application's account writes."""
    lines = _applied_round(db, settings, people)
    grant = next(ln for ln in lines if ln.action == "grant")
    who = {"account": ("", people["yamada"].user_id), "login": ("yamada", None),
           "both": ("yamada", people["yamada"].user_id)}[by]
    with pytest.raises(IntegrityError, match="subject"), db.write() as s:
        s.connection().execute(text(
            "UPDATE rights_change SET verdict = 'confirmed', confirmed_by = :login,"
            " confirmed_user = :u WHERE id = :i"), {"i": grant.id, "login": who[0] or "sec",
                                                    "u": who[1]})
    # The same statement naming someone else goes in: the trigger is about the person.
    with db.write() as s:
        s.connection().execute(text(
            "UPDATE rights_change SET verdict = 'confirmed', confirmed_by = 'sec',"
            " confirmed_user = :u WHERE id = :i"), {"i": grant.id, "u": people["sec"].user_id})


def test_two_confirmers_at_once_one_verdict(db: Database, settings: Settings, people) -> None:
    lines = _applied_round(db, settings, people)
    grant = next(ln for ln in lines if ln.action == "grant")
    results: dict[str, str] = {}
    gate = threading.Barrier(2)

    def go(login: str, verdict: str) -> None:
        gate.wait()
        try:
            confirm_change(db, people[login], grant.id, verdict, "理由")
            results[login] = "won"
        except BadInput:
            results[login] = "refused"

    threads = [threading.Thread(target=go, args=("sec", "confirmed")),
               threading.Thread(target=go, args=("takaha", "disputed"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["refused", "won"]


def test_overdue_confirmations_show_for_those_who_must_act(
    db: Database, settings: Settings, people
) -> None:
    _applied_round(db, settings, people)
    assert any("再確認待ち" in w for w in waiting(db, settings, people["sec"]))
    assert waiting(db, settings, people["sato"]) == []
    with db.write() as s:
        s.connection().execute(text("UPDATE rights_change SET applied_at = :t"),
                               {"t": "2026-01-01 00:00:00+00:00"})
    assert any("期限（7日）を過ぎた" in w for w in waiting(db, settings, people["sec"]))
    lenient = settings.with_(access_confirm_days=100000)
    assert not any("期限" in w for w in waiting(db, lenient, people["sec"]))
