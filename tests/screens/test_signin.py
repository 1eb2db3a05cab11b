"""Sign-in through the real screen: the service's answers reach the user, and only them."""

from __future__ import annotations

from textual.widgets import Input

from auth.accounts import disable_user
from auth.signin import REFUSED
from console.app import JukiApp
from console.context import Context
from core.actor import Actor
from screens.home import EMPTY, HomeScreen
from screens.signin import SignInScreen
from screens.widgets import MessageLine
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, actions, audit, screen_text, settle, sign_in, type_into


def message(app: JukiApp) -> str:
    return app.screen.query_one(MessageLine).plain


async def test_sign_in_reaches_home_showing_name_login_department_and_roles(
    ctx: Context,
) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk", "reviewer"))
    app = JukiApp(ctx, client_addr="192.0.2.10")
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, SignInScreen)
        assert "ログイン名" in screen_text(app) and "パスワード" in screen_text(app)
        await sign_in(pilot, "clerk1", PASSWORD, keys=True)
        assert isinstance(app.screen, HomeScreen)
        shown = screen_text(app)
        for expected in ("山田花子", "clerk1", "市民課住民記録係", "事務担当", "確認者",
                         "192.0.2.10"):
            assert expected in shown, expected
        # The workspaces the roles may open (lookup), and what the roles allow.
        assert EMPTY not in shown and "住民記録照会" in shown
        assert "住民記録の照会" in shown and "個人番号の紐付けの確認" in shown
        assert app.identity is not None and app.identity.login == "clerk1"
    success = [d for a, o, d in audit(ctx.db) if a == "signin.success"]
    assert len(success) == 1


async def test_wrong_password_shows_the_refusal_and_stays(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", "not-the-password-1")
        assert isinstance(app.screen, SignInScreen)
        assert message(app) == REFUSED
        assert REFUSED[:20] in screen_text(app)  # the first of the lines it wraps to
        assert app.screen.query_one("#password", Input).value == ""
        assert app.identity is None
    assert ("signin.failure", "failure", {"reason": "wrong_password"}) in audit(ctx.db)
    assert "signin.success" not in actions(ctx.db)


async def test_sixth_attempt_with_right_password_is_refused_after_five_failures(
    ctx: Context,
) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    threshold = ctx.settings.lockout_threshold
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        for attempt in range(threshold):
            await sign_in(pilot, "clerk1", f"wrong-password-{attempt:02d}")
            assert isinstance(app.screen, SignInScreen)
        assert message(app) == REFUSED  # the lock is not told: unknown logins never lock
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, SignInScreen)
        assert message(app) == REFUSED
        assert app.identity is None
    events = audit(ctx.db)
    assert [a for a, _, _ in events].count("signin.lockout") == 1
    assert events[-1] == ("signin.failure", "refused", {"reason": "locked"})
    assert "signin.success" not in actions(ctx.db)


async def test_disabled_account_is_refused(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "leaver1")
    disable_user(ctx.db, Actor.cli(), "leaver1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "leaver1", PASSWORD)
        assert isinstance(app.screen, SignInScreen)
        assert message(app) == REFUSED
    assert audit(ctx.db)[-1] == ("signin.failure", "refused", {"reason": "disabled"})


async def test_empty_fields_are_named_and_reach_no_service(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    before = len(audit(ctx.db))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "enter")  # past the empty login, submit from the password
        await settle(pilot)
        assert message(app) == "ログイン名を入力してください。"
        await type_into(pilot, "#login", "clerk1")
        await pilot.press("enter", "enter")  # to the password field, then submit it empty
        await settle(pilot)
        assert message(app) == "パスワードを入力してください。"
    assert len(audit(ctx.db)) == before


async def test_a_login_fixed_by_the_ssh_door_is_shown_and_only_the_password_asked(
    ctx: Context,
) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    screen_user(ctx.db, ctx.settings, "clerk2", name="佐藤一郎")
    ctx.door_login = "clerk1"  # as `juki connect --key` sets it, from services.door
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        login = screen.query_one("#login", Input)
        assert login.value == "clerk1" and login.disabled
        assert screen.focused is screen.query_one("#password", Input)
        assert "SSH鍵の持ち主としてサインインします。" in screen_text(app)  # spaces dropped
        # Keys typed go to the password; a wrong one is refused as always.
        await pilot.press(*"clerk2", "enter")
        await settle(pilot)
        assert message(app) == REFUSED
        login = app.screen.query_one("#login", Input)
        assert login.value == "clerk1" and login.disabled
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.identity is not None and app.identity.login == "clerk1"
        app.action_sign_out()  # back to the sign-in screen: the same login, fixed
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert app.screen.query_one("#login", Input).value == "clerk1"
    assert ("signin.failure", "failure", {"reason": "wrong_password"}) in audit(ctx.db)
