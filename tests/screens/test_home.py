"""Workspaces appear on the home screen only when they exist and the role may open them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from auth.roles import Perm
from console.app import JukiApp
from console.context import Context
from core.clock import JST
from screens.home import EMPTY, HomeScreen
from screens.widgets import WorkspaceEnv
from screens.workspaces import Workspace, registered
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, screen_text, settle, sign_in


class ProbeWorkspace(Screen[None]):
    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__()
        self.env = env

    def compose(self) -> ComposeResult:
        yield Static("試験用の業務画面")


PROBE = Workspace(
    name="probe", key="f12", title="試験照会", needs=(Perm.LOOKUP,), open=ProbeWorkspace,
)


def footer_keys(app: JukiApp) -> dict[str, str]:
    return {k: b.binding.description for k, b in app.screen.active_bindings.items()
            if b.binding.show}


async def test_registered_workspace_is_offered_to_a_permitted_role(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    with registered(PROBE):
        app = JukiApp(ctx)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, "clerk1", PASSWORD)
            shown = screen_text(app)
            assert "F12試験照会" in shown
            assert EMPTY not in shown
            assert footer_keys(app).get("f12") == "試験照会"
            assert "試験照会" in [c.title for c in app.get_system_commands(app.screen)]
            await pilot.press("f12")
            await settle(pilot)
            assert isinstance(app.screen, ProbeWorkspace)
            assert app.screen.env.identity.login == "clerk1"


async def test_workspace_is_not_offered_without_the_permission(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "auditor1", name="田中誠", roles=("auditor",))
    with registered(PROBE):
        app = JukiApp(ctx)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, "auditor1", PASSWORD)
            assert isinstance(app.screen, HomeScreen)
            assert "試験照会" not in screen_text(app)
            assert "操作ログ" in screen_text(app)  # the auditor's own workspace (F5) only
            assert "f12" not in footer_keys(app)
            await pilot.press("f12")
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen)


async def test_names_are_shown_literally_never_as_markup(ctx: Context) -> None:
    screen_user(ctx.db, ctx.settings, "clerk2", name="[b]山田[/b][@click=app.quit]",
              department="[red]市民課[/red]")
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk2", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        shown = screen_text(app)
        assert "[b]山田[/b][@click=app.quit]" in shown
        assert "[red]市民課[/red]" in shown


async def test_a_security_officer_sees_the_alert_count_a_clerk_does_not(ctx: Context) -> None:
    from core.actor import Actor
    from logs.audit import record_alone
    from tests.screens.drive import wait_until

    screen_user(ctx.db, ctx.settings, "sec1", name="安全太郎", roles=("security_officer",))
    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    scanner = Actor(login="system:alerts")
    for _ in range(2):
        record_alone(ctx.db, scanner, "alert.dv_open", target="resident:1", outcome="alert",
                     severity="high", details={"message": "DV"})
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "sec1", PASSWORD)
        await wait_until(pilot, lambda: "直近24時間の警告が2件" in screen_text(app))
    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        await settle(pilot)
        assert "警告" not in screen_text(app)


LOADED_SCRIPT = """
import asyncio, sys
from console.app import JukiApp
from console.context import Context
from core.db import Database
from core.settings import load_settings
from tests.screens.drive import SIZE, settle, sign_in

PASSWORD = sys.argv[1]  # from the test: importing the factories would load services

def loaded():
    return sorted(m for m in sys.modules if m in {
        "screens.lookup", "screens.linkage", "screens.access_review",
        "screens.audit_tail", "screens.inspection", "services.alerts.engine",
        "services.assessment.inspection", "services.linkage.check"})

async def main():
    settings = load_settings()
    app = JukiApp(Context(settings=settings, db=Database.for_settings(settings)))
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        print(type(app.screen).__name__, loaded())
        await pilot.press("f2")
        await settle(pilot)
        print(type(app.screen).__name__, loaded())

asyncio.run(main())
"""


def test_a_workspace_is_loaded_only_when_opened(ctx: Context, juki_env: dict[str, str]) -> None:
    """A clerk's console reaches home without loading any workspace's screens or the
    services of to-do lines it can have nothing from (start-up CPU and memory per
    console), and F2 then loads the lookup alone."""
    import subprocess
    import sys

    screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
    out = subprocess.run([sys.executable, "-c", LOADED_SCRIPT, PASSWORD], env=juki_env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "HomeScreen []", "LookupScreen ['screens.lookup']",
    ]


async def test_the_session_start_is_shown_in_japan_time_whatever_the_servers_zone(
    ctx: Context, monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Servers run in UTC; staff read Japan time, as the audit tail and reports show it."""
    import time as _time
    from datetime import UTC

    monkeypatch.setenv("TZ", "UTC")
    _time.tzset()
    try:
        screen_user(ctx.db, ctx.settings, "clerk1", roles=("clerk",))
        app = JukiApp(ctx)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, "clerk1", PASSWORD)
            assert isinstance(app.screen, HomeScreen)
            started = app.screen.env.identity.started_at
            shown = screen_text(app)
            japan = started.astimezone(JST).strftime("%Y-%m-%d%H:%M")  # no spaces
            utc = started.astimezone(UTC).strftime("%Y-%m-%d%H:%M")
            assert japan in shown and utc not in shown
    finally:
        monkeypatch.undo()
        _time.tzset()

