"""The idle lock and ctrl+l: the screen is covered, only the password lifts it."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from auth.signin import REFUSED, WRONG
from console.app import JukiApp
from console.context import Context
from screens.home import HomeScreen
from screens.lock import LockScreen
from screens.signin import SignInScreen
from screens.widgets import MessageLine
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, audit, screen_text, settle, sign_in, type_into, wait_until

SECRET_BITS = ("山田花子", "市民課住民記録係", "事務担当", "住民記録の照会")


async def unlock_with(pilot: Pilot[Any], password: str, *, keys: bool = False) -> None:
    await type_into(pilot, "#unlock-password", password, keys=keys)
    await pilot.press("enter")
    await settle(pilot)


async def test_idle_lock_hides_home_then_wrong_password_is_refused_and_right_one_returns(
    ctx: Context,
) -> None:
    # Long enough that a loaded CI host reaches home and reads it before the lock (1 s
    # raced the home screen's first paint there); the wait below allows 60 s.
    ctx.settings = ctx.settings.with_(idle_lock_seconds=4.0)
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        assert all(bit in screen_text(app) for bit in SECRET_BITS)  # the check can see them

        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        shown = screen_text(app)
        assert "画面をロックしました" in shown
        assert not [bit for bit in SECRET_BITS if bit in shown]
        assert ("session.lock", "success", {"reason": "idle"}) in audit(ctx.db)

        await unlock_with(pilot, "not-the-password-1")
        assert isinstance(app.screen, LockScreen)
        assert app.screen.query_one(MessageLine).plain == WRONG
        assert ("session.unlock", "failure", {"reason": "wrong_password"}) in audit(ctx.db)

        await unlock_with(pilot, PASSWORD, keys=True)
        assert isinstance(app.screen, HomeScreen)
        assert "山田花子" in screen_text(app)
    assert ("session.unlock", "success", {}) in audit(ctx.db)


async def test_ctrl_l_locks_and_the_lockout_ends_the_session(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        for attempt in range(ctx.settings.lockout_threshold):
            assert isinstance(app.screen, LockScreen)
            await unlock_with(pilot, f"wrong-password-{attempt:02d}")
        # The threshold ended the session: back to sign-in, saying why.
        assert isinstance(app.screen, SignInScreen)
        assert "ロックしました" in app.screen.query_one(MessageLine).plain
        assert app.identity is None and app.open_session is None
        assert len(app.screen_stack) == 1  # sign-in alone
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, SignInScreen)
        assert app.screen.query_one(MessageLine).plain == REFUSED  # as for an unknown login
    events = audit(ctx.db)
    assert ("session.lock", "success", {"reason": "manual"}) in events
    assert ("session.end", "success", {"reason": "lockout"}) in events
    assert [a for a, _, _ in events].count("signin.lockout") == 1
