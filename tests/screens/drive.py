"""Helpers for driving the console with Textual's Pilot (the ``ctx`` fixture is in conftest).

Deterministic by construction: after every step the helpers wait for all workers
(the sign-in, lock and unlock threads) and let the app process what they posted.
Waits that depend on the clock (idle lock, session checks) poll a condition with a
generous deadline instead of sleeping a fixed time; nothing asserts a duration.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input
from textual.worker import WorkerCancelled

from console.app import JukiApp
from core.db import Database
from logs.audit import events_after
from screens.home import HomeScreen

SIZE = (120, 40)
S = TypeVar("S", bound=Screen[Any])


async def _workers_done(pilot: Pilot[Any]) -> None:
    """Wait for every worker. A worker cancelled meanwhile (its screen left, as sign-out
    from the lock screen or a session ended by its check does) has finished too: waiting
    for it raised WorkerCancelled now and then in CI."""
    try:
        await pilot.app.workers.wait_for_complete()
    except WorkerCancelled:
        pass


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish and the app handle what they posted."""
    for _ in range(3):
        await _workers_done(pilot)
        await pilot.pause()


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)
        await _workers_done(pilot)
    await settle(pilot)


async def type_into(pilot: Pilot[Any], selector: str, text: str, *, keys: bool = False) -> None:
    """Fill a field: key by key when ``keys`` (slow, the real path), else set its value."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = "" if keys else text
    await pilot.pause()
    if keys and text:
        await pilot.press(*text)


async def sign_in(pilot: Pilot[Any], login: str, password: str, *, keys: bool = False) -> None:
    """As a clerk would: login, Enter, password, Enter; then wait for the service's answer."""
    await type_into(pilot, "#login", login, keys=keys)
    await pilot.press("enter")
    await type_into(pilot, "#password", password, keys=keys)
    await pilot.press("enter")
    await settle(pilot)


async def press(pilot: Pilot[Any], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def open_workspace(pilot: Pilot[Any], key: str, kind: type[S]) -> S:
    """From the home screen, press the workspace's key; the screen it opened."""
    assert isinstance(pilot.app.screen, HomeScreen), type(pilot.app.screen).__name__
    await press(pilot, key)
    screen = pilot.app.screen
    assert isinstance(screen, kind), type(screen).__name__
    return screen


async def to_row(pilot: Pilot[Any], table: DataTable[Any], row: int) -> None:
    """Focus the table and put its cursor on ``row``, as a clerk would with the arrows."""
    table.focus()
    table.move_cursor(row=row)
    await pilot.pause()


async def enter_row(pilot: Pilot[Any], table: DataTable[Any], row: int) -> None:
    """Put the table's cursor on ``row`` and press Enter."""
    await to_row(pilot, table, row)
    await press(pilot, "enter")


async def answer(pilot: Pilot[Any], dialog: type[Screen[Any]], text: str) -> None:
    """Type ``text`` into the open dialog's comment field and press Enter."""
    assert isinstance(pilot.app.screen, dialog), type(pilot.app.screen).__name__
    await type_into(pilot, "#comment", text)
    await press(pilot, "enter")


async def painted(pilot: Pilot[Any], *needles: str) -> str:
    """The terminal's text once it shows every needle (a repaint may trail the data);
    spaces in a needle are ignored, as ``screen_text`` drops them."""
    app = pilot.app
    assert isinstance(app, JukiApp)
    wanted = [n.replace(" ", "") for n in needles]
    await wait_until(pilot, lambda: all(n in screen_text(app) for n in wanted))
    return screen_text(app)


def screen_text(app: JukiApp) -> str:
    """Everything painted on the terminal now, as plain text without whitespace."""
    svg = app.export_screenshot()
    parts = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return re.sub(r"\s+", "", html.unescape("".join(parts)).replace("\xa0", " "))


def audit(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, outcome, details) of every audit event, in order."""
    return [
        (ev["action"], ev["outcome"], json.loads(ev["details"]))
        for ev in events_after(db, 0, 10000)
    ]


def actions(db: Database) -> list[str]:
    return [a for a, _, _ in audit(db)]
