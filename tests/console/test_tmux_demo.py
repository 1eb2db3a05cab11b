"""``juki demo`` in a real terminal: tmux, 120×40, typed keys, what the pane shows.

Runs the real command (``python -m console.cli demo``) against a fresh SQLite data dir,
under a login's umask 022: it paints the sign-in screen, prepares the demo register
behind it (its files private all the same), takes the demo clerk's login and password as
keystrokes and shows the home screen. SQLite only (the default DB).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from console.demo import DEMO_PASSWORD
from core.db import Database
from logs.audit import events_after

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Pane:
    """One detached tmux server of our own (its own socket), one 120×40 session."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env, capture_output=True, text=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "demo")

    def flat(self) -> str:
        return re.sub(r"\s+", "", self.text())

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            flat = self.flat()
            if check(flat):
                return flat
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not shown within {timeout}s:\n{self.text()}")
            time.sleep(0.2)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "demo", "-l", text)

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", "demo", name)


def terminal_env(data: Path | None = None) -> dict[str, str]:
    """A console's environment in a pane: no JUKI_ or TMUX settings inherited, a UTF-8
    xterm; with ``data``, that data dir, fast password hashing and this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUKI_", "TMUX"))}
    env.update(TERM="xterm-256color", LANG=env.get("LANG") or "C.UTF-8")
    if data is not None:
        env.update(JUKI_DATA_DIR=str(data), JUKI_ARGON2_PROFILE="test", PYTHONPATH=str(ROOT))
    return env


@contextmanager
def tmux(env: dict[str, str], command: str = "", cwd: Path | None = None) -> Iterator[Pane]:
    """A tmux server of our own; with ``command``, its 120×40 session "demo" running it
    (in ``cwd``). The server is killed at the end."""
    p = Pane(f"juki-test-{uuid.uuid4().hex[:12]}", env)
    if command:
        where = ("-c", str(cwd)) if cwd is not None else ()
        p.tmux("new-session", "-d", "-s", "demo", "-x", "120", "-y", "40", *where, command)
    try:
        yield p
    finally:
        try:
            p.tmux("kill-server")
        except RuntimeError:
            pass


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    command = f"{sys.executable} -m console.cli demo; echo juki-exited-$?; sleep 60"
    old = os.umask(0o022)  # a login's umask: the tmux server (and the demo) inherit it
    try:
        with tmux(terminal_env(tmp_path / "var"), command, tmp_path) as p:
            os.umask(old)
            yield p
    finally:
        os.umask(old)


def test_demo_signs_in_and_shows_home_in_a_real_terminal(pane: Pane, tmp_path: Path) -> None:
    # The demo's note under the form has words like ログイン名 too, so wait for what only
    # the painted screens show: the title bar with the screen's name.
    signin = pane.wait_for(lambda s: "住民記録業務コンソール—サインイン" in s, "sign-in", 120)
    assert "ログイン名" in signin and "パスワード" in signin
    # One burst, as a fast typist or a paste sends it: the login, Tab, the password, Enter.
    # Tab must move to the password field before the keys typed after it are read; the
    # password once landed after the login name, in clear on screen and in the trail.
    pane.tmux("send-keys", "-t", "demo", "clerk1", "Tab", DEMO_PASSWORD, "Enter")
    # The register is prepared behind the form: the sign-in waits for the demo's accounts.
    home = pane.wait_for(lambda s: "住民記録業務コンソール—clerk1" in s, "home screen", 300)
    assert "サインイン中の職員" in home
    assert "山田花子" in home and "事務担当" in home and "市民課住民記録係" in home
    assert "パスワード" not in home and DEMO_PASSWORD not in home  # the form is gone

    pane.key("C-q")  # quitting signs out, then the demo's own output is back
    after = pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)
    assert "juki-exited-0" in after
    assert "sakura-demo-2026" in after and "clerk1" in after  # how to sign in was printed

    db = Database(f"sqlite:///{tmp_path / 'var' / 'juki.sqlite3'}")
    try:
        actions = [(e["action"], e["actor"]) for e in events_after(db, 0, 100000)]
    finally:
        db.dispose()
    assert ("signin.success", "clerk1") in actions
    assert not any(DEMO_PASSWORD in actor for _action, actor in actions)
    assert actions[-1] == ("session.end", "clerk1")
    # Made under umask 022, yet private: the console would not have started otherwise.
    data = tmp_path / "var"
    assert [p.name for p in [data, *data.iterdir()] if p.stat().st_mode & 0o077] == []
