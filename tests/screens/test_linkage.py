"""個人番号紐付け (F3) through Pilot: propose → review → approve, four eyes, differences.

The service decides (services.linkage); these tests drive the screens as the
clerk and the reviewer would and check what is painted, what the database holds and
what the audit trail recorded. Refusal texts are not copied here: each is taken from the
service itself (its constant, or the same call made again), so the screen is shown to
pass the service's words through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, text
from sqlmodel import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, SelectionList

from auth.identity import Identity
from auth.signin import sign_in as service_sign_in
from console.app import JukiApp
from console.context import Context
from core.db import Database
from core.errors import BadInput
from screens.linkage import DIFF_MARK, LinkageScreen
from screens.lock import LockScreen
from screens.lookup import LookupScreen
from screens.proposal_form import ProposalForm
from screens.proposal_review import APPROVE_REQUIRED, OWN_NOTE, SAME, ReviewScreen
from screens.proposal_words import DIFF_STYLE, SUBMITTED
from screens.resident import NO_NUMBER, RESTRICTED_MARK, ReasonDialog, ResidentScreen
from screens.widgets import CommentDialog, MessageLine
from services.linkage.application import Application, parse_my_number
from services.linkage.decision import approve, reject
from services.linkage.models import STATUS_LABELS, LinkProposal
from services.linkage.rules import ALREADY_DECIDED, SELF_REVIEW
from services.register.models import (
    LINK_ACTIVE,
    MyNumberLink,
)
from services.register.mynumber import mask_my_number
from tests.factories import (
    PASSWORD,
    full_proposal,
    make_resident,
    my_number,
    resident_code,
    screen_user,
)
from tests.screens.drive import (
    SIZE,
    answer,
    audit,
    enter_row,
    open_workspace,
    painted,
    screen_text,
    settle,
    sign_in,
    type_into,
    wait_until,
)

BAD_NUMBER = "123456789010"  # docs/domain.md §3.1: invalid (the check digit should be 8)


# --- the register and the staff ---------------------------------------------------------


def add_resident(
    db: Database, family: str, given: str, family_kana: str, given_kana: str, **over: Any,
) -> tuple[int, str]:
    """One resident of their own household, no number linked, born 昭和60年4月1日 (女)
    unless ``over`` says otherwise; returns (id, 住民票コード)."""
    items: dict[str, Any] = {
        "birth": date(1985, 4, 1), "sex": "女", "became_resident_on": date(2001, 4, 1),
        "address_set_on": date(2001, 4, 1), "notified_on": date(2001, 4, 10), **over,
    }
    rid = make_resident(db, family=family, given=given, family_kana=family_kana,
                        given_kana=given_kana, **items)
    return rid, resident_code(db, rid)


def staff_identity(ctx: Context, login: str, roles: tuple[str, ...]) -> Identity:
    """Enrol a member of staff and open a session for them outside the console."""
    screen_user(ctx.db, ctx.settings, login, roles, name=f"職員{login}")
    return service_sign_in(ctx.db, ctx.settings, login, PASSWORD, "192.0.2.20")


def propose_for(
    ctx: Context, ident: Identity, resident_id: int, number: str, application: Application,
    *, source: str = "窓口",
) -> int:
    return full_proposal(ctx.db, ctx.settings, ident, resident_id, number,
                         application=application, source=source,
                         reference="R7-窓口-0042").id


def proposals(db: Database) -> list[LinkProposal]:
    with db.read() as s:
        return list(s.exec(select(LinkProposal).order_by(LinkProposal.id)).all())  # type: ignore[arg-type]


def active_link(db: Database, resident_id: int) -> MyNumberLink | None:
    with db.read() as s:
        return s.exec(select(MyNumberLink).where(
            MyNumberLink.resident_id == resident_id, MyNumberLink.status == LINK_ACTIVE,
        )).first()


def link_count(db: Database) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(MyNumberLink)).one()


@contextmanager
def proposals_held(db: Database) -> Iterator[None]:
    """Hold the lock a new proposal needs, so a save waits until the block ends."""
    with db.write() as s:
        if db.is_sqlite:
            s.exec(text("SELECT 1"))  # type: ignore[call-overload]  # BEGIN IMMEDIATE
        else:
            s.exec(text("LOCK TABLE link_proposal IN EXCLUSIVE MODE"))  # type: ignore[call-overload]
        yield


# --- driving the screens ------------------------------------------------------------------


def message(app: JukiApp) -> str:
    screen = app.screen
    assert isinstance(screen, (LinkageScreen, ReviewScreen, ProposalForm, ResidentScreen))
    if isinstance(screen, ResidentScreen):
        return screen.query_one(MessageLine).plain
    return screen.message


async def open_record(pilot: Pilot[Any], code: str) -> ResidentScreen:
    """F2, the first 事務, the 住民票コード, Enter on the only row: the record screen."""
    app = pilot.app
    await pilot.press("f2")
    await settle(pilot)
    assert isinstance(app.screen, LookupScreen)
    app.screen.query_one("#purpose", Select).value = app.ctx.settings.lookup_purposes[0]
    await settle(pilot)
    await type_into(pilot, "#resident-code", code)
    await pilot.press("enter")
    await settle(pilot)
    app.screen.query_one("#results", DataTable).focus()
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, ResidentScreen), type(app.screen).__name__
    return app.screen


async def fill_form(pilot: Pilot[Any], number: str, **app_side: str) -> ProposalForm:
    """The form as a clerk fills it at the counter: number, checks, the application's items."""
    form = pilot.app.screen
    assert isinstance(form, ProposalForm), type(form).__name__
    await type_into(pilot, "#number", number)
    form.query_one("#source", Select).value = "窓口"
    await type_into(pilot, "#reference", "R7-窓口-0007")
    form.query_one("#number-check", Select).value = "個人番号カード"
    form.query_one("#identity-checks", SelectionList).select("個人番号カード")
    fields = {"name": "鷹司 美咲", "kana": "タカツカサ ミサキ", "birth": "S60.4.1",
              "address": "青葉県若葉市若葉町二丁目3番地5号"}
    fields.update(app_side)
    for key, value in fields.items():
        await type_into(pilot, f"#app-{key}", value)
    form.query_one("#app-sex", Select).value = "女"
    await settle(pilot)
    return form


async def open_queue(pilot: Pilot[Any]) -> LinkageScreen:
    return await open_workspace(pilot, "f3", LinkageScreen)


async def open_queue_row(pilot: Pilot[Any], proposal_id: int) -> ReviewScreen:
    queue = pilot.app.screen
    assert isinstance(queue, LinkageScreen)
    ids = [r.proposal_id for r in queue.shown_rows()]
    await enter_row(pilot, queue.query_one("#queue", DataTable), ids.index(proposal_id))
    assert isinstance(pilot.app.screen, ReviewScreen), type(pilot.app.screen).__name__
    return pilot.app.screen


async def comment(pilot: Pilot[Any], text: str) -> None:
    await answer(pilot, CommentDialog, text)


def row_of(review: ReviewScreen, item: str) -> list[str]:
    return next(r for r in review.table_rows() if r[0] == item)


# --- the tests ------------------------------------------------------------------------------


async def test_propose_from_the_record_then_a_reviewer_approves(ctx: Context) -> None:
    rid, code = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1", name="山田花子", roles=("clerk",))
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    number = my_number(98765432101)
    masked = mask_my_number(number)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        record = await open_record(pilot, code)
        await pilot.press("m")
        await settle(pilot)
        form = await fill_form(pilot, number)
        assert number not in screen_text(app)  # the field is masked as it is typed
        await pilot.press("f10")
        await settle(pilot)
        assert app.screen is record  # the form closed on submission
        [p] = proposals(ctx.db)
        assert f"申請 #{p.id} 処理中" in record.number_shown  # no second one by mistake
        assert (p.resident_id, p.number, p.status) == (rid, number, "pending")
        assert message(app) == SUBMITTED.format(id=p.id)
        assert form.view is not None and form.view.id == p.id

        await pilot.press("escape", "escape")
        await settle(pilot)
        queue = await open_queue(pilot)
        assert [(r.proposal_id, r.mine) for r in queue.shown_rows()] == [(p.id, True)]
        shown = await painted(pilot, "鷹司美咲", masked.replace(" ", ""), "0/1")
        assert number not in shown
        assert DIFF_MARK not in shown

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        queue = await open_queue(pilot)
        assert [(r.proposal_id, r.mine) for r in queue.shown_rows()] == [(p.id, False)]
        review = await open_queue_row(pilot, p.id)
        rows = review.table_rows()
        assert [r[0] for r in rows] == ["氏名", "振り仮名", "生年月日", "性別", "住所"]
        assert all(r[1] == SAME for r in rows), rows
        assert row_of(review, "氏名")[2:] == ["鷹司 美咲", "鷹司\u3000美咲"]
        await painted(pilot, "山田花子")  # who proposed it

        # The reviewer reads the 12 digits against the evidence, with a reason, for a while.
        assert number not in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        await comment(pilot, "個人番号カードの写しと照合")
        await painted(pilot, number, "秒で伏せます")
        [shown_ev] = [d for a, o, d in audit(ctx.db) if a == "linkage.reveal_number"]
        assert (shown_ev["last4"], shown_ev["reason"]) == (
            number[-4:], "個人番号カードの写しと照合")
        review.mask()
        await settle(pilot)
        assert number not in screen_text(app)

        await pilot.press("a")
        await settle(pilot)
        await comment(pilot, "")  # nothing differs: no comment needed
        assert app.screen is review
        assert message(app).startswith("承認しました。"), message(app)
        assert masked in message(app)

        link = active_link(ctx.db, rid)
        assert link is not None and link.number == number
        approved = [(o, d) for a, o, d in audit(ctx.db) if a == "linkage.approve"]
        assert approved == [("success", approved[0][1])]
        assert approved[0][1]["proposal"] == p.id and approved[0][1]["decided"] is True
        assert [x.status for x in proposals(ctx.db)] == ["approved"]

        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is queue and queue.shown_rows() == []


async def test_bad_check_digit_is_shown_and_nothing_is_saved_then_a_draft_is_finished(
    ctx: Context,
) -> None:
    rid, code = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    with pytest.raises(BadInput) as bad:
        parse_my_number(BAD_NUMBER)
    good = my_number(98305673221)
    wide = good.translate(str.maketrans("0123456789", "０１２３４５６７８９"))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await open_record(pilot, code)
        await pilot.press("m")
        await settle(pilot)
        form = await fill_form(pilot, BAD_NUMBER)
        before = len(audit(ctx.db))
        for key in ("f10", "f9"):  # neither submitting nor saving a draft keeps it
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is form
            assert message(app) == bad.value.message
            assert message(app).startswith("個人番号: ")
            await painted(pilot, bad.value.message.replace(" ", ""))
        assert proposals(ctx.db) == []
        # each refused attempt is recorded, nothing else is (no proposal, no submit)
        assert [(a, o) for a, o, _ in audit(ctx.db)[before:] if a.startswith("linkage.")] == [
            ("linkage.propose", "refused")] * 2

        # Full-width digits are the same number (NFKC): saved as a draft this time.
        await type_into(pilot, "#number", wide)
        await pilot.press("f9")
        await settle(pilot)
        [p] = proposals(ctx.db)
        assert (p.status, p.number, p.resident_id) == ("draft", good, rid)
        assert app.screen is form and f"#{p.id}" in message(app)
        assert form.query_one("#number", Input).value == ""  # not kept on screen

        await pilot.press("escape", "escape", "escape")
        await settle(pilot)
        queue = await open_queue(pilot)
        assert queue.shown_rows() == []
        assert [d.proposal_id for d in queue.drafts] == [p.id]
        await pilot.press("d", "enter")
        await settle(pilot)
        draft_form = app.screen
        assert isinstance(draft_form, ProposalForm) and draft_form.view is not None
        assert draft_form.view.id == p.id
        assert draft_form.query_one("#app-name", Input).value == "鷹司 美咲"
        assert draft_form.query_one("#source", Select).value == "窓口"
        assert mask_my_number(good) in draft_form.query_one("#number", Input).placeholder
        await pilot.press("f10")
        await settle(pilot)
        assert app.screen is queue
        assert message(app) == SUBMITTED.format(id=p.id)
        assert [r.proposal_id for r in queue.shown_rows()] == [p.id]
        assert queue.drafts == []
        [p] = proposals(ctx.db)
        assert p.status == "pending"


async def test_the_proposer_cannot_approve_their_own_proposal(ctx: Context) -> None:
    rid, _ = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    both = staff_identity(ctx, "both1", ("clerk", "reviewer"))  # may propose and review
    pid = propose_for(ctx, both, rid, my_number(11122233344), Application(
        name="鷹司 美咲", kana="タカツカサ ミサキ", birth="1985-04-01", sex="女",
        address="若葉町二丁目3番地5号",
    ))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "both1", PASSWORD)
        queue = await open_queue(pilot)
        assert [(r.proposal_id, r.mine) for r in queue.shown_rows()] == [(pid, True)]
        review = await open_queue_row(pilot, pid)
        assert review.mine
        await painted(pilot, OWN_NOTE.replace(" ", ""))
        before = len(audit(ctx.db))

        for key, action in (("a", "linkage.approve"), ("x", "linkage.reject")):
            await pilot.press(key)  # read-only, but pressed anyway: the service refuses
            await settle(pilot)
            assert app.screen is review
            assert message(app) == SELF_REVIEW
            refused = [(o, d) for a, o, d in audit(ctx.db)[before:] if a == action]
            assert [o for o, _ in refused] == ["refused"]
            assert refused[0][1]["reason"] == "self_review"

        assert active_link(ctx.db, rid) is None
        assert [p.status for p in proposals(ctx.db)] == ["pending"]


async def test_a_variant_and_a_kana_difference_are_flagged_and_need_a_comment(
    ctx: Context,
) -> None:
    rid, _ = add_resident(ctx.db, "髙橋", "一郎", "タカハシ", "イチロウ", sex="男",
                          birth=date(1970, 10, 1))
    dv_rid, _ = add_resident(ctx.db, "鷹司", "静香", "タカツカサ", "シズカ", dv=True)
    clerk = staff_identity(ctx, "clerk1", ("clerk",))
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    pid = propose_for(ctx, clerk, rid, my_number(22233344455), Application(
        name="高橋 一郎", kana="タカバシ イチロウ", birth="昭和45年10月1日", sex="男",
        address="若葉町二丁目3番地5号",
    ))
    dv_pid = propose_for(ctx, clerk, dv_rid, my_number(33344455566), Application(
        name="鷹司 静香", kana="タカツカサ シズカ", birth="1985-04-01", sex="女",
        address="若葉町二丁目3番地5号",
    ), source="申請書")

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        queue = await open_queue(pilot)
        rows = {r.proposal_id: r for r in queue.shown_rows()}
        assert list(rows) == [pid, dv_pid]  # oldest first
        assert rows[pid].differences and not rows[dv_pid].differences
        assert rows[dv_pid].restricted and not rows[pid].restricted
        await painted(pilot, DIFF_MARK, RESTRICTED_MARK)

        queue.query_one("#filter-source", Select).value = "申請書"
        await settle(pilot)
        assert [r.proposal_id for r in queue.shown_rows()] == [dv_pid]
        queue.query_one("#filter-source", Select).clear()
        await settle(pilot)
        queue.query_one("#filter-scope", Select).value = "mine"
        await settle(pilot)
        assert queue.shown_rows() == []  # the reviewer proposed none
        queue.query_one("#filter-scope", Select).value = "others"
        await settle(pilot)
        assert [r.proposal_id for r in queue.shown_rows()] == [pid, dv_pid]

        review = await open_queue_row(pilot, pid)
        name, kana = row_of(review, "氏名"), row_of(review, "振り仮名")
        assert name[2:] == ["高橋 一郎", "髙橋\u3000一郎"]
        assert name[1].startswith("【異体字】") and "高→髙" in name[1]
        assert kana[1].startswith("【振り仮名】"), kana
        assert row_of(review, "生年月日")[1] == SAME
        table = review.query_one("#items", DataTable)
        flagged = {str(table.get_row_at(i)[0]): table.get_row_at(i)[1]
                   for i in range(table.row_count)}
        assert str(flagged["氏名"].style) == DIFF_STYLE
        assert str(flagged["性別"].style) != DIFF_STYLE
        await painted(pilot, "【異体字】高→髙")

        await pilot.press("a")
        await settle(pilot)
        await comment(pilot, "")  # approving a difference without a word: the dialog stays
        assert isinstance(app.screen, CommentDialog)
        dialog = app.screen
        await wait_until(pilot, lambda: dialog.query_one(MessageLine).plain == APPROVE_REQUIRED)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is review
        with pytest.raises(BadInput) as needed:  # and the service refuses it whoever asks
            approve(ctx.db, app.identity, pid, version=1, comment="")  # type: ignore[arg-type]
        assert needed.value.message.startswith("コメント: ") and "異体字" in needed.value.message
        assert active_link(ctx.db, rid) is None and link_count(ctx.db) == 0

        await pilot.press("x")
        await settle(pilot)
        await comment(pilot, "氏名の字体と読みを申請者に確かめる")
        assert message(app) == "却下しました。"
        assert {p.id: p.status for p in proposals(ctx.db)} == {
            pid: "rejected", dv_pid: "pending"}
        rejected = [(o, d) for a, o, d in audit(ctx.db) if a == "linkage.reject"]
        assert [o for o, _ in rejected] == ["success"]
        assert rejected[0][1]["differences"]
        assert link_count(ctx.db) == 0


async def test_two_confirmations_and_a_proposal_decided_by_someone_else_meanwhile(
    ctx: Context,
) -> None:
    ctx.settings = ctx.settings.with_(linkage_approvals=2)
    first, _ = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    second, _ = add_resident(ctx.db, "鷹司", "静香", "タカツカサ", "シズカ")
    clerk = staff_identity(ctx, "clerk1", ("clerk",))
    rev2 = staff_identity(ctx, "rev2", ("reviewer",))
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",))
    same = {"kana": "", "birth": "1985-04-01", "sex": "女", "address": "若葉町二丁目3番地5号"}
    number = my_number(44455566677)
    pid = propose_for(ctx, clerk, first, number, Application(
        name="鷹司 美咲", **{**same, "kana": "タカツカサ ミサキ"}))
    other = propose_for(ctx, clerk, second, my_number(55566677788), Application(
        name="鷹司 静香", **{**same, "kana": "タカツカサ シズカ"}))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        await open_queue(pilot)
        await painted(pilot, "0/2")
        review = await open_queue_row(pilot, pid)
        await pilot.press("a")
        await settle(pilot)
        await comment(pilot, "")
        assert message(app).startswith("承認を記録しました (1/2)"), message(app)
        assert active_link(ctx.db, first) is None  # one of two: nothing linked yet
        assert review.view.approvals == 1 and review.view.status == "pending"
        await painted(pilot, "承認1/2", "確認太郎(rev1)")  # the record, fetched again

        await pilot.press("a")  # the same reviewer again: refused by the service
        await settle(pilot)
        await comment(pilot, "")
        assert "既に確認済み" in message(app)

        approve(ctx.db, rev2, pid, version=1)  # the second person, elsewhere
        link = active_link(ctx.db, first)
        assert link is not None and link.number == number

        await pilot.press("escape")
        await settle(pilot)
        review = await open_queue_row(pilot, other)
        reject(ctx.db, rev2, other, version=1, comment="別人の番号")  # decided meanwhile
        await pilot.press("a")
        await settle(pilot)
        await comment(pilot, "")
        assert message(app) == ALREADY_DECIDED.format(state=STATUS_LABELS["rejected"])
        assert active_link(ctx.db, second) is None
        refused = [d for a, o, d in audit(ctx.db) if a == "linkage.approve" and o == "refused"]
        assert [d["reason"] for d in refused] == ["already_reviewed", "already_decided"]


async def test_a_submission_finishing_under_the_lock_screen_leaves_it_locked(
    ctx: Context,
) -> None:
    rid, code = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        record = await open_record(pilot, code)
        await pilot.press("m")
        await settle(pilot)
        form = await fill_form(pilot, my_number(98765432101))
        with proposals_held(ctx.db):
            await pilot.press("f10")  # the save waits on the database …
            await pilot.press("ctrl+l")  # … while the clerk steps away
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)
        await settle(pilot)
        assert [p.status for p in proposals(ctx.db)] == ["pending"]
        assert isinstance(app.screen, LockScreen)  # the answer did not take the lock away
        assert form in app.screen_stack

        await type_into(pilot, "#unlock-password", PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is record  # back in front, the form closes as it would have
        assert message(app) == SUBMITTED.format(id=proposals(ctx.db)[0].id)
        assert rid == proposals(ctx.db)[0].resident_id


async def test_unlinking_is_proposed_from_the_record_and_decided_by_someone_else(
    ctx: Context,
) -> None:
    rid, code = add_resident(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    _, bare_code = add_resident(ctx.db, "西園寺", "葵", "サイオンジ", "アオイ")
    clerk = staff_identity(ctx, "clerk1", ("clerk",))
    rev = staff_identity(ctx, "rev1", ("reviewer",))
    number = my_number(98765432101)
    pid = propose_for(ctx, clerk, rid, number, Application(
        name="鷹司 美咲", kana="タカツカサ ミサキ", birth="1985-04-01", sex="女",
        address="若葉町二丁目3番地5号",
    ))
    approve(ctx.db, rev, pid, version=1, comment="確認済み")
    link = active_link(ctx.db, rid)
    assert link is not None

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await open_record(pilot, bare_code)
        await pilot.press("u")  # nothing linked: nothing to unlink
        await settle(pilot)
        assert message(app) == NO_NUMBER
        await pilot.press("escape", "escape")
        await settle(pilot)

        record = await open_record(pilot, code)
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ReasonDialog), type(app.screen).__name__
        await type_into(pilot, "#comment", "別人の番号と判明 (本人申出)")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is record
        [unlink] = [p for p in proposals(ctx.db) if p.kind == "unlink"]
        assert (unlink.status, unlink.link_id, unlink.proposer_login) == (
            "pending", link.id, "clerk1")
        assert message(app) == SUBMITTED.format(id=unlink.id)
        assert active_link(ctx.db, rid) is not None  # nothing changes before the review

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        await open_queue(pilot)
        await open_queue_row(pilot, unlink.id)
        await pilot.press("a")
        await settle(pilot)
        await comment(pilot, "本人の申出を確認")
        assert message(app).startswith("承認しました。"), message(app)
    assert active_link(ctx.db, rid) is None
