"""An open console while PostgreSQL stops and starts again (docs/architecture.md §12).

The console runs on a server of the test's own (``private_pg``: the shared one serves
everyone else), which the test stops for real with ``pg_ctl`` and starts again. The
console must say so in Japanese, refuse the act with the database's message (no
traceback, nothing in the error log), and carry on when the server is back without a
restart: the same search then works, the F5 tail reads on.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import DATABASE_BACK, JukiApp
from console.context import Context
from core.crashlog import NAME as ERROR_LOG
from core.db import UNREACHABLE, WAITING
from screens.audit_tail import TAIL_RESUMED
from screens.lock import LockScreen
from screens.widgets import MessageLine
from tests.factories import PASSWORD, screen_user
from tests.pgserver import PrivateServer
from tests.screens.drive import (
    SIZE,
    actions,
    painted,
    press,
    screen_text,
    sign_in,
    type_into,
    wait_until,
)
from tests.screens.test_audit_tail import OFFICER, append, open_tail_screen
from tests.screens.test_lookup import (
    add_person,
    choose_purpose,
    message,
    open_workspace,
    search_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def db_url(private_pg_url: str) -> str:
    """Every fixture built on ``db_url`` (settings, db, ctx) uses the private server."""
    return private_pg_url


def shown(app: JukiApp) -> list[int]:
    return [h.resident_id for h in app.screen.shown_rows()]  # type: ignore[attr-defined]


async def search(pilot: Pilot[Any]) -> None:
    await search_for(pilot, name="鷹司 美咲")


async def unlock(pilot: Pilot[Any]) -> None:
    await type_into(pilot, "#unlock-password", PASSWORD)
    await press(pilot, "enter")


def no_error_log(ctx: Context) -> None:
    assert not (ctx.settings.resolved_data_dir / ERROR_LOG).exists()


async def test_a_console_says_the_database_is_away_and_carries_on_when_it_is_back(
    ctx: Context, private_pg: PrivateServer,
) -> None:
    target = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx, session_check_seconds=0.2)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        await search(pilot)
        assert shown(app) == [target.id]

        private_pg.stop()
        await painted(pilot, WAITING)  # the session check found it: a notice that stays
        await search(pilot)
        assert message(app) == UNREACHABLE
        await press(pilot, "ctrl+l")  # the lock clears notices; unlocking says why it cannot
        assert isinstance(app.screen, LockScreen)
        await painted(pilot, WAITING)  # said again while locked
        await unlock(pilot)
        assert isinstance(app.screen, LockScreen)
        assert app.screen.query_one(MessageLine).plain == UNREACHABLE
        await pilot.pause(private_pg.outage_left())  # JUKI_TEST_OUTAGE_SECONDS=30: the issue's

        private_pg.start()
        await painted(pilot, DATABASE_BACK)
        assert WAITING.replace(" ", "") not in screen_text(app)
        await unlock(pilot)  # the same unlock, the same search: no restart
        assert not isinstance(app.screen, LockScreen)
        await search(pilot)
        assert message(app) == "" and shown(app) == [target.id]
    no_error_log(ctx)
    assert actions(ctx.db).count("register.search") == 2  # none while it was away


async def test_the_audit_tail_waits_for_the_database_and_reads_on(
    ctx: Context, private_pg: PrivateServer,
) -> None:
    screen_user(ctx.db, ctx.settings, OFFICER, name="監査花子", roles=("security_officer",))
    append(ctx.db, 3, prefix="before")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, OFFICER, PASSWORD)
        screen, view = await open_tail_screen(pilot)
        private_pg.stop()
        await wait_until(pilot, lambda: screen.message == WAITING)
        private_pg.start()
        await wait_until(pilot, lambda: screen.message == TAIL_RESUMED)
        after = append(ctx.db, 2, prefix="after")
        await wait_until(pilot, lambda: view.seqs[-1] == after[-1])
        assert "after00001" in screen_text(app)
    no_error_log(ctx)
