"""The counts of the threshold judgment on a small register, both backends.

対象人数 counts every record held at the date (residents and removed records kept);
取扱者数 counts enabled accounts holding a register permission, contractors included,
and for a past date undoes the account and rights changes the audit trail recorded
after it. 重大事故 are the serious incidents of the year ending on the date.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

import auth.accounts
import logs.audit
from auth.accounts import disable_user
from auth.signin import sign_in
from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from logs.audit import events_after
from services.assessment.assess import assess_threshold
from services.assessment.counts import count_handlers, count_people
from services.assessment.incidents import add_incident, list_incidents, serious_in_year
from services.personnel.inventory import campaign_lines, decide, office_day, start_campaign
from tests.factories import ADMIN, PASSWORD, account, make_resident, staff_record

PAST = datetime(2026, 1, 10, 1, 0, tzinfo=UTC)  # when the first accounts were made
BEFORE = date(2026, 2, 1)


def _resident(db: Database, became: date, removed: date | None = None) -> int:
    return make_resident(db, became_resident_on=became, removed_on=removed,
                         status="消除" if removed else "住民",
                         removal_reason="転出" if removed else "")


def test_people_held_at_a_date(db: Database) -> None:
    for _ in range(3):
        _resident(db, date(2000, 1, 1))
    _resident(db, date(2026, 6, 1))  # moved in after the first date
    _resident(db, date(2001, 1, 1), removed=date(2026, 3, 1))  # removed, record kept
    _resident(db, date(2001, 1, 1), removed=date(2026, 7, 1))  # removed after the first date
    first = count_people(db, date(2026, 5, 1))
    assert (first.residents, first.removed, first.total) == (4, 1, 5)
    later = count_people(db, date(2026, 8, 1))
    assert (later.residents, later.removed, later.total) == (4, 2, 6)
    assert count_people(db, date(1999, 12, 31)).total == 0


@pytest.fixture
def office(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Accounts made on 令和8年1月10日 (clock set back for the trail and the accounts)."""
    monkeypatch.setattr(logs.audit, "now", lambda: PAST)
    monkeypatch.setattr(auth.accounts, "now", lambda: PAST)
    ids = {}
    for login, roles in (("c1", ["clerk"]), ("v1", ["clerk"]), ("a1", ["admin"]),
                         ("au1", ["auditor"]), ("r1", ["reviewer"]), ("x1", ["clerk"]),
                         ("sec", ["security_officer"])):
        ids[login] = account(db, settings, login, roles).id
    monkeypatch.undo()
    staff_record(db, "1001", ids["c1"], employment="正規", training_on=office_day())
    staff_record(db, "9001", ids["v1"], employment="委託先", training_on=office_day())
    return ids


def test_handlers_today_and_rebuilt_for_a_past_date(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    # Today: x1 disabled, v1's rights revoked in a 棚卸し, n1 added.
    disable_user(db, ADMIN, "x1")
    account(db, settings, "n1")
    today = office_day()
    camp = start_campaign(db, settings, ADMIN, deadline=today + timedelta(days=7))
    sec = sign_in(db, settings, "sec", PASSWORD, "192.0.2.1")
    line = next(ln for ln in campaign_lines(db, ADMIN, camp.id) if ln.login == "v1")
    decide(db, sec, line.id, "revoke", "契約終了")

    now_count = count_handlers(db, today, today=today)
    # c1, r1, n1 hold register permissions; a1 (admin), au1, sec do not; x1 disabled;
    # v1 revoked.
    assert (now_count.total, now_count.staff, now_count.contractors, now_count.unlinked,
            now_count.rebuilt) == (3, 1, 0, 2, False)

    then = count_handlers(db, BEFORE, today=today)
    # c1, r1, x1 (disabled later), v1 (revoked later); n1 did not exist yet.
    assert (then.total, then.staff, then.contractors, then.unlinked, then.rebuilt) == \
        (4, 1, 1, 2, True)
    # Before any account was made: nobody.
    assert count_handlers(db, date(2026, 1, 9), today=today).total == 0


def test_serious_incidents_of_the_year_ending_on_the_date(db: Database) -> None:
    add_incident(db, ADMIN, occurred_on=date(2025, 12, 1), summary="帳票の誤送付",
                 serious=True)
    add_incident(db, ADMIN, occurred_on=date(2026, 3, 1), summary="軽微な誤入力",
                 serious=False)
    assert [i.summary for i in serious_in_year(db, date(2026, 11, 30))] == ["帳票の誤送付"]
    assert serious_in_year(db, date(2026, 12, 1)) == []  # exactly a year later: out
    assert serious_in_year(db, date(2025, 11, 30)) == []  # before it happened
    assert [i.kind_label for i in list_incidents(db, ADMIN)] == ["事故", "重大事故"]


def test_incident_bad_input_writes_nothing(db: Database) -> None:
    with pytest.raises(BadInput, match="概要"):
        add_incident(db, ADMIN, occurred_on=date(2026, 1, 1), summary="  ", serious=True)
    with pytest.raises(BadInput, match="発生日"):
        add_incident(db, ADMIN, occurred_on=date(2026, 1, 2), summary="x", serious=True,
                     today=date(2026, 1, 1))
    assert list_incidents(db, ADMIN) == []


def test_assess_records_the_counts_and_refuses_a_clerk(
    db: Database, settings: Settings, office: dict[str, int]
) -> None:
    for _ in range(2):
        _resident(db, date(2000, 1, 1))
    result = assess_threshold(db, ADMIN)
    assert result.people.total == 2 and result.handlers.total == 4
    assert result.judgment.summary == (
        "1,000人未満 / 500人未満 / 発生なし → "
        "特定個人情報保護評価の実施が義務付けられない（任意実施）")
    ev = [e for e in events_after(db, 0, 1000) if e["action"] == "assess.threshold"]
    details = json.loads(ev[-1]["details"])
    assert (details["people"], details["handlers"], ev[-1]["outcome"]) == (2, 4, "success")
    assert details["judgment"] == result.judgment.summary

    clerk = sign_in(db, settings, "c1", PASSWORD, "192.0.2.2")
    with pytest.raises(Refused):
        assess_threshold(db, clerk)
    last = events_after(db, 0, 1000)[-1]
    assert (last["action"], last["outcome"]) == ("assess.threshold", "refused")
    with pytest.raises(BadInput, match="基準日"):
        assess_threshold(db, ADMIN, office_day() + timedelta(days=1))
