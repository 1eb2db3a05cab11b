"""A leaver's open console ends after ``juki access apply-due``: two real processes.

The console runs in a real terminal (tmux) as the leaver, signed in by keystrokes; a
second process — the cron job's command, ``juki access apply-due`` — applies the
retirement on its 発令日. The console, which nobody touches, must end the session by
itself within seconds (its periodic session check) and say why. SQLite file database,
shared by both processes as it would be on one host.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from auth.signin import REFUSED
from core.actor import Actor
from core.clock import today_in_japan
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from services.schema import init_schema
from tests.console.test_tmux_demo import ROOT, Pane, pytestmark, terminal_env, tmux  # noqa: F401
from tests.factories import PASSWORD, account


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Pane, dict[str, str], Database]]:
    data = tmp_path / "var"
    data.mkdir()
    env = terminal_env(data)
    settings = Settings(data_dir=str(data), argon2_profile="test")
    db = Database.for_settings(settings)
    init_schema(db)
    admin = Actor(login="os:admin")
    account(db, settings, "sato", ["clerk"], name="佐藤 一郎")
    import_staff(db, admin, name="staff.csv", data=(
        "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名\n"
        "1001,佐藤 一郎,サトウ イチロウ,市民課,係員,正規,,在職,2026-01-10,sato\n"
    ).encode())
    tomorrow = today_in_japan() + timedelta(days=1)
    import_round(db, settings, admin, name="idou.csv", data=(
        "発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n"
        f"{tomorrow},1001,佐藤 一郎,退職,市民課,,係員,\n"
    ).encode())
    command = f"{sys.executable} -m console.cli; echo juki-exited-$?; sleep 60"
    try:
        with tmux(env, command, tmp_path) as pane:
            yield pane, env, db
    finally:
        db.dispose()


def test_a_leavers_open_console_ends_after_apply_due(world) -> None:  # type: ignore[no-untyped-def]
    pane, env, db = world
    pane.wait_for(lambda s: "住民記録業務コンソール—サインイン" in s, "sign-in", 120)
    pane.type("sato")
    pane.key("Enter")
    pane.type(PASSWORD)
    pane.key("Enter")
    pane.wait_for(lambda s: "住民記録業務コンソール—sato" in s, "home screen", 60)

    tomorrow = (today_in_japan() + timedelta(days=1)).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "access", "apply-due", "--date", tomorrow],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "終了したセッション 1 件" in done.stdout

    # Nobody presses a key: the console's own session check ends it within seconds.
    ended = pane.wait_for(lambda s: "人事異動により権限が変更されたため" in s, "session end", 30)
    assert "住民記録業務コンソール—サインイン" in ended
    pane.type("sato")
    pane.key("Enter")
    pane.type(PASSWORD)
    pane.key("Enter")
    refused = pane.wait_for(lambda s: REFUSED[:20] in s, "refusal", 30)
    assert "住民記録業務コンソール—sato" not in refused

    actions = [(e["action"], e["actor"], e["outcome"]) for e in events_after(db, 0, 100000)]
    disabled = [a for a in actions if a[0] == "access.disable"]
    assert len(disabled) == 1 and disabled[0][1].startswith("os:")
    assert actions[-1][0] == "signin.failure" and actions[-1][1] == "sato"
