"""Who may decide a My Number link, table-driven (in the manner of Teleport's
TestReviewThresholds): proposer, reviewers, roles, votes → expected state.

Every row runs on SQLite and PostgreSQL through the public service functions, with staff
who signed in for real. A refused step must leave a recorded refusal and no review; a
bad-input step (missing comment) must leave nothing. After the table: the same four-eyes
rules held by the database against raw SQL, the proposal's input checks, duplicates,
the side-by-side comparison, the queue, unlinking, and the masked audit trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from logs.audit import events_after, verify
from services.linkage.acts import amend, propose, propose_unlink, submit, withdraw
from services.linkage.application import parse_my_number
from services.linkage.decision import approve, reject
from services.linkage.items import (
    DIFF_BIRTH,
    DIFF_KANA,
    DIFF_MISSING,
    DIFF_NOTATION,
    DIFF_SEX,
    DIFF_VALUE,
    DIFF_VARIANT,
    ApplicationSide,
    RegisterSide,
    compare_sides,
)
from services.linkage.models import LinkProposal, LinkReview
from services.linkage.queue import drafts, link_history, open_proposal, pending
from services.linkage.views import compare
from services.register.models import MyNumberLink
from services.register.mynumber import my_number_check_digit
from tests.factories import full_proposal, make_resident, matching_application, my_number, staff
from tests.services.linkage_setup import audit_texts, twelve_digit_runs
from tests.services.test_mynumber import VALID

# --- the table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    op: str  # approve / reject / amend / submit
    who: str
    comment: str = ""
    expect: str = "ok"  # "ok", "refused:<part of the message>", "bad:<part of the message>"
    stale: bool = False  # decide on version 1 although the proposal has moved on


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    state: str  # the proposal's status at the end
    linked: bool  # an active link exists at the end
    approvals: int = 1  # the setting linkage_approvals
    proposer: str = "clerk"
    submit: bool = True
    resident: dict[str, Any] = field(default_factory=dict)
    application: dict[str, Any] = field(default_factory=dict)
    counting: int | None = None  # approvals of the current version at the end


SELF = "refused:自分が作成した申請は確認できません"
NO_PERM = "refused:権限がありません"
DONE = "refused:この申請は既に処理されています"

CASES = [
    Case("one reviewer approves", (Step("approve", "rev1"),), "approved", True),
    Case("the proposer holding the review role cannot approve their own",
         (Step("approve", "both", expect=SELF), Step("approve", "rev1")),
         "approved", True, proposer="both"),
    Case("the proposer cannot reject their own either",
         (Step("reject", "both", "取り下げたい", expect=SELF),), "pending", False,
         proposer="both"),
    Case("a clerk without the review permission is refused",
         (Step("approve", "clerk2", expect=NO_PERM), Step("reject", "clerk2", "x", expect=NO_PERM),
          Step("approve", "aud", expect=NO_PERM)),
         "pending", False),
    Case("the proposing clerk is refused for lack of permission first",
         (Step("approve", "clerk", expect=NO_PERM),), "pending", False),
    Case("threshold 2: one approval leaves it pending",
         (Step("approve", "rev1"),), "pending", False, approvals=2, counting=1),
    Case("threshold 2: the same reviewer twice does not count twice",
         (Step("approve", "rev1"), Step("approve", "rev1", expect="refused:既に確認済み")),
         "pending", False, approvals=2, counting=1),
    Case("threshold 2: a second reviewer approves and it takes effect",
         (Step("approve", "rev1"), Step("approve", "rev2")), "approved", True, approvals=2),
    Case("threshold 2: the proposer cannot be the second approver",
         (Step("approve", "rev1"), Step("approve", "both", expect=SELF)),
         "pending", False, approvals=2, proposer="both", counting=1),
    Case("an edit voids the review made before it",
         (Step("approve", "rev1"), Step("amend", "clerk"), Step("approve", "rev2")),
         "pending", False, approvals=2, counting=1),
    Case("after an edit the voided reviewer approves again and it takes effect",
         (Step("approve", "rev1"), Step("amend", "clerk"), Step("approve", "rev2"),
          Step("approve", "rev1")),
         "approved", True, approvals=2),
    Case("approving the version seen before an edit is refused",
         (Step("amend", "clerk"), Step("approve", "rev1", stale=True,
                                       expect="refused:表示した後に変更されました"),
          Step("approve", "rev1")),
         "approved", True),
    Case("only the proposer may edit",
         (Step("amend", "clerk2", expect="refused:申請者本人だけ"), Step("approve", "rev1")),
         "approved", True),
    Case("reject needs a comment",
         (Step("reject", "rev1", "", expect="bad:コメント"),
          Step("reject", "rev1", "申請書の番号と個人番号カードの番号が違う"),
          Step("approve", "rev2", expect=DONE)),
         "rejected", False),
    Case("one rejection decides even at threshold 2",
         (Step("approve", "rev1"), Step("reject", "rev2", "本人確認書類の期限切れ")),
         "rejected", False, approvals=2),
    Case("a 異体字 difference needs a comment to approve",
         (Step("approve", "rev1", "", expect="bad:コメント"),
          Step("approve", "rev1", "申請書は略字、住民票は髙。本人に確認済み")),
         "approved", True, resident={"family": "髙橋", "family_kana": "タカハシ"},
         application={"name": "高橋 太郎", "kana": "タカハシ タロウ"}),
    Case("a kana difference (清濁) needs a comment to approve",
         (Step("approve", "rev1", "", expect="bad:コメント"),
          Step("approve", "rev1", "読みは住民票どおり")),
         "approved", True, application={"kana": "ヤマタ タロウ"}),
    Case("an address-notation difference needs a comment to approve",
         (Step("approve", "rev1", "", expect="bad:住所"), Step("approve", "rev1", "表記のみ")),
         "approved", True, application={"address": "若葉市若葉町2-3-5"}),
    Case("a draft cannot be decided until it is submitted",
         (Step("approve", "rev1", expect="refused:まだ提出されていません"),
          Step("submit", "clerk"), Step("approve", "rev1")),
         "approved", True, submit=False),
    Case("a decided proposal stays decided",
         (Step("approve", "rev1"), Step("approve", "rev2", expect=DONE),
          Step("reject", "rev2", "やはり却下", expect=DONE)),
         "approved", True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_review_thresholds(db: Database, settings: Settings, case: Case) -> None:
    settings = settings.with_(linkage_approvals=case.approvals)
    people = staff(db, settings)
    rid = make_resident(db, **case.resident)
    number = my_number(45678912345)
    view = full_proposal(db, settings, people[case.proposer], rid, number, submit=case.submit,
                         application=matching_application(**case.application))
    first_version = view.version

    for i, step in enumerate(case.steps):
        ident = people[step.who]
        current = open_proposal(db, people["rev3"], view.id).version
        version = first_version if step.stale else current
        refused_before = _refused_count(db)
        reviews_before = _reviews(db, view.id)

        def act(
            step: Step = step, ident: Any = ident, version: int = version, i: int = i
        ) -> Any:
            if step.op == "approve":
                return approve(db, ident, view.id, version=version, comment=step.comment)
            if step.op == "reject":
                return reject(db, ident, view.id, version=version, comment=step.comment)
            if step.op == "amend":
                return amend(db, settings, ident, view.id, version=version,
                             reference=f"R7-窓口-{i:04d}")
            if step.op == "submit":
                return submit(db, settings, ident, view.id, version=version)
            raise AssertionError(step.op)

        if step.expect == "ok":
            act()
            assert _refused_count(db) == refused_before, step
        else:
            kind, _, words = step.expect.partition(":")
            error = Refused if kind == "refused" else BadInput
            with pytest.raises(error) as caught:
                act()
            assert words in caught.value.message, (step, caught.value.message)
            assert _reviews(db, view.id) == reviews_before, step
            # nothing saved either way, and a refused attempt leaves one event (bad input too)
            assert _refused_count(db) == refused_before + 1, step

    final = open_proposal(db, people["rev3"], view.id)
    assert final.status == case.state
    active = _active_links(db, rid)
    assert (len(active) == 1) is case.linked
    if case.linked:
        assert active[0].number == number and final.link_id == active[0].id
    if case.counting is not None:
        assert final.approvals == case.counting
    assert verify(db).ok


def _refused_count(db: Database) -> int:
    return sum(1 for e in events_after(db, 0, 100_000)
               if e["action"].startswith("linkage.") and e["outcome"] == "refused")


def _reviews(db: Database, proposal_id: int) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(LinkReview).where(
            LinkReview.proposal_id == proposal_id)).one()


def _active_links(db: Database, resident_id: int) -> list[MyNumberLink]:
    with db.read() as s:
        return list(s.exec(select(MyNumberLink).where(
            MyNumberLink.resident_id == resident_id, MyNumberLink.status == "active")).all())


# --- the database holds the same rules against raw SQL --------------------------------


def test_the_database_refuses_a_review_by_the_proposer(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["both", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["both"], rid, my_number(11122233344))
    raw = text(
        "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict, comment,"
        " version, created_at) VALUES (:p, :r, :login, 'approve', '', :v, :t)"
    )
    with pytest.raises(IntegrityError, match="proposer cannot review"), db.write() as s:
        s.execute(raw, {"p": view.id, "r": people["both"].user_id, "login": "both",
                        "v": view.version, "t": view.created_at})
    # The same statement for another person goes in: the trigger is about the person.
    with db.write() as s:
        s.execute(raw, {"p": view.id, "r": people["rev1"].user_id, "login": "rev1",
                        "v": view.version, "t": view.created_at})
    assert _reviews(db, view.id) == 1


def test_the_database_refuses_a_decision_without_the_reviews(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["both", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["both"], rid, my_number(22233344455))
    pid = {"p": view.id}
    for sql, words in [
        ("UPDATE link_proposal SET status = 'approved' WHERE id = :p", "not enough approving"),
        ("UPDATE link_proposal SET status = 'approved', required_approvals = 0 WHERE id = :p",
         "not enough approving"),
        ("UPDATE link_proposal SET status = 'rejected' WHERE id = :p", "no rejecting review"),
        (f"UPDATE link_proposal SET proposer_id = {people['rev1'].user_id} WHERE id = :p",
         "keeps its proposer"),
        ("DELETE FROM link_proposal WHERE id = :p", "kept"),
    ]:
        with pytest.raises(IntegrityError, match=words), db.write() as s:
            s.execute(text(sql), pid)
    # A proposal cannot be born decided either.
    with pytest.raises(IntegrityError, match="decided only by its reviews"), db.write() as s:
        s.execute(text(
            "INSERT INTO link_proposal (kind, resident_id, number, last4, source, reference,"
            " number_check, identity_checks, app_name, app_kana, app_sex, app_address, note,"
            " status, version, required_approvals, proposer_id, proposer_login, created_at,"
            " updated_at) VALUES ('link', :r, '', '', '', '', '', '[]', '', '', '', '', '',"
            " 'approved', 1, 1, :u, 'both', :t, :t)"
        ), {"r": rid, "u": people["both"].user_id, "t": view.created_at})
    # The proposer's own review, written by hand, cannot make the count either.
    with pytest.raises(IntegrityError), db.write() as s:
        s.execute(text(
            "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
            " comment, version, created_at) VALUES (:p, :u, 'both', 'approve', '', 1, :t)"
        ), {"p": view.id, "u": people["both"].user_id, "t": view.created_at})
    assert open_proposal(db, people["rev1"], view.id).status == "pending"


def test_reviews_and_approved_links_are_never_edited(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, my_number(33344455566))
    decision = approve(db, people["rev1"], view.id, version=view.version)
    assert decision.decided and decision.link_id is not None
    link = {"l": decision.link_id, "p": view.id}
    for sql in [
        "UPDATE my_number_link SET number = '111111111118', last4 = '1118' WHERE id = :l",
        "UPDATE my_number_link SET resident_id = resident_id + 1 WHERE id = :l",
        "DELETE FROM my_number_link WHERE id = :l",
        "UPDATE link_review SET verdict = 'reject' WHERE proposal_id = :p",
        "DELETE FROM link_review WHERE proposal_id = :p",
        "UPDATE link_proposal SET note = 'changed' WHERE id = :p",
    ]:
        with pytest.raises(IntegrityError), db.write() as s:
            s.execute(text(sql), link)
    with db.read() as s:
        row = s.get(MyNumberLink, decision.link_id)
        assert row is not None and row.number == my_number(33344455566)


# --- the proposal's input -------------------------------------------------------------


@pytest.mark.parametrize(("typed", "words"), [
    ("", "個人番号: 入力してください"),
    ("12345678901", "12桁で入力してください (入力は11桁です)"),
    ("1234567890188", "12桁で入力してください (入力は13桁です)"),
    ("12345678901a", "数字以外の文字"),
    ("一二三四五六七八九〇一八", "数字以外の文字"),
    ("123456789010", "検査用数字"),
    ("983205673210", "検査用数字"),
    ("213456789018", "検査用数字"),
])
def test_a_bad_number_is_refused_on_entry_and_nothing_is_saved(
    db: Database, settings: Settings, typed: str, words: str
) -> None:
    people = staff(db, settings, ["clerk"])
    rid = make_resident(db)
    with pytest.raises(BadInput) as caught:
        full_proposal(db, settings, people["clerk"], rid, typed)
    assert caught.value.message.startswith("個人番号")
    assert words in caught.value.message
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(LinkProposal)).one() == 0


@pytest.mark.parametrize("number", VALID)
def test_documented_numbers_are_accepted_as_typed_in_any_width(number: str) -> None:
    full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    spaced = f"{number[:4]} {number[4:8]}-{number[8:]}"
    assert parse_my_number(number) == parse_my_number(full_width) == parse_my_number(spaced)
    assert parse_my_number(full_width) == number


@hsettings(max_examples=300)
@given(base=st.text(alphabet="0123456789", min_size=11, max_size=11), delta=st.integers(1, 9))
def test_changing_only_the_last_digit_makes_the_number_bad(base: str, delta: int) -> None:
    good = base + str(my_number_check_digit(base))
    assert parse_my_number(good) == good
    bad = base + str((int(good[-1]) + delta) % 10)
    with pytest.raises(BadInput, match="検査用数字"):
        parse_my_number(bad)


@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=20).filter(
    lambda d: len(d) != 12))
def test_any_other_length_names_its_length(digits: str) -> None:
    with pytest.raises(BadInput, match=f"入力は{len(digits)}桁です"):
        parse_my_number(digits)


def test_submission_needs_the_identity_checks_and_the_application_items(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk"])
    rid = make_resident(db)
    clerk = people["clerk"]
    number = my_number(55566677788)
    base: dict[str, Any] = dict(number=number, source="申請書", reference="A-1",
                                number_check="通知カード", identity_checks=["運転免許証"],
                                application=matching_application())
    for change, words in [
        ({"number_check": ""}, "番号確認"),
        ({"identity_checks": []}, "身元確認"),
        ({"identity_checks": ["年金手帳"]}, "顔写真のない書類2点"),
        ({"identity_checks": ["免許"]}, "選べる書類ではありません"),
        ({"source": "電話"}, "取得元"),
        ({"application": matching_application(address="")}, "住所"),
        ({"application": matching_application(birth="昭和99年")}, "生年月日"),
        ({"application": matching_application(sex="不明")}, "性別"),
    ]:
        with pytest.raises(BadInput, match=words):
            propose(db, settings, clerk, rid, **{**base, **change})
    # Two documents without a photo are enough, and a draft may lack what submission needs.
    two = ["年金手帳", "住民票の写し"]
    ok = propose(db, settings, clerk, rid, **{**base, "identity_checks": two})
    assert ok.status == "pending" and ok.identity_checks == ("年金手帳", "住民票の写し")
    other = make_resident(db)
    draft = propose(db, settings, clerk, other, submit=False, source="住基ネット照会")
    assert draft.status == "draft" and draft.number_masked == ""
    with pytest.raises(BadInput, match="個人番号"):
        submit(db, settings, clerk, draft.id, version=draft.version)
    assert [r.proposal_id for r in drafts(db, clerk)] == [draft.id]


def test_duplicates_are_refused_and_recorded(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk", "clerk2", "rev1"])
    a, b, c = make_resident(db), make_resident(db, given="花子", sex="女"), make_resident(db)
    n1, n2 = my_number(10000000001), my_number(10000000002)
    first = full_proposal(db, settings, people["clerk"], a, n1)
    cases = [
        (b, n1, "この個人番号 (**** **** " + n1[-4:] + ") には確認待ちの申請"),
        (a, n2, "この住民には確認待ちの申請"),
    ]
    for resident, number, words in cases:
        with pytest.raises(Refused) as caught:
            full_proposal(db, settings, people["clerk2"], resident, number)
        assert words in caught.value.message
    approve(db, people["rev1"], first.id, version=first.version)
    with pytest.raises(Refused, match="既に別の住民に紐付けられています"):
        full_proposal(db, settings, people["clerk2"], c, n1)
    with pytest.raises(Refused, match="既に個人番号"):
        full_proposal(db, settings, people["clerk2"], a, n2)
    refusals = [json.loads(e["details"])["reason"] for e in events_after(db, 0, 10_000)
                if e["action"] == "linkage.propose" and e["outcome"] == "refused"]
    assert refusals == ["pending_for_number", "pending_for_resident",
                        "number_linked_elsewhere", "resident_already_linked"]
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(LinkProposal)).one() == 1


def test_the_pending_indexes_hold_even_without_the_service(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, my_number(20000000002))
    with pytest.raises(IntegrityError), db.write() as s:
        s.execute(text(
            "INSERT INTO link_proposal (kind, resident_id, number, last4, source, reference,"
            " number_check, identity_checks, app_name, app_kana, app_sex, app_address, note,"
            " status, version, required_approvals, proposer_id, proposer_login, created_at,"
            " updated_at) VALUES ('link', :r, '', '', '', '', '', '[]', '', '', '', '', '',"
            " 'pending', 1, 1, :u, 'clerk', :t, :t)"
        ), {"r": rid, "u": people["clerk"].user_id, "t": view.created_at})


# --- unlinking is its own proposal ------------------------------------------------------


def test_unlinking_needs_a_second_person_and_keeps_the_history(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["both", "rev1", "rev2"])
    rid = make_resident(db)
    number = my_number(30000000003)
    view = full_proposal(db, settings, people["both"], rid, number)
    link_id = approve(db, people["rev1"], view.id, version=view.version).link_id
    assert link_id is not None
    with pytest.raises(BadInput, match="解除の理由"):
        propose_unlink(db, settings, people["both"], link_id, reason="")
    unlink = propose_unlink(db, settings, people["both"], link_id,
                            reason="家族の番号と取り違え (申請書の記載誤り)")
    assert unlink.kind == "unlink" and compare(unlink) == []
    with pytest.raises(Refused, match="自分が作成した申請"):
        approve(db, people["both"], unlink.id, version=unlink.version)
    assert _active_links(db, rid)[0].id == link_id
    approve(db, people["rev2"], unlink.id, version=unlink.version)
    assert _active_links(db, rid) == []
    with db.read() as s:
        link = s.get(MyNumberLink, link_id)
        assert link is not None and link.status == "revoked" and link.number == number
        assert "取り違え" in link.revoke_reason
    # The number is free again, and the chain link ← proposal ← reviews is kept.
    again = full_proposal(db, settings, people["both"], rid, number)
    assert again.status == "pending"
    kept = open_proposal(db, people["rev2"], view.id)
    assert kept.link_id == link_id and kept.proposer_login == "both"
    assert [(r.reviewer_login, r.verdict, r.counts) for r in kept.reviews] == [
        ("rev1", "approve", True)]
    history = link_history(db, people["rev2"], link_id)
    assert [(h.kind, h.status, h.proposer_login, [r.reviewer_login for r in h.reviews])
            for h in history] == [("link", "approved", "both", ["rev1"]),
                                  ("unlink", "approved", "both", ["rev2"])]


# --- side-by-side comparison ---------------------------------------------------------

REG = RegisterSide(
    resident_id=1, resident_code="10000000001", name="髙橋\u3000太郎", kana="タカハシ\u3000タロウ",
    birth_date=date(1980, 4, 1), sex="男", address="青葉県若葉市霞ケ丘二丁目3番地5号 若葉荘101",
    status="住民", restricted=False,
)
SAME = dict(name="髙橋 太郎", kana="たかはし たろう", birth_date=date(1980, 4, 1), sex="男",
            address="若葉市霞ケ丘二丁目3番地5号 若葉荘101")


@pytest.mark.parametrize(("change", "item", "kind", "detail"), [
    ({}, None, None, ""),
    ({"name": "高橋 太郎"}, "氏名", DIFF_VARIANT, "異体字 高→髙"),
    ({"name": "高橋 次郎"}, "氏名", DIFF_VALUE, "氏名の違い"),
    ({"kana": "タカバシ タロウ"}, "振り仮名", DIFF_KANA, "清濁"),
    ({"kana": "タカハシ タロー"}, "振り仮名", DIFF_KANA, "長音"),
    ({"kana": "スズキ タロウ"}, "振り仮名", DIFF_KANA, "読みの違い"),
    ({"kana": ""}, "振り仮名", DIFF_MISSING, "申請書に振り仮名がありません"),
    ({"birth_date": date(1980, 4, 2)}, "生年月日", DIFF_BIRTH, "生年月日の違い"),
    ({"sex": "女"}, "性別", DIFF_SEX, "性別の違い"),
    ({"address": "霞が丘2-3-5 若葉荘101"}, "住所", DIFF_NOTATION, "住所表記の違い"),
    ({"address": "若葉市霞ケ丘二丁目3番地6号 若葉荘101"}, "住所", DIFF_VALUE, "住所の違い"),
])
def test_compare_names_each_difference(
    change: dict[str, Any], item: str | None, kind: str | None, detail: str
) -> None:
    rows = compare_sides(ApplicationSide(**{**SAME, **change}), REG)
    assert [r.item for r in rows] == ["氏名", "振り仮名", "生年月日", "性別", "住所"]
    differing = [(r.item, r.kind, r.detail) for r in rows if r.differs]
    assert differing == ([] if item is None else [(item, kind, detail)])


def test_compare_shows_both_sides_of_a_real_proposal(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db, family="髙橋", family_kana="タカハシ")
    view = full_proposal(
        db, settings, people["clerk"], rid, my_number(40000000004),
        application=matching_application(name="高橋 太郎", kana="タカハシ タロウ",
                                         birth="S55.4.1", sex="男性"),
    )
    rows = {r.item: r for r in compare(open_proposal(db, people["rev1"], view.id))}
    assert rows["氏名"].application == "高橋 太郎" and rows["氏名"].register == "髙橋\u3000太郎"
    assert rows["氏名"].kind == DIFF_VARIANT
    assert rows["生年月日"].register == "昭和55年4月1日 (1980-04-01)"
    assert not rows["生年月日"].differs
    assert rows["性別"].application == "男" and not rows["性別"].differs
    assert not rows["住所"].differs


# --- the queue ----------------------------------------------------------------------


def test_the_queue_lists_pending_oldest_first_with_age_and_filters(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk", "clerk2", "rev1", "aud"])
    ids = []
    for i, (who, source) in enumerate([("clerk", "窓口"), ("clerk2", "申請書"),
                                       ("clerk", "申請書")]):
        rid = make_resident(db, given=f"太郎{i}")
        v = propose(db, settings, people[who], rid, number=my_number(50000000000 + i),
                    source=source, number_check="個人番号カード",
                    identity_checks=["個人番号カード"],
                    application=matching_application(name=f"山田 太郎{i}"))
        ids.append(v.id)
    draft = propose(db, settings, people["clerk"], make_resident(db), submit=False)
    rows = pending(db, people["rev1"])
    assert [r.proposal_id for r in rows] == ids and draft.id not in ids
    assert rows[0].age >= rows[1].age >= rows[2].age >= timedelta(0)
    assert rows[0].number_masked.startswith("**** **** ") and rows[0].differences == ()
    assert [r.proposal_id for r in pending(db, people["rev1"], source="申請書")] == ids[1:]
    assert [r.proposal_id for r in pending(db, people["rev1"], proposer="clerk")] == [
        ids[0], ids[2]]
    assert pending(db, people["rev1"], min_age=timedelta(days=1)) == []
    mine = pending(db, people["clerk"])
    assert [r.mine for r in mine] == [True, False, True]
    approve(db, people["rev1"], ids[0], version=1)
    assert [r.proposal_id for r in pending(db, people["rev1"])] == ids[1:]
    with pytest.raises(Refused, match="権限"):
        pending(db, people["aud"])
    withdrawn = withdraw(db, people["clerk"], ids[2], version=1, reason="申請者が取下げ")
    assert withdrawn.status == "withdrawn"
    assert [r.proposal_id for r in pending(db, people["rev1"])] == [ids[1]]


# --- the audit trail ---------------------------------------------------------------


def test_every_act_is_recorded_with_the_number_masked(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk", "both", "rev1", "aud"])
    rid = make_resident(db)
    number = my_number(60000000006)
    draft = full_proposal(db, settings, people["both"], rid, number, submit=False)
    view = submit(db, settings, people["both"], draft.id, version=draft.version)
    for who in ("both", "aud"):
        with pytest.raises(Refused):
            approve(db, people[who], view.id, version=view.version)
    approve(db, people["rev1"], view.id, version=view.version)
    other = make_resident(db)
    second = full_proposal(db, settings, people["clerk"], other, my_number(60000000007))
    reject(db, people["rev1"], second.id, version=second.version, comment="書類不備")
    trail = audit_texts(db)
    acts = [(t.split("|")[0], t.split("|")[2]) for t in trail if t.startswith("linkage.")]
    for expected in [("linkage.propose", "success"), ("linkage.submit", "success"),
                     ("linkage.approve", "refused"), ("linkage.approve", "success"),
                     ("linkage.reject", "success")]:
        assert expected in acts
    assert acts.count(("linkage.approve", "refused")) == 2
    whole = "\n".join(trail)
    assert number not in whole and my_number(60000000007) not in whole
    assert twelve_digit_runs(whole) == []
    assert f"**** **** {number[-4:]}" in whole
    self_refusal = [e for e in events_after(db, 0, 10_000)
                    if e["action"] == "linkage.approve" and e["outcome"] == "refused"
                    and json.loads(e["details"])["reason"] == "self_review"]
    assert len(self_refusal) == 1 and self_refusal[0]["severity"] == "high"
    assert verify(db).ok
