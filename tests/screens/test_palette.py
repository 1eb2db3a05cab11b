"""No screenshot anywhere: not in the palette, not on a key, refused and recorded if asked."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette

from console.app import JukiApp
from console.context import Context
from screens.lock import LockScreen
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, audit, settle, sign_in


def titles(app: JukiApp) -> list[str]:
    return [c.title for c in app.get_system_commands(app.screen)]


def bound_actions(app: JukiApp) -> list[str]:
    return [b.binding.action for b in app.screen.active_bindings.values()]


async def test_palette_offers_only_what_the_session_allows(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        assert titles(app) == ["終了"]
        await sign_in(pilot, "clerk1", PASSWORD)
        assert titles(app) == ["住民記録照会", "個人番号紐付け", "ロック", "サインアウト", "終了"]
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        assert titles(app) == ["サインアウト", "終了"]


async def test_no_screenshot_in_palette_or_keys(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        seen: list[str] = bound_actions(app)
        await sign_in(pilot, "clerk1", PASSWORD)
        seen += bound_actions(app)
        assert "lock" in seen and "command_palette" in seen  # the check sees app bindings
        assert not [a for a in seen if "screenshot" in a]

        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        for query in ("Screenshot", "スクリーンショット", "Theme"):
            await pilot.press(*query)
            await settle(pilot)
            assert app.screen.query_one(CommandList).option_count == 0, query
            await pilot.press(*["backspace"] * len(query))
        await pilot.press(*"ロック")
        await settle(pilot)
        assert app.screen.query_one(CommandList).option_count == 1  # the palette does search


async def test_screenshot_action_is_refused_and_recorded(ctx: Context, tmp_path: Path) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await app.run_action(f"screenshot('shot.svg', '{tmp_path}')")
        assert app.save_screenshot("again.svg", str(tmp_path)) == ""
        await settle(pilot)
    assert not list(tmp_path.glob("*.svg"))
    refused = [(o, d["how"]) for a, o, d in audit(ctx.db) if a == "screen.capture"]
    assert sorted(refused) == [("refused", "action"), ("refused", "save")]  # two workers


async def test_a_capture_holder_saves_the_screen_with_a_reason(ctx: Context) -> None:
    import hashlib
    import stat

    from screens.widgets import CommentDialog
    from services.capture import capture_dir
    from tests.screens.drive import wait_until

    screen_user(ctx.db, ctx.settings, "sec1", name="安全太郎", roles=("security_officer",))
    app = JukiApp(ctx)
    folder = capture_dir(ctx.settings)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec1", PASSWORD)
        assert "画面を保存" in titles(app)
        await app.run_action("screenshot")
        await settle(pilot)
        assert isinstance(app.screen, CommentDialog)
        await pilot.click("#comment-ok")  # no reason: refused by the service
        await wait_until(pilot, lambda: any(
            a == "screen.capture" and o == "refused" for a, o, _ in audit(ctx.db)))
        assert not folder.exists() or not list(folder.glob("*.svg"))
        await app.run_action("screenshot")
        await settle(pilot)
        await pilot.press(*"窓口の表示不具合の報告")
        await pilot.click("#comment-ok")
        await wait_until(pilot, lambda: folder.exists() and len(list(folder.glob("*.svg"))) == 1)
    [saved] = folder.glob("*.svg")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert "安全太郎" in saved.read_text("utf-8")  # the home screen as it was
    [event] = [d for a, o, d in audit(ctx.db) if a == "screen.capture" and o == "success"]
    assert event["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert event["reason"] == "窓口の表示不具合の報告" and event["file"] == str(saved)


async def test_capture_is_not_offered_to_a_clerk(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        assert "画面を保存" not in titles(app)
