"""``juki`` and ``juki demo`` paint the sign-in form before the database layers load.

Real processes in a real terminal (tmux, 120×40), started as a user starts them. The
proof is the console's start-up trace (setting ``start_trace``): the app writes its
``painted`` line when the form's first frame has been handed to the terminal and before
it starts the worker that loads the database layer, with the database modules loaded at
that moment. The tests then sign in by keystrokes at once: the database loads behind the
form, and a sign-in typed before it is there still works (it waits for it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from console.demo import DEMO_PASSWORD
from core.db import Database
from core.settings import Settings
from tests.console.test_tmux_demo import Pane, pytestmark, terminal_env, tmux  # noqa: F401
from tests.factories import PASSWORD, account

SIGN_IN_TITLE = "住民記録業務コンソール—サインイン"


def trace_event(trace: Path, event: str, timeout: float = 120) -> dict[str, Any]:
    """The ``event`` line of the start-up trace, once the console has written it."""
    deadline = time.monotonic() + timeout
    while True:
        if trace.exists():
            for line in trace.read_text(encoding="utf-8").splitlines():
                found: dict[str, Any] = json.loads(line)
                if found["event"] == event:
                    return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event!r} line in the start-up trace within {timeout}s")
        time.sleep(0.1)


def sign_in_at_once(pane: Pane, login: str, password: str) -> None:
    """One burst, as soon as the form is there: login, Tab, password, Enter."""
    pane.tmux("send-keys", "-t", "demo", login, "Tab", password, "Enter")


def test_juki_paints_the_sign_in_form_before_the_database_layers(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
) -> None:
    account(db, settings, "sato", ["clerk"], name="佐藤 一郎")
    trace = tmp_path / "start-trace.jsonl"
    env = terminal_env()
    env.update({k: v for k, v in juki_env.items() if k.startswith("JUKI_")},
               PYTHONPATH=juki_env["PYTHONPATH"], JUKI_START_TRACE=str(trace))
    command = f"{sys.executable} -m console.cli; echo juki-exited-$?; sleep 60"
    with tmux(env, command, tmp_path) as pane:
        form = pane.wait_for(lambda s: SIGN_IN_TITLE in s, "sign-in", 120)
        assert "ログイン名" in form and "パスワード" in form
        sign_in_at_once(pane, "sato", PASSWORD)

        painted = trace_event(trace, "painted")
        assert painted["database_modules"] == []  # no SQLAlchemy, psycopg, service yet

        home = pane.wait_for(lambda s: "住民記録業務コンソール—sato" in s, "home screen", 120)
        assert "サインイン中の職員" in home and "佐藤一郎" in home
        ready = trace_event(trace, "ready")
        assert ready["pid"] == painted["pid"] and ready["monotonic"] > painted["monotonic"]
        assert {"sqlalchemy", "sqlmodel"} <= set(ready["database_modules"])  # loaded behind
        pane.key("C-q")
        assert "juki-exited-0" in pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)


def test_juki_demo_paints_before_it_prepares_the_register(tmp_path: Path) -> None:
    data = tmp_path / "var"
    trace = tmp_path / "start-trace.jsonl"
    env = {**terminal_env(data), "JUKI_START_TRACE": str(trace)}
    command = f"{sys.executable} -m console.cli demo; echo juki-exited-$?; sleep 60"
    with tmux(env, command, tmp_path) as pane:
        pane.wait_for(lambda s: SIGN_IN_TITLE in s, "sign-in", 120)
        sign_in_at_once(pane, "clerk1", DEMO_PASSWORD)  # the demo's accounts may not exist yet

        painted = trace_event(trace, "painted")
        assert painted["database_modules"] == []  # the register is prepared behind the form
        home = pane.wait_for(lambda s: "住民記録業務コンソール—clerk1" in s, "home screen", 300)
        assert "山田花子" in home
        assert "services.register.seed" in trace_event(trace, "ready")["database_modules"]

        pane.key("C-o")  # signed out: the form again, with the demo's accounts under it
        accounts = f"デモ用アカウント(パスワードはすべて{DEMO_PASSWORD}):"
        again = pane.wait_for(lambda s: SIGN_IN_TITLE in s and accounts in s, "the note", 60)
        assert "reviewer1" in again and "auditor1" in again

        pane.key("C-q")  # what the preparation said stays in the terminal afterwards
        after = pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)
        assert "juki-exited-0" in after and "合成の住民記録を3000人分作成しています…" in after
