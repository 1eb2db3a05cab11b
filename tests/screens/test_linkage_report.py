"""紐付け記録 (F3 → t) through Pilot: a reviewer lists the record and exports a CSV; a clerk
is refused in the service's words.

Links are made through the services (a clerk proposes, a reviewer approves), then the
screen is driven as staff would. What the screen must show is taken from the service (its
rows, its refusal, the file it wrote), not copied here.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from console.app import JukiApp
from console.context import Context
from core.errors import Refused
from screens.linkage_report import LinkageReportScreen
from services.linkage.application import Application
from services.linkage.decision import approve
from services.linkage.queue import open_proposal
from services.linkage.report import linkage_report
from services.register.mynumber import mask_my_number
from tests.factories import PASSWORD, my_number
from tests.screens.drive import SIZE, audit, settle, sign_in
from tests.screens.test_linkage import add_resident, open_queue, propose_for, staff_identity


def link_two(ctx: Context) -> list[str]:
    """Two residents linked through proposal and review; their numbers."""
    clerk = staff_identity(ctx, "clerk1", ("clerk",))
    reviewer = staff_identity(ctx, "rev1", ("reviewer",))
    numbers = []
    for i, (given, kana) in enumerate((("美咲", "ミサキ"), ("健太", "ケンタ"))):
        rid, _ = add_resident(ctx.db, "鷹司", given, "タカツカサ", kana)
        number = my_number(98765432101 + i * 1000)
        pid = propose_for(ctx, clerk, rid, number, Application(
            name=f"鷹司 {given}", kana=f"タカツカサ {kana}", birth="S60.4.1", sex="女",
            address="青葉県若葉市若葉町二丁目3番地5号"))
        view = open_proposal(ctx.db, reviewer, pid)
        approve(ctx.db, reviewer, pid, version=view.version, comment="確認済み")
        numbers.append(number)
    return numbers


async def open_report(pilot: Pilot[Any]) -> LinkageReportScreen:
    await open_queue(pilot)
    await pilot.press("t")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LinkageReportScreen), type(screen).__name__
    return screen


async def test_a_reviewer_lists_the_record_page_by_page_and_exports_a_csv(
    ctx: Context,
) -> None:
    numbers = link_two(ctx)
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        screen = await open_report(pilot)
        screen.page_size = 1
        await pilot.press("f5")
        await settle(pilot)
        assert screen.message == "", screen.message
        assert len(screen.rows) == 2
        shown = {mask_my_number(n) for n in numbers}
        [first] = screen.table_rows()
        await pilot.press("f8")
        await settle(pilot)
        [second] = screen.table_rows()
        assert {first[6], second[6]} == shown
        assert {first[5], second[5]} == {r.resident_name for r in screen.rows}
        assert all(n not in "".join(first + second) for n in numbers)

        screen.query_one("#report-format", Select).value = "csv"
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        written = screen.written
        assert written is not None and written.format == "csv" and written.rows == 2
        data = Path(written.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == written.sha256
        assert str(written.path) in screen.message and written.sha256 in screen.message
        assert mask_my_number(numbers[0]).encode() in data
        exported = [d for a, o, d in audit(ctx.db) if a == "linkage.report" and o == "success"]
        assert [d.get("format") for d in exported] == ["screen", "csv"]
        assert exported[-1]["sha256"] == written.sha256


async def test_a_clerk_is_not_offered_the_record_and_the_service_refuses_it(
    ctx: Context,
) -> None:
    link_two(ctx)
    clerk = staff_identity(ctx, "clerk2", ("clerk",))
    with pytest.raises(Refused):  # the rule, whoever asks
        linkage_report(ctx.db, clerk, start=date(2000, 1, 1), end=date(2099, 12, 31))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        queue = await open_queue(pilot)
        offered = {b.binding.key for b in queue.active_bindings.values() if b.binding.show}
        assert "t" not in offered
        await pilot.press("t")
        await settle(pilot)
        assert app.screen is queue
    outcomes = [(a, o) for a, o, _ in audit(ctx.db) if a == "linkage.report"]
    assert outcomes == [("linkage.report", "refused")]


async def test_a_bad_period_is_named_on_the_screen(ctx: Context) -> None:
    link_two(ctx)
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "rev1", PASSWORD)
        screen = await open_report(pilot)
        screen.query_one("#report-to", Input).value = "令和99年13月1日"
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert screen.message.startswith("終了日")
