"""A dropped connection ends the console: the process goes, the session is recorded ended.

Two real processes each: the console in a tmux pane whose session is killed (the
terminal hangs up and the console, leading its session, gets SIGHUP — what sshd does
when the SSH connection drops), and the console on a pty it does not lead, whose master
is closed (no SIGHUP arrives; the terminal reads as endless EOF and must be noticed).

The second closes the master only once the console has gone quiet at home, and only
after its own reader has stopped: a thread blocked in read() on the master keeps it open
past os.close, so the terminal would not hang up until the console wrote again — which
an idle console never does (the failure a fresh clone once showed under load).
"""

from __future__ import annotations

import json
import os
import pty
import select as select_io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from auth.models import ConsoleSession
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.schema import init_schema
from tests.console.test_tmux_demo import pytestmark, terminal_env, tmux  # noqa: F401
from tests.factories import PASSWORD, account


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[dict[str, str], Database]]:
    data = tmp_path / "var"
    data.mkdir()
    env = terminal_env(data)
    settings = Settings(data_dir=str(data), argon2_profile="test")
    db = Database.for_settings(settings)
    init_schema(db)
    account(db, settings, "sato", ["clerk"], name="佐藤 一郎", department="")
    yield env, db
    db.dispose()


def _gone(pid: int, timeout: float) -> bool:
    """The process has exited (reaped, or a zombie waiting for a parent that is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _left_in_session(sid: int) -> list[int]:
    """Live processes still in session ``sid`` (an orphan would be one)."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            left.append(int(entry.name))
    return left


def _ended(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        return [(c.end_reason, str(c.ended_at is not None))
                for c in s.exec(select(ConsoleSession)).all()]


def _end_events(db: Database) -> list[dict]:
    return [json.loads(e["details"]) for e in events_after(db, 0, 10_000)
            if e["action"] == "session.end"]


def test_killing_the_terminal_ends_the_console_and_its_session(world) -> None:  # type: ignore[no-untyped-def]
    env, db = world
    with tmux(env, f"exec {sys.executable} -m console.cli") as pane:
        pane.wait_for(lambda s: "住民記録業務コンソール—サインイン" in s, "sign-in", 120)
        pid = int(pane.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())
        pane.type("sato")
        pane.key("Enter")
        pane.type(PASSWORD)
        pane.key("Enter")
        pane.wait_for(lambda s: "住民記録業務コンソール—sato" in s, "home screen", 60)
        assert _ended(db) == [("", "False")]
        pane.tmux("kill-session", "-t", "demo")
        assert _gone(pid, 10), "the console outlived its terminal"
        assert _left_in_session(pid) == []
    assert _ended(db) == [("hangup", "True")]
    assert _end_events(db) == [{"reason": "hangup"}]


def test_a_hung_up_terminal_without_sighup_is_noticed(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, db = world
    master, slave = pty.openpty()
    # Not the pty's session leader: closing the master sends no SIGHUP to the console.
    proc = subprocess.Popen([sys.executable, "-m", "console.cli"], stdin=slave,
                            stdout=slave, stderr=slave, env=env, cwd=tmp_path)
    os.close(slave)
    seen = bytearray()
    stop = threading.Event()

    def drain() -> None:
        # Never blocked in read(): a read in flight holds the master open past os.close,
        # and a console with nothing more to write would then never see its terminal go.
        while not stop.is_set():
            if select_io.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while "ログイン名".encode() not in seen:
            assert time.monotonic() < deadline, "sign-in not painted"
            time.sleep(0.1)
        time.sleep(0.5)
        os.write(master, b"sato\r")
        time.sleep(0.3)
        os.write(master, PASSWORD.encode() + b"\r")
        deadline = time.monotonic() + 60
        while not _ended(db):
            assert time.monotonic() < deadline, "no session opened"
            time.sleep(0.2)
        # Home painted and nothing more to write: the phase the fresh clone failed in.
        deadline = time.monotonic() + 60
        while True:
            size = len(seen)
            time.sleep(1.0)
            if len(seen) == size:
                break
            assert time.monotonic() < deadline, "the console never went quiet"
        stop.set()
        reader.join()
        os.close(master)  # the last reference: the terminal hangs up now
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _ended(db) == [("hangup", "True")]
