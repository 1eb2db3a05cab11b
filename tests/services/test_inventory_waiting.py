"""The 棚卸し from a reviewer's side: the lines in one's charge, and the home screen's line.

``reviewer_lines`` gives the lines assigned to a reviewer (and the unassigned ones to a
security officer), never their own; ``waiting`` (also through
``services.personnel.confirm.waiting``) tells a reviewer how many are still undecided and
an admin when the deadline has come. Both backends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from auth.identity import Identity
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from services.personnel import confirm
from services.personnel.inventory import (
    campaign_lines,
    decide,
    reviewer_lines,
    start_campaign,
    waiting,
)
from tests.factories import ADMIN, enrol, staff_record

AT = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
DEADLINE = date(2026, 6, 30)
BEFORE, ON = date(2026, 6, 20), date(2026, 6, 30)

# login → (roles, staff number or None, 所属)
PEOPLE: dict[str, tuple[list[str], str | None, str]] = {
    "sato": (["clerk"], "1001", "市民課"),
    "suzuki": (["clerk"], "1002", "市民課"),
    "takaha": (["reviewer"], "1003", "市民課"),
    "kato": (["admin"], "2001", "情報政策課"),
    "sec": (["security_officer"], "3001", "総務課"),
    "sec2": (["security_officer"], "3002", "総務課"),
    "vendor": (["clerk"], None, "委託"),
}


@pytest.fixture
def people(db: Database, settings: Settings) -> dict[str, Identity]:
    out = {}
    for login, (roles, no, dept) in PEOPLE.items():
        out[login] = enrol(db, settings, login, roles, department=dept, client="192.0.2.40")
        if no is not None:
            staff_record(db, no, out[login].user_id, department=dept, kana="ショクイン",
                         training_on=date(2026, 1, 10))
    return out


def logins(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [ln.login for ln in lines]


def test_a_reviewer_gets_the_lines_assigned_to_them_never_their_own(
    db: Database, settings: Settings, people: dict[str, Identity],
) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DEADLINE, at=AT)
    takaha, sec, sec2 = people["takaha"], people["sec"], people["sec2"]
    assert logins(reviewer_lines(db, takaha, camp.id)) == ["sato", "suzuki"]
    assert logins(reviewer_lines(db, takaha, camp.id)) == logins(
        campaign_lines(db, ADMIN, camp.id, reviewer="takaha"))
    # a security officer: the lines assigned to them and every unassigned one
    unassigned = logins(campaign_lines(db, ADMIN, camp.id, reviewer=""))
    assert "takaha" in unassigned and "vendor" in unassigned and "sec" not in unassigned
    assert logins(reviewer_lines(db, sec, camp.id)) == sorted(["sec2", *unassigned])
    assert logins(reviewer_lines(db, sec2, camp.id)) == sorted(["sec", *unassigned])
    # the filters
    assert logins(reviewer_lines(db, sec, camp.id, flagged=True)) == logins(
        [ln for ln in reviewer_lines(db, sec, camp.id) if ln.flags])
    decide(db, takaha, next(ln.id for ln in reviewer_lines(db, takaha, camp.id)), "keep")
    assert logins(reviewer_lines(db, takaha, camp.id, undecided=True)) == ["suzuki"]


def test_a_clerk_may_not_list_lines(db: Database, settings: Settings,
                                    people: dict[str, Identity]) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DEADLINE, at=AT)
    with pytest.raises(Refused):
        reviewer_lines(db, people["sato"], camp.id)


def test_the_home_line_counts_the_undecided_lines_in_ones_charge(
    db: Database, settings: Settings, people: dict[str, Identity],
) -> None:
    takaha, kato, sato = people["takaha"], people["kato"], people["sato"]
    assert waiting(db, takaha, BEFORE) == []  # no campaign open
    camp = start_campaign(db, settings, ADMIN, deadline=DEADLINE, at=AT)
    line = "棚卸しの未判定が {n} 件あります（期限 令和8年6月30日）。"
    assert waiting(db, takaha, BEFORE) == [line.format(n=2)]
    assert line.format(n=2) in confirm.waiting(db, settings, takaha, BEFORE)
    first = reviewer_lines(db, takaha, camp.id)[0]
    decide(db, takaha, first.id, "keep")
    assert waiting(db, takaha, BEFORE) == [line.format(n=1)]
    assert waiting(db, sato, BEFORE) == []  # a clerk is asked nothing
    assert confirm.waiting(db, settings, sato, BEFORE) == []
    # the admin: nothing before the deadline, a call to close from the deadline on
    assert waiting(db, kato, BEFORE) == []
    undecided = camp.lines - 1
    assert waiting(db, kato, ON) == [
        f"棚卸し #{camp.id} は期限（令和8年6月30日）を迎えました。締めてください"
        f"（未判定 {undecided} 件）。"]
    assert waiting(db, takaha, date(2026, 7, 1)) == [
        "棚卸しの未判定が 1 件あります（期限 令和8年6月30日を過ぎています）。"]


def test_nothing_is_asked_once_everything_in_ones_charge_is_decided(
    db: Database, settings: Settings, people: dict[str, Identity],
) -> None:
    camp = start_campaign(db, settings, ADMIN, deadline=DEADLINE, at=AT)
    takaha = people["takaha"]
    for ln in reviewer_lines(db, takaha, camp.id):
        decide(db, takaha, ln.id, "revoke", "異動済み")
    assert waiting(db, takaha, BEFORE) == []
    assert reviewer_lines(db, takaha, camp.id, undecided=True) == []
