"""権限の棚卸し through Pilot: keep and revoke, self-review refused, filters, starting one.

The service decides (services.personnel.inventory); these tests open F4, press ``t`` and
act as the reviewer, the security officer and the admin would, then check what is
painted, what the database holds (roles via ``auth.accounts.list_users``) and what the
audit trail recorded. Refusal texts are taken from the service itself (the same call
made again), never copied here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from auth.accounts import list_users
from auth.signin import sign_in as service_sign_in
from console.app import JukiApp
from console.context import Context
from core.errors import BadInput, Refused
from screens.access_inventory import KEPT, REVOKED, AccessInventoryScreen
from screens.access_review import AccessReviewScreen
from screens.home import HomeScreen
from screens.widgets import CommentDialog
from services.jp.wareki import parse_date
from services.personnel.inventory import (
    campaign_lines,
    decide,
    get_line,
    list_campaigns,
    start_campaign,
)
from tests.factories import ADMIN, PASSWORD
from tests.screens.drive import (
    SIZE,
    audit,
    open_workspace,
    painted,
    press,
    screen_text,
    sign_in,
    to_row,
    type_into,
    wait_until,
)
from tests.services.personnel_setup import registry

WIDE = (220, 40)
DEADLINE = date(2040, 3, 31)  # a deadline the test's real "today" never passes


def campaign(ctx: Context) -> int:
    return start_campaign(ctx.db, ctx.settings, ADMIN, deadline=DEADLINE).id


def roles_of(ctx: Context, login: str) -> tuple[str, ...]:
    return next(a.roles for a in list_users(ctx.db) if a.login == login)


def outcomes(ctx: Context, action: str) -> list[str]:
    return [o for a, o, _ in audit(ctx.db) if a == action]


async def open_inventory(pilot: Pilot[Any]) -> AccessInventoryScreen:
    await open_workspace(pilot, "f4", AccessReviewScreen)
    await press(pilot, "t")
    screen = pilot.app.screen
    assert isinstance(screen, AccessInventoryScreen), type(screen).__name__
    await wait_until(pilot, lambda: screen.loaded)
    return screen


async def choose(pilot: Pilot[Any], screen: AccessInventoryScreen, login: str) -> None:
    await wait_until(pilot, lambda: login in [ln.login for ln in screen.shown_lines()])
    await to_row(pilot, screen.query_one("#inventory-lines", DataTable),
                 [ln.login for ln in screen.shown_lines()].index(login))


def row_for(screen: AccessInventoryScreen, login: str) -> list[str]:
    return next(r for r in screen.table_rows() if r[0] == login)


async def test_a_reviewer_keeps_one_line_and_revokes_another(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    camp_id = campaign(ctx)
    assert roles_of(ctx, "suzuki") == ("clerk",)

    app = JukiApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        await sign_in(pilot, "takaha", PASSWORD)
        screen = await open_inventory(pilot)
        assert screen.campaign is not None and screen.campaign.id == camp_id
        await painted(pilot, f"棚卸し#{camp_id}", "実施中", "令和22年3月31日")
        # every account is listed; sato's line is assigned to takaha, 市民課 事務担当
        assert {"sato", "suzuki", "kato", "sec"} <= {r[0] for r in screen.table_rows()}
        assert row_for(screen, "sato")[2:4] == ["市民課", "事務担当"]
        assert row_for(screen, "sato")[5:7] == ["takaha", "未判定"]

        # 自分の担当のみ: the two clerks of 市民課
        await press(pilot, "m")
        await wait_until(pilot, lambda: [r[0] for r in screen.table_rows()] == ["sato", "suzuki"])

        await choose(pilot, screen, "sato")
        await press(pilot, "k")
        sato = get_line(ctx.db, ADMIN, screen.lines[0].id)
        assert screen.message == KEPT.format(id=sato.id, login="sato")
        assert (sato.decision, sato.decided_by) == ("keep", "takaha")
        await wait_until(pilot, lambda: row_for(screen, "sato")[6:8] == ["継続", "takaha"])

        await choose(pilot, screen, "suzuki")
        await press(pilot, "x")
        assert isinstance(pilot.app.screen, CommentDialog)
        await type_into(pilot, "#comment", "3月末で退職 [b]済[/b]")
        await press(pilot, "enter")
        suzuki = next(ln for ln in campaign_lines(ctx.db, ADMIN, camp_id)
                      if ln.login == "suzuki")
        assert screen.message == REVOKED.format(id=suzuki.id, login="suzuki", roles="事務担当")
        assert (suzuki.decision, suzuki.comment) == ("revoke", "3月末で退職 [b]済[/b]")
        assert roles_of(ctx, "suzuki") == () and roles_of(ctx, "sato") == ("clerk",)
        await wait_until(pilot, lambda: row_for(screen, "suzuki")[6] == "削除")
        assert row_for(screen, "suzuki")[8] == "3月末で退職 [b]済[/b]"
        await painted(pilot, "継続", "削除", "[b]済[/b]")

        # 未判定のみ: nothing left in takaha's charge
        await press(pilot, "u")
        await wait_until(pilot, lambda: screen.table_rows() == [])
    assert outcomes(ctx, "access.inventory.keep") == ["success"]
    assert outcomes(ctx, "access.inventory.revoke") == ["success"]


async def test_self_review_is_refused_on_screen(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    camp_id = campaign(ctx)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec", PASSWORD)
        screen = await open_inventory(pilot)
        await choose(pilot, screen, "sec")
        await press(pilot, "k")
        refused = screen.message
        await painted(pilot, refused)
        await choose(pilot, screen, "sec")
        await press(pilot, "x")
        await type_into(pilot, "#comment", "自分で")
        await press(pilot, "enter")
        assert screen.message == refused
        own = next(ln for ln in campaign_lines(ctx.db, ADMIN, camp_id) if ln.login == "sec")
        assert own.decision == "" and roles_of(ctx, "sec") == ("security_officer",)
        assert row_for(screen, "sec")[6] == "未判定"

    assert outcomes(ctx, "access.inventory.keep") == ["refused"]
    assert outcomes(ctx, "access.inventory.revoke") == ["refused"]
    sec = service_sign_in(ctx.db, ctx.settings, "sec", PASSWORD)
    with pytest.raises(Refused) as info:
        decide(ctx.db, sec, own.id, "keep")
    assert refused == info.value.message and "自分自身" in refused


async def test_a_clerk_does_not_see_f4(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    campaign(ctx)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sato", PASSWORD)
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        assert "access" not in [ws.name for ws in home.workspaces]
        assert "権限見直し" not in screen_text(app)
        await press(pilot, "f4")
        assert pilot.app.screen is home
        assert home.todo == []  # nothing of the 棚卸し is asked of a clerk


async def test_an_admin_starts_a_campaign_with_a_wareki_deadline(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "kato", PASSWORD)
        screen = await open_inventory(pilot)
        assert screen.campaign is None
        await painted(pilot, "棚卸しはまだありません")
        # k/x are not offered to an admin without the review permission
        shown = {b.binding.action for b in screen.active_bindings.values()}
        assert "start" in shown and "decide('keep')" not in shown

        await press(pilot, "s")
        await type_into(pilot, "#deadline", "令和8年13月1日")
        await press(pilot, "enter")
        with pytest.raises(BadInput) as info:
            parse_date("令和8年13月1日", field="期限")
        assert screen.message == info.value.message
        assert list_campaigns(ctx.db, ADMIN) == []

        await type_into(pilot, "#deadline", "令和22年3月31日")
        await press(pilot, "enter")
        await wait_until(pilot, lambda: screen.campaign is not None)
        [camp] = list_campaigns(ctx.db, ADMIN)
        assert camp.deadline == DEADLINE and camp.started_by == "kato"
        assert f"棚卸し #{camp.id} を開始しました" in screen.message
        assert len(screen.lines) == camp.lines

        # a second one while it is open: said at once, before a deadline is asked, in the
        # service's words (the service refuses it too, and records that)
        await press(pilot, "s")
        assert not screen.query_one("#deadline", Input).display
        kato = service_sign_in(ctx.db, ctx.settings, "kato", PASSWORD)
        with pytest.raises(Refused) as again:
            start_campaign(ctx.db, ctx.settings, kato, deadline=date(2040, 4, 30))
        assert screen.message == again.value.message
    assert outcomes(ctx, "access.inventory.start") == ["success", "refused"]


async def test_the_home_screen_tells_a_reviewer_of_the_open_campaign(ctx: Context) -> None:
    registry(ctx.db, ctx.settings)
    campaign(ctx)

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "takaha", PASSWORD)
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        line = "棚卸しの未判定が 2 件あります（期限 令和22年3月31日）。"
        await wait_until(pilot, lambda: line in home.todo)
        await painted(pilot, line)
