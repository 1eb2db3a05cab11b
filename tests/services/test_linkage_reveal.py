"""The reviewer reads the proposed number itself before deciding (docs/domain.md §8.1):
reveal_proposed_number needs the review and the reveal permission, a reason, and leaves
only the last four digits in the trail."""

from __future__ import annotations

import json

import pytest

from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from services.linkage.reveal import NO_NUMBER, reveal_proposed_number
from tests.factories import full_proposal, make_resident, my_number, staff
from tests.services.linkage_setup import audit_texts, events, twelve_digit_runs

NUMBER = my_number(31415926535)


def _outcomes(db: Database) -> list[tuple[str, str]]:
    return [(e["outcome"], json.loads(e["details"]).get("reason", ""))
            for e in events(db, "linkage.reveal_number")]


def test_a_reviewer_sees_the_number_for_the_set_time_and_only_its_last_four_are_kept(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    view = full_proposal(db, settings, people["clerk"], make_resident(db), NUMBER)
    shown = reveal_proposed_number(db, settings.with_(reveal_seconds=20), people["rev1"],
                                   view.id, reason="個人番号カードの写しと照合")
    assert shown.number.replace(" ", "") == NUMBER and shown.number.count(" ") == 2
    [ev] = events(db, "linkage.reveal_number")
    details = json.loads(ev["details"])
    assert (ev["outcome"], ev["target"], details["last4"], details["reason"]) == (
        "success", f"proposal:{view.id}", NUMBER[-4:], "個人番号カードの写しと照合")
    assert twelve_digit_runs("\n".join(audit_texts(db))) == []


def test_who_may_not_or_gives_no_reason_is_refused_and_recorded(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "clerk2", "rev1"])
    view = full_proposal(db, settings, people["clerk"], make_resident(db), NUMBER)
    with pytest.raises(Refused):  # a clerk holds neither the review nor the reveal
        reveal_proposed_number(db, settings, people["clerk2"], view.id, reason="確認")
    with pytest.raises(BadInput, match="理由"):
        reveal_proposed_number(db, settings, people["rev1"], view.id, reason="  ")
    assert _outcomes(db) == [("refused", "permission"), ("refused", "bad_input")]


def test_a_restricted_resident_needs_the_restricted_permission_too(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    view = full_proposal(db, settings, people["clerk"], make_resident(db, dv=True), NUMBER)
    with pytest.raises(Refused):
        reveal_proposed_number(db, settings, people["rev1"], view.id, reason="照合")
    [ev] = events(db, "linkage.reveal_number")
    assert (ev["outcome"], ev["severity"]) == ("refused", "high")


def test_a_draft_without_a_number_has_nothing_to_show(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["both", "rev1"])
    draft = full_proposal(db, settings, people["both"], make_resident(db), "", submit=False)
    with pytest.raises(NotFound, match=NO_NUMBER):
        reveal_proposed_number(db, settings, people["rev1"], draft.id, reason="照合")


def test_the_record_names_the_open_proposal_until_it_is_decided(
    db: Database, settings: Settings,
) -> None:
    from services.linkage.decision import approve
    from services.lookup.record import open_record

    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    purpose = settings.lookup_purposes[0]

    def open_now() -> int | None:
        return open_record(db, settings, people["clerk"], rid, purpose=purpose).open_proposal

    assert open_now() is None
    view = full_proposal(db, settings, people["clerk"], rid, NUMBER)
    assert open_now() == view.id
    approve(db, people["rev1"], view.id, version=view.version, comment="照合済み")
    assert open_now() is None
