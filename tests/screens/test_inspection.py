"""自己点検 (F6) through Pilot: a reviewer answers their department's items, another who
answered one cannot sign off, a second person signs off; the threshold judgment on F10.

The rules are the service's (services.assessment.inspection); these tests drive the
screen as staff would and check what is painted, what the database holds and what the
audit trail recorded. Refusal texts come from the service (the same call made again).
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from auth.roles import Perm
from auth.signin import sign_in as service_sign_in
from console.app import JukiApp
from console.context import Context
from core.actor import Actor
from core.errors import BadInput, Refused
from screens.inspection import NO_SHEET, NONE_YET, InspectionScreen
from screens.widgets import MessageLine
from screens.workspaces import workspaces_for
from services.assessment import inspection
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import (
    SIZE,
    audit,
    enter_row,
    open_workspace,
    screen_text,
    settle,
    sign_in,
    type_into,
    wait_until,
)

YEAR = 2026


def _office(ctx: Context) -> inspection.InspectionSummary:
    screen_user(ctx.db, ctx.settings, "rev1", name="確認太郎", roles=("reviewer",),
              department="市民課")
    screen_user(ctx.db, ctx.settings, "rev2", name="確認次郎", roles=("reviewer",),
              department="市民課")
    screen_user(ctx.db, ctx.settings, "sec1", name="安全一郎", roles=("security_officer",),
              department="総務課")
    return inspection.start_inspection(ctx.db, ctx.settings, Actor.cli(), YEAR)


async def open_inspection(pilot: Pilot[Any]) -> InspectionScreen:
    screen = await open_workspace(pilot, "f6", InspectionScreen)
    await wait_until(pilot, lambda: screen.loaded)
    return screen


async def answer_row(pilot: Pilot[Any], screen: InspectionScreen, row: int, value: str,
                     note: str) -> None:
    await enter_row(pilot, screen.query_one("#insp-rows", DataTable), row)
    screen.query_one("#insp-answer", Select).value = value
    await type_into(pilot, "#insp-note", note)
    await pilot.press("f5")
    await settle(pilot)


def _sheet(ctx: Context, insp: inspection.InspectionSummary) -> inspection.SheetView:
    return inspection.get_sheet(ctx.db, Actor.cli(), insp.sheets[0].id)


def test_f6_is_offered_to_holders_of_the_review_permission_only() -> None:
    offered = {p: [w.key for w in workspaces_for(frozenset({p}))] for p in
               (Perm.LOOKUP, Perm.ACCESS_CONFIRM, Perm.AUDIT_READ, Perm.USER_ADMIN)}
    assert "f6" in offered[Perm.ACCESS_CONFIRM]
    assert not any("f6" in offered[p] for p in (Perm.LOOKUP, Perm.AUDIT_READ,
                                                Perm.USER_ADMIN))


async def test_answer_then_self_sign_off_refused_then_a_second_person_signs(
    ctx: Context,
) -> None:
    insp = _office(ctx)
    items = list(insp.items)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        screen = await open_inspection(pilot)
        assert len(screen.table_rows()) == len(items)
        assert screen.table_rows()[0][:4] == [items[0].code, items[0].area,
                                             items[0].question, "未回答"]
        # No evidence note: the service's words, nothing written.
        await answer_row(pilot, screen, 0, "実施", "")
        with pytest.raises(BadInput) as no_note:
            inspection.answer(ctx.db, service_sign_in(ctx.db, ctx.settings, "rev1",
                                                      PASSWORD, "::1"),
                              insp.sheets[0].id, items[0].code, "実施", "")
        assert screen.message == no_note.value.message
        assert _sheet(ctx, insp).answered == 0
        # With a note: registered, shown, recorded.
        await answer_row(pilot, screen, 0, "一部実施", "本人確認記録簿 R8.4〜")
        await wait_until(pilot, lambda: screen.table_rows()[0][3] == "一部実施")
        assert screen.table_rows()[0][4] == "本人確認記録簿 R8.4〜"
        assert "回答1/18" in screen_text(app)
        row = _sheet(ctx, insp).rows[0]
        assert (row.answer, row.note, row.answered_by) == ("一部実施", "本人確認記録簿 R8.4〜",
                                                            "rev1")
        assert ("inspection.answer", "success") in [(a, o) for a, o, _ in audit(ctx.db)]

    # The rest answered by rev1 (through the service), the last item by rev2 on screen.
    rev1 = service_sign_in(ctx.db, ctx.settings, "rev1", PASSWORD, "::1")
    for item in items[1:-1]:
        inspection.answer(ctx.db, rev1, insp.sheets[0].id, item.code, "実施", "記録あり")

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev2", PASSWORD)
        screen = await open_inspection(pilot)
        await answer_row(pilot, screen, len(items) - 1, "該当なし", "")
        await wait_until(pilot, lambda: screen.table_rows()[-1][3] == "該当なし")
        await pilot.press("f9")
        await settle(pilot)
        rev = service_sign_in(ctx.db, ctx.settings, "rev2", PASSWORD, "::1")
        with pytest.raises(Refused) as own:
            inspection.sign_off(ctx.db, rev, insp.sheets[0].id)
        assert screen.message == own.value.message
        assert "自分が回答した点検表は承認できません" in screen.message
        assert _sheet(ctx, insp).signed_at is None
        refused = [d for a, o, d in audit(ctx.db)
                   if a == "inspection.sign_off" and o == "refused"]
        assert refused and refused[0]["reason"] == "self_sign_off"

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec1", PASSWORD)
        screen = await open_inspection(pilot)
        # 総務課 has no sheet this year: said so; F8 steps to 市民課.
        assert NO_SHEET.format(dept="総務課", year="令和8年度").replace(" ", "") in \
            screen_text(app).replace(" ", "")
        await pilot.press("f8")
        await wait_until(pilot, lambda: screen.sheet is not None)
        assert screen.sheet is not None and screen.sheet.department == "市民課"
        await pilot.press("f9")
        await wait_until(pilot, lambda: "承認しました" in screen.message)
        assert "承認済み" in screen_text(app)
        sheet = _sheet(ctx, insp)
        assert (sheet.signed_by, sheet.state_label) == ("sec1", "承認済み")
        # The threshold judgment on F10.
        await pilot.press("f10")
        await wait_until(pilot, lambda: "判断:" in screen.threshold_text)
        assert "1,000人未満 / 500人未満 / 発生なし" in screen.threshold_text




async def test_the_home_screen_says_what_the_inspection_asks(ctx: Context) -> None:
    _office(ctx)
    rev1 = service_sign_in(ctx.db, ctx.settings, "rev1", PASSWORD)
    expected = inspection.waiting_lines(ctx.db, ctx.settings, rev1)
    assert expected  # the unanswered items of 市民課's sheet
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        await wait_until(pilot, lambda: all(
            line.replace(" ", "") in screen_text(app) for line in expected))


async def test_before_any_inspection_the_keys_say_why_nothing_happens(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "rev1", roles=("reviewer",), department="市民課")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        screen = await open_inspection(pilot)
        for key in ("f5", "f9"):
            screen.query_one(MessageLine).clear()
            await pilot.press(key)
            await settle(pilot)
            assert screen.query_one(MessageLine).plain == NONE_YET, key
    assert [a for a, _, _ in audit(ctx.db) if a.startswith("inspection.")] == []
