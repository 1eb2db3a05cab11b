"""The key line (screens/keybar.py): what it shows follows the screen in front, and a click
on a key runs it, as Textual's Footer did."""

from __future__ import annotations

from rich.cells import cell_len

from console.app import JukiApp
from console.context import Context
from screens.home import HomeScreen
from screens.keybar import KeyBar
from screens.lock import LockScreen
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, settle, sign_in


def _line(app: JukiApp) -> str:
    return app.screen.query_one(KeyBar).render().plain


async def test_the_line_follows_the_screen_and_a_click_runs_its_key(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        signin_line = _line(app)
        assert " ^q 終了 " in signin_line and "ロック" not in signin_line
        assert signin_line.rstrip().endswith("^p コマンド")  # the palette on the right
        await sign_in(pilot, "clerk1", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        line = _line(app)
        for shown in (" f2 住民記録照会 ", " ^l ロック ", " ^o サインアウト "):
            assert shown in line, line
        bar = app.screen.query_one(KeyBar)
        column = cell_len(line[:line.index("ロック")])  # cells, not characters
        await pilot.click(bar, offset=(column, 0))
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)


async def test_one_key_per_act_and_hidden_bindings_left_out(ctx: Context) -> None:
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        line = _line(app)
        assert "enter" not in line and "tab" not in line  # the sign-in's show=False keys
        assert line.count("終了") == 1
