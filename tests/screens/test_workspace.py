"""The workspace screens' base: a service call's answer or refusal reaches the screen on
the UI thread, a newer read replaces an older one, paging keeps within the list, and a
comment dialog answered with Esc clears the line. No database: the calls are stand-ins."""

from __future__ import annotations

import threading
from typing import Any, cast

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from core.errors import Refused
from screens.table import Table
from screens.widgets import CommentDialog, MessageLine, WorkspaceEnv
from screens.workspace import WorkspaceScreen
from tests.screens.drive import settle

ENV = cast(WorkspaceEnv, object())  # the stand-in calls never touch the database


class Probe(WorkspaceScreen[None]):
    PAGED = "#rows"
    page_size = 2

    def __init__(self) -> None:
        super().__init__(ENV)
        self.items = [f"行{i}" for i in range(5)]
        self.answers: list[Any] = []

    def compose(self) -> ComposeResult:
        yield MessageLine()
        yield Table(id="rows")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_column("行")
        self.show_page()

    def paged(self) -> list[str]:
        return self.items

    def show_page(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for item in self.page_items():
            table.add_row(item)


class Host(App[None]):
    def on_mount(self) -> None:
        self.push_screen(Probe())


async def test_an_answer_and_a_refusal_reach_the_screen() -> None:
    app = Host()
    async with app.run_test() as pilot:
        screen = cast(Probe, app.screen)
        screen.call_service(lambda: 42, screen.answers.append, group="probe")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.answers == [42]

        def refused() -> int:
            raise Refused("この操作は許可されていません。")

        screen.call_service(refused, screen.answers.append, group="probe")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.answers == [42]
        assert screen.message == "この操作は許可されていません。"


async def test_a_newer_load_replaces_an_older_one_that_answers_late() -> None:
    app = Host()
    async with app.run_test() as pilot:
        screen = cast(Probe, app.screen)
        started, slow = threading.Event(), threading.Event()

        def old() -> str:
            started.set()
            slow.wait(10)
            return "古い検索"

        screen.load(old, screen.answers.append, group="probe")
        while not started.is_set():
            await pilot.pause(0.02)
        screen.load(lambda: "新しい検索", screen.answers.append, group="probe")
        await settle(pilot)  # the older worker counts as cancelled; its thread still runs
        slow.set()
        for _ in range(10):  # the older call's thread answers after it was replaced
            await pilot.pause(0.05)
        assert screen.answers == ["新しい検索"]


async def test_paging_stays_within_the_list() -> None:
    app = Host()
    async with app.run_test() as pilot:
        screen = cast(Probe, app.screen)
        assert screen.pages == 3 and screen.table_rows() == [["行0"], ["行1"]]
        for _ in range(4):
            screen.action_page(1)
        await pilot.pause()
        assert screen.page == 2 and screen.table_rows() == [["行4"]]
        assert screen.page_numbers() == {"first": 5, "last": 5, "total": 5, "page": 3,
                                         "pages": 3}
        screen.action_page(-5)
        assert screen.page == 0


async def test_a_comment_asked_and_cancelled_clears_the_line() -> None:
    app = Host()
    async with app.run_test() as pilot:
        screen = cast(Probe, app.screen)
        screen.say("前の知らせ", "info")
        screen.ask(CommentDialog("削除する", "理由", ok_label="削除する"),
                   screen.answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.message == "" and screen.answers == []
