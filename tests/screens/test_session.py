"""The session's end: sign-out key, quitting, a disabled account, the absolute limit."""

from __future__ import annotations

from textual.widgets import Button, Input

from auth.accounts import disable_user
from console.app import SIGNED_OUT, JukiApp
from console.context import Context
from core.actor import Actor
from screens.home import HomeScreen
from screens.lock import LockScreen
from screens.signin import SignInScreen
from screens.widgets import MessageLine
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, actions, audit, screen_text, settle, sign_in, wait_until


async def test_sign_out_key_records_and_returns_to_sign_in(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert app.screen.query_one(MessageLine).plain == SIGNED_OUT
        assert app.open_session is None
    assert ("signout", "success", {"reason": "signout"}) in audit(ctx.db)


async def test_the_form_under_home_keeps_no_password_and_comes_back_empty(
    ctx: Context,
) -> None:
    """Sign-in is the bottom screen all along (the first frame is the form): while home is
    shown it holds no password, and signing out shows it afresh, ready for the next."""
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        form = app.screen
        assert isinstance(form, SignInScreen) and app.screen_stack == [form]
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen) and app.screen_stack[0] is form
        assert form.query_one("#password", Input).value == ""
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.screen is form and app.screen_stack == [form]
        assert form.query_one("#login", Input).value == ""
        assert not form.query_one("#signin", Button).disabled
        assert form.focused is form.query_one("#login", Input)
        await sign_in(pilot, "clerk1", PASSWORD)  # and the next sign-in works as the first
        assert isinstance(app.screen, HomeScreen)


async def test_a_start_note_said_while_home_is_shown_is_on_the_form_at_sign_out(
    ctx: Context,
) -> None:
    """The start-up work may say its lines (the demo's accounts) after a quick sign-in:
    the form under home takes them, and they are on screen when it comes back."""
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        app._say("デモ用アカウント: clerk1")  # as the start-up worker says a line
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert "デモ用アカウント:clerk1" in screen_text(app)


async def test_no_field_blinks_its_cursor(ctx: Context) -> None:
    """A blinking cursor redraws its field twice a second: at a form left waiting, every
    console would keep drawing (and sending frames over SSH). The cursor stays, steady."""
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        login = app.screen.query_one("#login", Input)
        assert app.focused is login and not login.cursor_blink
        await pilot.press("tab")
        password = app.screen.query_one("#password", Input)
        assert app.focused is password and not password.cursor_blink
        await sign_in(pilot, "clerk1", PASSWORD)
        await pilot.press("ctrl+l")  # the lock screen's password field too
        await settle(pilot)
        assert isinstance(app.focused, Input) and not app.focused.cursor_blink


async def test_quitting_signs_out(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await pilot.press("ctrl+q")
        await settle(pilot)
    assert app.open_session is None
    assert audit(ctx.db)[-1] == ("session.end", "success", {"reason": "quit"})


async def test_disabled_during_the_session_returns_to_sign_in(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx, session_check_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        disable_user(ctx.db, Actor.cli(), "clerk1")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInScreen))
        assert "無効" in app.screen.query_one(MessageLine).plain
    assert ("session.end", "success", {"reason": "disabled"}) in audit(ctx.db)


async def test_absolute_limit_ends_the_session(ctx: Context) -> None:
    ctx.settings = ctx.settings.with_(session_max_hours=1 / 3600)  # one second
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx, session_check_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert "signin.success" in actions(ctx.db)
        await wait_until(pilot, lambda: isinstance(app.screen, SignInScreen))
        assert "上限時間" in app.screen.query_one(MessageLine).plain
        assert app.identity is None
    assert ("session.expire", "success", {"reason": "expired"}) in audit(ctx.db)


async def test_sign_out_from_the_lock_screen(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        await pilot.click("#lock-signout")
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert app.identity is None and app.open_session is None
    assert audit(ctx.db)[-1] == ("signout", "success", {"reason": "signout"})
