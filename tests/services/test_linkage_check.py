"""The periodic check (定期的・体系的な入力誤りの発見) finds what it is for, and only that.

Each finding is planted the way it would really arrive — a number typed into another
system, a backup restored without its indexes, a resident who moved — directly in the
tables, then found by ``check_links``. Both backends.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.actor import Actor
from core.db import Database
from core.errors import BadInput, Refused
from core.sealed import sealer_of
from core.settings import Settings
from logs.audit import events_after, verify
from services.linkage.acts import propose_unlink
from services.linkage.check import (
    BAD_CHECK_DIGIT,
    ITEMS_CHANGED,
    NUMBER_ON_TWO,
    TWO_NUMBERS,
    check_links,
    reconfirm,
)
from services.linkage.decision import approve
from services.linkage.models import LinkFingerprint
from services.register.models import MyNumberLink
from services.register.seed import seed_register
from tests.factories import full_proposal, initial_link, make_resident, my_number, staff
from tests.services.linkage_setup import as_schema_owner, twelve_digit_runs

ACTOR = Actor(login="os:checker")
BAD = "123456789010"  # an invalid example of docs/domain.md §3.1: the check digit should be 8


def _linked(db: Database, settings: Settings, **resident: object) -> tuple[int, int, dict]:
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db, **resident)  # type: ignore[arg-type]
    view = full_proposal(db, settings, people["clerk"], rid, my_number(80000000008))
    link_id = approve(db, people["rev1"], view.id, version=view.version).link_id
    assert link_id is not None
    return rid, link_id, people


def test_seeded_links_get_a_baseline_on_the_first_check_then_pass(db: Database) -> None:
    seed_register(db, ACTOR, residents=300, seed=5)
    with db.read() as s:
        active = len(s.exec(select(MyNumberLink).where(MyNumberLink.status == "active")).all())
    assert active > 250
    first = check_links(db, ACTOR)
    assert first.ok and first.links == active and first.baselined == active
    with db.read() as s:
        origins = {fp.origin for fp in s.exec(select(LinkFingerprint)).all()}
    assert origins == {"基準記録"}
    second = check_links(db, ACTOR)
    assert second.ok and second.baselined == 0 and second.links == active


def test_an_approved_link_is_fingerprinted_and_a_move_is_found(
    db: Database, settings: Settings
) -> None:
    rid, link_id, people = _linked(db, settings)
    with db.read() as s:
        fp = s.get(LinkFingerprint, link_id)
        assert fp is not None and fp.origin == "承認" and fp.proposal_id is not None
    assert check_links(db, ACTOR).ok
    with db.write() as s:  # 転居: another block, and a 方書
        s.execute(text("UPDATE resident SET go = 9, address = '若葉町二丁目3番地9号 若葉荘2'"
                       " WHERE id = :r"), {"r": rid})
    report = check_links(db, ACTOR)
    assert [(f.kind, f.link_id) for f in report.findings] == [(ITEMS_CHANGED, link_id)]
    assert "住所" in report.findings[0].detail and "氏名" not in report.findings[0].detail
    with db.write() as s:  # a 異体字 correction of the name counts as a change too
        s.execute(text("UPDATE resident SET family_name = '山﨑' WHERE id = :r"), {"r": rid})
    detail = check_links(db, ACTOR).findings[0].detail
    assert "氏名" in detail and "住所" in detail

    with pytest.raises(BadInput, match="コメント"):
        reconfirm(db, people["rev1"], link_id, comment=" ")
    with pytest.raises(Refused, match="権限"):
        reconfirm(db, people["clerk"], link_id, comment="確認した")
    reconfirm(db, people["rev1"], link_id, comment="転居届と氏の更正を確認、本人に相違なし")
    assert check_links(db, ACTOR).ok


def test_a_bad_check_digit_and_a_number_on_two_residents_are_found(db: Database) -> None:
    a, b, c = make_resident(db), make_resident(db, given="次郎"), make_resident(db, given="三郎")
    good = my_number(90000000009)
    bad_link = initial_link(db, a, BAD)
    assert check_links(db, ACTOR).counts()[BAD_CHECK_DIGIT] == 1
    # A restored backup without the partial unique index lets one number onto two people.
    with db.write() as s:
        s.execute(text("DROP INDEX uq_my_number_link_active_number"))
    first, second = initial_link(db, b, good), initial_link(db, c, good)
    report = check_links(db, ACTOR)
    found = sorted((f.kind, f.link_id) for f in report.findings)
    assert found == sorted([(BAD_CHECK_DIGIT, bad_link), (NUMBER_ON_TWO, first),
                            (NUMBER_ON_TWO, second)])
    assert not report.ok and report.counts()[TWO_NUMBERS] == 0
    assert {f.number_masked for f in report.findings} == {"**** **** 9010",
                                                          f"**** **** {good[-4:]}"}
    event = [e for e in events_after(db, 0, 10_000) if e["action"] == "linkage.check"][-1]
    assert event["outcome"] == "alert" and event["severity"] == "warning"
    assert json.loads(event["details"])["findings"] == {BAD_CHECK_DIGIT: 1, NUMBER_ON_TWO: 2}
    assert twelve_digit_runs(event["details"]) == []
    assert verify(db).ok


def test_a_revoked_link_is_not_checked(db: Database, settings: Settings) -> None:
    rid, link_id, people = _linked(db, settings)
    rev2 = staff(db, settings, ["rev2"])["rev2"]
    unlink = propose_unlink(db, settings, people["clerk"], link_id, reason="誤った紐付け")
    approve(db, rev2, unlink.id, version=unlink.version)
    with db.write() as s:
        s.execute(text("UPDATE resident SET sex = '女' WHERE id = :r"), {"r": rid})
    report = check_links(db, ACTOR)
    assert report.ok and report.links == 0


def test_an_active_link_without_a_decided_proposal_is_found(
    db: Database, settings: Settings
) -> None:
    """Links the schema's owner wrote by hand: one with no proposal, one naming a proposal
    "approved" by its proposer alone. Both are named, neither is given a baseline; a
    proposal-made link and an 初期移行 link pass."""
    people = staff(db, settings, ["both", "rev1"])
    made = make_resident(db)
    migrated, bare, selfish = (make_resident(db, given=g) for g in ("二郎", "三郎", "四郎"))
    view = full_proposal(db, settings, people["both"], made, my_number(61000000001))
    approve(db, people["rev1"], view.id, version=view.version)
    initial_link(db, migrated, my_number(61000000002))
    own = full_proposal(db, settings, people["both"], selfish, my_number(61000000004))
    sealer = sealer_of(db.engine.dialect)
    with as_schema_owner(db) as conn:
        conn.execute(text(
            "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
            " comment, version, created_at) VALUES (:p, :u, 'both', 'approve', '', 1, :t)"
        ), {"p": own.id, "u": people["both"].user_id, "t": own.created_at})
        conn.execute(text("UPDATE link_proposal SET status = 'approved' WHERE id = :p"),
                     {"p": own.id})
        ids = {}
        for rid, number, proposal in ((bare, my_number(61000000003), None),
                                      (selfish, my_number(61000000004), own.id)):
            conn.execute(text(
                "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source,"
                " status, revoke_reason) VALUES (:r, :n, :l4, :t, '申請', 'active', '')"
            ), {"r": rid, "n": sealer.seal(number), "l4": number[-4:], "t": own.created_at})
            ids[rid] = conn.execute(text("SELECT max(id) FROM my_number_link")).scalar_one()
            if proposal is not None:
                conn.execute(text("UPDATE my_number_link SET proposal_id = :p WHERE id = :l"),
                             {"p": proposal, "l": ids[rid]})
                conn.execute(text("UPDATE link_proposal SET link_id = :l WHERE id = :p"),
                             {"p": proposal, "l": ids[rid]})
    report = check_links(db, ACTOR)
    assert sorted((f.kind, f.link_id) for f in report.findings) == sorted(
        [("承認の記録なし", ids[bare]), ("承認の記録なし", ids[selfish])])
    assert report.baselined == 1  # the 初期移行 link only
    with db.read() as s:
        kept = set(s.exec(select(LinkFingerprint.link_id)).all())
    assert ids[bare] not in kept and ids[selfish] not in kept
    event = [e for e in events_after(db, 0, 10_000) if e["action"] == "linkage.check"][-1]
    assert json.loads(event["details"])["findings"] == {"承認の記録なし": 2}
