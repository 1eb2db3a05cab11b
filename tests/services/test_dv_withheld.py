"""DV等支援措置 in every list (issue 18 item 1): marker and name only, without the permission.

A user without ``Perm.OPEN_RESTRICTED`` sees a restricted resident as the 【支援措置】
marker and the name — no address, household number, date of birth or any other item —
in search results, the household tab of a member's record, the linkage queue and review,
and the linkage record (screen rows and CSV). A user with the permission sees the rows
whole. A search that lists a restricted resident is recorded with severity high and
names them. Both backends.
"""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from auth.identity import Identity
from core.actor import Actor
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from services.linkage.decision import approve
from services.linkage.queue import open_proposal, pending
from services.linkage.report import linkage_report
from services.linkage.report_export import CSV_HEADER, export_report
from services.linkage.views import compare
from services.lookup.record import open_record
from services.lookup.search import search
from services.lookup.types import LookupQuery
from services.register.models import Household, Resident
from services.transfer.catalogue import Source, build_record
from services.transfer.config import load_config
from tests.factories import (
    enrol,
    full_proposal,
    make_resident,
    matching_application,
    my_number,
    staff,
)
from tests.services import lookup_data
from tests.services.linkage_setup import events
from tests.services.lookup_data import PURPOSE, World, build_world

# The reported case: 松本 芽依, 東町三丁目11番地7号 コーポさくら 203号室.
ADDRESS = "東町三丁目11番地7号 コーポさくら 203号室"


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return build_world(db, settings)


def _search(w: World, who: str, **kw: Any) -> Any:
    return search(w.db, w.settings, w.people[who], LookupQuery(purpose=PURPOSE, **kw))


# --- search results ------------------------------------------------------------------


def test_search_shows_a_restricted_resident_as_marker_and_name_only(world: World) -> None:
    result = _search(world, "clerk", name="佐藤 みどり", address="栄町1-1-1")
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


def test_a_search_by_household_number_does_not_confirm_her_household(world: World) -> None:
    """Her 世帯番号 is an item withheld for her and names where she lives, as an address
    does: without the permission a 世帯番号 neither finds nor hides her — her own
    household's number lists nobody, as a number of no household does."""
    mine = _search(world, "clerk", household_no=world.households["dv"])
    nobody = _search(world, "clerk", household_no="99999999")
    assert mine.hits == nobody.hits == ()
    whole = _search(world, "dv", household_no=world.households["dv"])
    assert {h.resident_id for h in whole.hits} == {world.ids["DV母"], world.ids["DV子"]}
    assert not any(h.withheld for h in whole.hits)


# --- the search is no oracle for her address (QA: 松本 + 東町三丁目11 / 12) ----------------


def _restricted(result: Any) -> list[Any]:
    return [h for h in result.hits if h.restricted]


def test_a_right_and_a_wrong_address_say_the_same_about_her(world: World) -> None:
    """Without the permission the address typed neither finds nor hides her. What else
    was typed decides, judged alone by the breadth rule: a whole name lists her (withheld)
    at her address, at another one or at one that does not exist; a name part or a birth
    date, too broad alone, lists her nowhere — not even at her own address."""
    for name, expected in (("佐藤 みどり", [world.ids["DV母"]]), ("サトウ", [])):
        right = _search(world, "clerk", name=name, address="栄町1-1-1")
        answers = [_search(world, "clerk", name=name, address=wrong)
                   for wrong in ("栄町1-1-2", "旭町1-1-1", "存在しない町1-1")]
        assert [h.resident_id for h in _restricted(right)] == expected, name
        for other in answers:
            assert _restricted(other) == _restricted(right), name
        assert all(h.withheld for r in [right, *answers] for h in _restricted(r))
    # 生年月日 (too broad alone), 住民票コード and 個人番号 are not her address either.
    for who, kw, expected in (("clerk", {"birth": "1988-08-08"}, []),
                              ("reviewer", {"my_number": lookup_data.SMALL_NUMBER},
                               [world.ids["DV母"]])):
        at_home = _search(world, who, address="栄町1-1-1", **kw)
        elsewhere = _search(world, who, address="旭町1-1-1", **kw)
        assert [h.resident_id for h in _restricted(elsewhere)] == expected, kw
        assert _restricted(elsewhere) == _restricted(at_home), kw
    with world.db.read() as s:
        mother = s.get(Resident, world.ids["DV母"])
        assert mother is not None
        code = mother.resident_code
    far = _search(world, "clerk", resident_code=code, address="旭町1-1-1")
    assert [h.resident_id for h in far.hits] == [world.ids["DV母"]] and far.hits[0].withheld


def test_a_wrong_address_is_recorded_as_listing_her(world: World) -> None:
    since = world.seq()
    _search(world, "clerk", name="佐藤 みどり", address="旭町1-1-1")
    [ev] = world.events(since)
    assert ev["severity"] == "high" and ev["details"]["restricted"] == [world.ids["DV母"]]
    assert ev["details"]["withheld"] is True


def test_an_address_with_no_other_item_never_lists_her(world: World) -> None:
    """An address, or an address and 性別 (which only filters), says nothing of her: she is
    not listed at her own address (the query here is made narrow by a 世帯番号 of another
    household, which is not hers either)."""
    for kw in ({}, {"sex": "女"}):
        result = _search(world, "clerk", address="栄町1-1-1",
                         household_no=world.households["suzuki"], **kw)
        assert result.hits == (), kw
    whole = _search(world, "dv", address="栄町1-1-1", household_no=world.households["dv"])
    assert {h.resident_id for h in whole.hits} == {world.ids["DV母"], world.ids["DV子"]}


def test_a_dv_officer_finds_her_only_at_her_address(world: World) -> None:
    """Unchanged for a reader who may see her: the address is a condition like any other."""
    right = _search(world, "dv", name="サトウ", address="栄町1-1-1")
    wrong = _search(world, "dv", name="サトウ", address="栄町1-1-2")
    assert {h.resident_id for h in _restricted(right)} == {world.ids["DV母"], world.ids["DV子"]}
    assert not any(h.withheld for h in right.hits)
    assert _restricted(wrong) == []


def test_she_takes_her_place_in_the_ranking_and_the_cap(world: World) -> None:
    """Merged in rank order (exact before variant, then reading, then id) within the cap:
    a name part with an address lists the others as the dv officer sees them, and her
    not at all (the part is too broad alone); a whole name lists her in her place."""
    for kw in ({"name": "サトウ", "address": "栄町"}, {"name": "佐藤", "address": "栄町1"}):
        seen = _search(world, "dv", **kw)
        shown = _search(world, "clerk", **kw)
        others = [h.resident_id for h in seen.hits if h.resident_id not in (
            world.ids["DV母"], world.ids["DV子"])]
        assert [h.resident_id for h in shown.hits] == others, kw
    one = world.settings.with_(lookup_max_results=1)
    capped = search(world.db, one, world.people["clerk"],
                    LookupQuery(purpose=PURPOSE, name="佐藤 そら", address="旭町"))
    assert [h.resident_id for h in capped.hits] == [world.ids["DV子"]] and not capped.capped


def test_a_search_listing_a_restricted_resident_is_high_and_says_so(world: World) -> None:
    since = world.seq()
    _search(world, "clerk", name="佐藤 みどり", address="栄町1-1-1")
    _search(world, "dv", name="サトウ", address="栄町1-1-1")
    _search(world, "clerk", name="高橋", birth="1980-01-01")
    clerk, dv, plain = world.events(since)
    for ev, restricted in ((clerk, [world.ids["DV母"]]),
                           (dv, sorted([world.ids["DV母"], world.ids["DV子"]]))):
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


# --- the linkage queue, review and record ----------------------------------------------


class Linkage:
    """A restricted resident (the reported one) with a pending proposal."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.people: dict[str, Identity] = staff(db, settings, ["clerk", "rev1", "aud"])
        self.people["dvrev"] = enrol(db, settings, "dvrev", ["reviewer", "dv_officer"])
        self.rid = make_resident(db, family="松本", given="芽依", family_kana="マツモト",
                                 given_kana="メイ", sex="女", birth=date(1992, 6, 3),
                                 town="東町", chome=3, banchi=11, go=7,
                                 katagaki="コーポさくら 203号室", dv=True)
        with db.read() as s:
            found = s.get(Resident, self.rid)
            assert found is not None
            self.code = found.resident_code
        self.number = my_number(80000000011)
        app = matching_application(name="松本 芽依", kana="マツモト メイ",
                                   birth="1992-06-03", sex="女",
                                   address="青葉県若葉市" + ADDRESS.replace(" ", ""))
        self.view = full_proposal(db, settings, self.people["clerk"], self.rid, self.number,
                                  application=app)


@pytest.fixture
def linkage(db: Database, settings: Settings) -> Linkage:
    return Linkage(db, settings)


def _no_item(obj: Any, code: str, number: str) -> None:
    text = repr(obj)
    for leaked in ("東町", "コーポさくら", "1992", code, number[-4:], "R7-窓口"):
        assert leaked not in text, leaked


def test_the_queue_withholds_a_restricted_resident(linkage: Linkage) -> None:
    [row] = pending(linkage.db, linkage.people["rev1"])
    assert row.restricted and row.withheld and row.resident_name == "松本\u3000芽依"
    assert row.number_masked == "" and row.differences == ()
    _no_item(row, linkage.code, linkage.number)
    [whole] = pending(linkage.db, linkage.people["dvrev"])
    assert not whole.withheld and whole.number_masked.endswith(linkage.number[-4:])


def test_the_review_withholds_a_restricted_resident(linkage: Linkage) -> None:
    view = open_proposal(linkage.db, linkage.people["rev1"], linkage.view.id)
    assert view.withheld and view.register.withheld
    assert view.register.name == "松本\u3000芽依" and view.register.restricted
    reg, app = view.register, view.application
    assert (reg.resident_code, reg.kana, reg.birth_date, reg.sex, reg.address) == (
        "", "", None, "", "")
    assert (app.name, app.kana, app.birth_date, app.sex, app.address) == ("", "", None, "", "")
    assert (view.number_masked, view.reference, view.identity_checks) == ("", "", ())
    assert compare(view) == []
    _no_item(view, linkage.code, linkage.number)

    whole = open_proposal(linkage.db, linkage.people["dvrev"], linkage.view.id)
    assert not whole.withheld and "コーポさくら" in whole.register.address
    assert whole.register.resident_code == linkage.code and compare(whole)


def test_approving_a_restricted_resident_needs_the_permission(linkage: Linkage) -> None:
    """The reviewer who is shown the name only cannot compare the items: approving is
    refused (recorded, high); a reviewer who also holds the DV permission approves."""
    v = linkage.view
    with pytest.raises(Refused) as refused:
        approve(linkage.db, linkage.people["rev1"], v.id, version=v.version)
    assert "支援措置" in refused.value.message
    [ev] = [e for e in events(linkage.db, "linkage.approve") if e["outcome"] == "refused"]
    assert ev["severity"] == "high" and '"restricted"' in ev["details"]
    done = approve(linkage.db, linkage.people["dvrev"], v.id, version=v.version)
    assert done.decided and done.link_id is not None


def _approved(linkage: Linkage) -> None:
    v = linkage.view
    approve(linkage.db, linkage.people["dvrev"], v.id, version=v.version)


def test_the_linkage_record_withholds_a_restricted_resident(linkage: Linkage) -> None:
    _approved(linkage)
    today = linkage.view.created_at.date()
    period = {"start": today.replace(day=1), "end": date(today.year + 1, 1, 1)}
    [row] = linkage_report(linkage.db, linkage.people["aud"], **period)
    assert row.restricted and row.withheld and row.resident_name == "松本\u3000芽依"
    assert (row.resident_code, row.number_masked, row.reference, row.identity_checks) == (
        "", "", "", ())
    assert row.proposer_login == "clerk" and [r.login for r in row.reviews] == ["dvrev"]
    _no_item(row, linkage.code, linkage.number)
    [whole] = linkage_report(linkage.db, linkage.people["dvrev"], **period)
    assert not whole.withheld and whole.resident_code == linkage.code


def test_the_linkage_record_csv_withholds_a_restricted_resident(
    linkage: Linkage, tmp_path: Any
) -> None:
    _approved(linkage)
    today = linkage.view.created_at.date()
    period = {"start": today.replace(day=1), "end": date(today.year + 1, 1, 1)}
    for who, name in ((Actor.cli(), "cli.csv"), (linkage.people["aud"], "aud.csv")):
        out = export_report(linkage.db, linkage.settings, who, fmt="csv",
                            path=tmp_path / name, **period)
        text = out.path.read_bytes().decode("utf-8-sig")
        [row] = list(csv.DictReader(io.StringIO(text)))
        assert row["氏名"] == "松本\u3000芽依" and "支援措置" in row["備考"]
        assert row["住民票コード"] == "" and row["個人番号"] == ""
        assert linkage.code not in text and linkage.number[-4:] not in text
    out = export_report(linkage.db, linkage.settings, linkage.people["dvrev"], fmt="csv",
                        path=tmp_path / "dv.csv", **period)
    [row] = list(csv.DictReader(io.StringIO(out.path.read_bytes().decode("utf-8-sig"))))
    assert row["住民票コード"] == linkage.code and set(row) == set(CSV_HEADER)


# --- transfers ---------------------------------------------------------------------------


def test_a_transfer_carries_the_restricted_flag_with_the_items(
    db: Database, settings: Settings
) -> None:
    """System to system, a legal duty: the receiving system gets the resident's record
    whole (it needs the current address for its own work) and, where its list has it,
    the 支援措置 flag, so that it applies the measure itself (送付等の停止)."""
    rid = make_resident(db, family="松本", given="芽依", town="東町", chome=3, banchi=11,
                        go=7, katagaki="コーポさくら 203号室", dv=True)
    atena = load_config(settings).get("atena")
    with db.read() as s:
        resident = s.get(Resident, rid)
        household = s.get(Household, resident.household_id)  # type: ignore[union-attr]
        rec = build_record(atena.items, Source(resident, household, None))  # type: ignore[arg-type]
    assert rec["支援措置"] is True and "コーポさくら" in str(rec["住所"])


def test_every_withheld_row_type_declares_what_it_keeps() -> None:
    """Fail closed: a field added to a row later is withheld unless named as kept."""
    from services.linkage.report import ReportRow
    from services.linkage.views import ProposalView, QueueRow
    from services.lookup.types import Hit, Member

    for cls in (Hit, Member, QueueRow, ProposalView, ReportRow):
        names = {f.name for f in fields(cls)}
        assert "withheld" in names, cls
        assert cls.KEPT_WHEN_WITHHELD <= names, cls  # type: ignore[attr-defined]
        assert not {"address", "birth_date", "resident_code", "number_masked",
                    "household_no"} & cls.KEPT_WHEN_WITHHELD, cls  # type: ignore[attr-defined]
