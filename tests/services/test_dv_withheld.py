"""DV等支援措置 in every list (issue 18 item 1): marker and name only, without the permission.

A user without ``Perm.OPEN_RESTRICTED`` sees a restricted resident as the 【支援措置】
marker and the name — no address, household number, date of birth or any other item —
in search results, the household tab of a member's record, the linkage queue and review,
and the linkage record (screen rows and CSV). A user with the permission sees the rows
whole. A search that lists a restricted resident is recorded with severity high and
names them. Both backends.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from core.db import Database
from core.settings import Settings
from services.lookup.record import open_record
from services.lookup.search import search
from services.lookup.types import LookupQuery
from services.register.models import Household
from tests.services import lookup_data
from tests.services.lookup_data import PURPOSE, World, build_world


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return build_world(db, settings)


def _search(w: World, who: str, **kw: Any) -> Any:
    return search(w.db, w.settings, w.people[who], LookupQuery(purpose=PURPOSE, **kw))


# --- search results ------------------------------------------------------------------


def test_search_shows_a_restricted_resident_as_marker_and_name_only(world: World) -> None:
    result = _search(world, "clerk", name="サトウ", address="栄町1-1-1")
    hits = {h.resident_id: h for h in result.hits}
    mother = hits[world.ids["DV母"]]
    assert mother.restricted and mother.withheld
    assert mother.name == "佐藤 みどり"
    assert (mother.kana, mother.birth_date, mother.sex, mother.address, mother.status,
            mother.reasons) == ("", None, "", "", "", ())
    assert "栄町" not in repr(result.hits) and "1988" not in repr(result.hits)


def test_search_shows_a_restricted_resident_whole_to_a_dv_officer(world: World) -> None:
    result = _search(world, "dv", name="サトウ", address="栄町1-1-1")
    mother = next(h for h in result.hits if h.resident_id == world.ids["DV母"])
    assert mother.restricted and not mother.withheld
    assert mother.address.startswith("栄町") and mother.birth_date == date(1988, 8, 8)
    assert mother.kana == "サトウ ミドリ" and mother.reasons


def test_a_search_by_household_number_gives_no_other_item_either(world: World) -> None:
    result = _search(world, "clerk", household_no=world.households["dv"])
    assert {h.resident_id for h in result.hits} == {world.ids["DV母"], world.ids["DV子"]}
    assert all(h.withheld and not h.address and h.birth_date is None for h in result.hits)


def test_a_search_listing_a_restricted_resident_is_high_and_says_so(world: World) -> None:
    since = world.seq()
    _search(world, "clerk", name="サトウ", address="栄町1-1-1")
    _search(world, "dv", name="サトウ", address="栄町1-1-1")
    _search(world, "clerk", name="高橋", birth="1980-01-01")
    clerk, dv, plain = world.events(since)
    restricted = sorted([world.ids["DV母"], world.ids["DV子"]])
    for ev in (clerk, dv):
        assert ev["action"] == "register.search" and ev["severity"] == "high"
        assert sorted(ev["details"]["restricted"]) == restricted
    assert clerk["details"]["withheld"] is True and dv["details"]["withheld"] is False
    assert plain["severity"] == "info" and "restricted" not in plain["details"]


# --- the household tab of a member -------------------------------------------------------


def _unrestricted_member(w: World) -> int:
    """A member of the DV household who is not under the measure herself."""
    with w.db.transaction() as conn:
        hid = conn.execute(select(Household.__table__.c.id).where(  # type: ignore[attr-defined]
            Household.__table__.c.household_no == w.households["dv"])).scalar_one()  # type: ignore[attr-defined]
        return lookup_data._resident(conn, hid, family_name="佐藤", given_name="かえで",
                                     family_kana="サトウ", given_kana="カエデ",
                                     birth_date=date(1960, 1, 1), sex="女",
                                     relationship="母")


def test_the_household_tab_withholds_a_restricted_member(world: World) -> None:
    member = _unrestricted_member(world)
    rec = open_record(world.db, world.settings, world.people["clerk"], member, purpose=PURPOSE)
    shown = {m.resident_id: m for m in rec.members}
    mother = shown[world.ids["DV母"]]
    assert mother.restricted and mother.withheld and mother.name == "佐藤 みどり"
    assert (mother.relationship, mother.birth_date, mother.sex, mother.status) == (
        "", None, "", "")
    me = shown[member]
    assert not me.withheld and me.birth_date == date(1960, 1, 1) and me.relationship == "母"

    whole = open_record(world.db, world.settings, world.people["dv"], member, purpose=PURPOSE)
    mother = next(m for m in whole.members if m.resident_id == world.ids["DV母"])
    assert not mother.withheld and mother.birth_date == date(1988, 8, 8)
    assert mother.relationship == "世帯主"
