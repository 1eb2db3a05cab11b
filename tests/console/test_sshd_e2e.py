"""The SSH door end to end: OpenSSH's sshd on loopback, a real ``ssh``, the console server.

Laid out as deploy/ says (tests/console/sshd_rig.py): one service OS user, sshd with the
repository's snippet (``Match User``, ``AuthorizedKeysFile none``, the door command
``juki ssh authorized-keys`` run by sshd as that user), the forced command from the key
line (deploy/juki-console → ``juki connect --key``) and ``juki console-server`` started
as the service user. Proved here: a key that may not enter is refused by sshd before any
console starts (unbound, a disabled account's, a leaver's within 5 s of apply-due); a
key opens its own account only; sign-in, search (F2), resize and a dropped connection
(nothing left behind, the session ended ``hangup``); one console cannot read another's
memory or environment; the server killed mid-session, and the next connection starting
its console directly (``console.direct``). Driven through tmux. SQLite. Needs root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from auth.models import ConsoleSession, User
from auth.ssh_keys import add_keys
from auth.ssh_pubkey import parse_key_file
from core.actor import Actor
from core.clock import today_in_japan
from core.db import Database
from logs.audit import events_after, last_seq
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from services.register.models import Resident
from services.register.seed import seed_register
from tests.console.sshd_rig import Rig, make_rig, unavailable
from tests.console.test_tmux_demo import Pane, terminal_env, tmux
from tests.factories import PASSWORD, account

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    unavailable() is not None, reason=f"sshd end-to-end: {unavailable()}")]

SIGNIN_TITLE = "住民記録業務コンソール—サインイン"
ACCOUNTS = {"sato": "佐藤 一郎", "suzuki": "鈴木 花子", "kimura": "木村 次郎",
            "tanaka": "田中 三郎"}
"""sato and suzuki sign in; kimura's account is disabled, tanaka leaves (apply-due)."""


class World:
    def __init__(self, rig: Rig, keys: dict[str, Path], resident: tuple[str, str]) -> None:
        self.rig = rig
        self.keys = keys
        self.resident = resident

    @contextmanager
    def db(self) -> Iterator[Database]:
        """The database as the test process (root) sees it; anything it leaves in the data
        directory goes back to the service user."""
        db = Database.for_settings(self.rig.settings())
        try:
            yield db
        finally:
            db.dispose()
            self.rig.give_data_to_user()

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        with self.db() as db:
            return events_after(db, after, 100_000)

    def seq(self) -> int:
        with self.db() as db:
            return last_seq(db)

    def ssh(self, key: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """One ``ssh`` without a terminal of its own (a refusal needs none)."""
        return subprocess.run([*self.rig.ssh_argv(self.keys[key], tty=False), *command],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def door(self, key: str) -> str:
        """What sshd's AuthorizedKeysCommand prints for ``key``, run as sshd runs it."""
        key_type, blob = Path(f"{self.keys[key]}.pub").read_text().split()[:2]
        done = self.rig.juki("ssh", "authorized-keys", "--config", str(self.rig.settings_file),
                             self.rig.user, key_type, blob)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    rig = make_rig()
    try:
        rig.write_settings(idle_lock_seconds=600.0)
        done = rig.juki("db", "init")  # as README says: the service account makes its files
        assert done.returncode == 0, done.stdout + done.stderr
        settings = rig.settings()
        keys = {name: rig.keygen(name) for name in (*ACCOUNTS, "stranger")}
        admin = Actor(login="os:admin")
        tomorrow = today_in_japan() + timedelta(days=1)
        db = Database.for_settings(settings)
        try:
            for login, name in ACCOUNTS.items():
                account(db, settings, login, ["clerk"], name=name)
                add_keys(db, admin, login, Path(f"{keys[login]}.pub").read_text(),
                         f"{login}.pub")
            import_staff(db, admin, name="staff.csv", data=(
                "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名\n"
                "1004,田中 三郎,タナカ サブロウ,市民課,係員,正規,,在職,2026-01-10,tanaka\n"
            ).encode())
            import_round(db, settings, admin, name="idou.csv", data=(
                "発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n"
                f"{tomorrow},1004,田中 三郎,退職,市民課,,係員,\n"
            ).encode())
            seed_register(db, admin, residents=200, seed=7)
            with db.read() as s:
                person = s.exec(select(Resident).order_by(Resident.id)).first()
                assert person is not None
                resident = (f"{person.family_name} {person.given_name}",
                            person.birth_date.isoformat())
        finally:
            db.dispose()
        rig.give_data_to_user()
        rig.start_server()
        rig.start_sshd()
        yield World(rig, keys, resident)
    finally:
        rig.close()


@pytest.fixture
def pane(world: World) -> Iterator[Pane]:
    with tmux(terminal_env()) as p:
        yield p


def _connect(pane: Pane, world: World, key: str) -> int:
    """``ssh -tt`` in the pane until the sign-in screen shows; the ssh client's pid."""
    pane.tmux("new-session", "-d", "-s", "demo", "-x", "120", "-y", "40",
              f"exec {world.rig.ssh_command(world.keys[key])}")
    try:
        pane.wait_for(lambda s: SIGNIN_TITLE in s, "sign-in over ssh", 60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nsshd log:\n{world.rig.sshd_log()[-3000:]}\n"
                             f"server log:\n{world.rig.server_log()[-3000:]}") from None
    return int(pane.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())


def _sign_in(pane: Pane, login: str) -> str:
    """The password typed on the form, whose login the key fixed; the home screen."""
    pane.type(PASSWORD)
    pane.key("Enter")
    return pane.wait_for(lambda s: f"住民記録業務コンソール—{login}" in s, "home screen", 60)


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _fingerprint(path: Path) -> str:
    return parse_key_file(Path(f"{path}.pub").read_text(), "k")[0].fingerprint


def _refused_by_sshd(world: World, key: str) -> None:
    """sshd itself said no: no session, so no forced command, no console."""
    done = world.ssh(key)
    assert done.returncode == 255, done.stdout + done.stderr
    assert "Permission denied (publickey)" in done.stderr
    fp = _fingerprint(world.keys[key])
    assert _wait(lambda: f"Failed publickey for {world.rig.user} from 127.0.0.1"
                 in world.rig.sshd_log() and fp in world.rig.sshd_log(), 5), \
        world.rig.sshd_log()[-2000:]


def _no_console(world: World, before: int) -> None:
    assert world.rig.server_children() == []
    assert _wait(lambda: world.rig.session_processes() == [], 5), world.rig.session_processes()
    starts = [e for e in world.events(before) if e["action"].startswith(
        ("signin.", "session.", "console."))]
    assert starts == []


def test_an_unbound_key_is_refused_by_sshd_before_any_console_starts(world: World) -> None:
    before = world.seq()
    assert world.door("stranger") == ""
    _refused_by_sshd(world, "stranger")
    _no_console(world, before)
    assert world.events(before) == []  # an unknown key is sshd's to log, not the trail's


def test_the_key_of_a_disabled_account_is_refused_by_sshd(world: World) -> None:
    assert world.door("kimura").startswith("restrict,pty,command=")
    done = world.rig.juki("user", "disable", "kimura")
    assert done.returncode == 0, done.stderr
    before = world.seq()
    _refused_by_sshd(world, "kimura")
    _no_console(world, before)
    refusals = [e for e in world.events(before) if e["action"] == "ssh.door"]
    assert refusals and {e["target"] for e in refusals} == {"kimura"}
    assert all(e["outcome"] == "refused" for e in refusals)
    details = json.loads(refusals[-1]["details"])
    assert details["fingerprint"] == _fingerprint(world.keys["kimura"]) and details["reason"]


def test_a_leavers_key_is_refused_within_5_seconds_of_apply_due(world: World) -> None:
    line = world.door("tanaka")
    assert line.startswith("restrict,pty,command=") and "--key SHA256:" in line
    tomorrow = (today_in_japan() + timedelta(days=1)).isoformat()
    done = world.rig.juki("access", "apply-due", "--date", tomorrow)  # what the timer runs
    assert done.returncode == 0, done.stderr
    applied = time.monotonic()
    before = world.seq()
    _refused_by_sshd(world, "tanaka")
    assert time.monotonic() - applied <= 5.0
    _no_console(world, before)
    refusals = [e for e in world.events(before) if e["action"] == "ssh.door"]
    assert refusals and refusals[-1]["target"] == "tanaka"


def test_sign_in_search_resize_and_hang_up_over_ssh(world: World, pane: Pane) -> None:
    before = world.seq()
    ssh_pid = _connect(pane, world, "sato")
    assert "sato" in pane.flat()  # the key fixed the login
    home = _sign_in(pane, "sato")
    assert "佐藤一郎" in home
    (console,) = world.rig.server_children()  # forked by the server, not started anew

    # Another process of the same OS user (another console) reads neither its memory nor
    # its environment; a process of that user that is not a console can be read.
    for what in ("environ", "mem"):
        peek = subprocess.run(
            ["/bin/cat", f"/proc/{console}/{what}"], capture_output=True, timeout=10,
            user=world.rig.uid, group=world.rig.gid, extra_groups=[])
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr, what
    with subprocess.Popen(["/bin/sleep", "30"], user=world.rig.uid, group=world.rig.gid,
                          extra_groups=[]) as plain:
        peek = subprocess.run(["/bin/cat", f"/proc/{plain.pid}/environ"],
                              capture_output=True, timeout=10, user=world.rig.uid,
                              group=world.rig.gid, extra_groups=[])
        plain.kill()
    assert peek.returncode == 0

    # F2: the purpose (first 事務), then name and birth date, Enter.
    pane.key("F2")
    pane.wait_for(lambda s: "生年月日" in s and "事務" in s, "lookup form", 30)
    pane.key("Enter")
    time.sleep(0.5)
    pane.key("Down")
    pane.key("Enter")
    time.sleep(0.5)
    name, birth = world.resident
    for field in (name, birth):  # focus moves after the keys already read: let it settle
        pane.key("Tab")
        time.sleep(0.5)
        pane.type(field)
    pane.key("Enter")
    found = pane.wait_for(lambda s: "件(上限" in s and "該当する住民はいません" not in s,
                          "search result", 30)
    assert name.replace(" ", "") in found

    # Resize: the window grows; the console repaints to the new size (its footer moves
    # to the new last row), so the size change reached it through ssh, sshd and the door.
    def footer_at(row: int) -> bool:
        lines = pane.text().split("\n")
        return len(lines) > row and lines[row].strip() != "" and all(
            not line.strip() for line in lines[row + 1:])

    assert footer_at(39)
    pane.tmux("resize-window", "-t", "demo", "-x", "140", "-y", "46")
    assert _wait(lambda: footer_at(45), 15), pane.text()

    # The connection drops: the ssh client dies without a word.
    os.kill(ssh_pid, signal.SIGKILL)
    assert _wait(lambda: world.rig.session_processes() == [], 15), \
        "a process of the connection was left behind: " + ", ".join(
            f"{pid} {cmd}" for pid in world.rig.session_processes()
            if (cmd := Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")))
    server = world.rig.server
    assert server is not None and server.poll() is None  # still up for the next one

    with world.db() as db, db.read() as s:
        uid = s.exec(select(User.id).where(User.login == "sato")).one()
        sessions = s.exec(select(ConsoleSession).where(ConsoleSession.user_id == uid)).all()
        assert [(c.end_reason, c.ended_at is not None) for c in sessions] == [("hangup", True)]
        assert sessions[0].client_addr == "127.0.0.1"
    events = [e for e in world.events(before) if e["actor"] == "sato"]
    actions = [e["action"] for e in events]
    assert actions[0] == "signin.success"
    assert json.loads(events[0]["details"])["ssh_key"] == _fingerprint(world.keys["sato"])
    assert "register.search" in actions
    assert actions[-1] == "session.end"
    assert json.loads(events[-1]["details"]) == {"reason": "hangup"}
    assert not [e for e in world.events(before) if e["action"] == "console.direct"]


def test_a_key_opens_its_own_account_only(world: World, pane: Pane) -> None:
    before = world.seq()
    _connect(pane, world, "suzuki")
    # The login is the key's: typing another login only adds to the password.
    pane.type("sato")
    pane.key("Tab")
    pane.type(PASSWORD)
    pane.key("Enter")
    time.sleep(3)
    assert "住民記録業務コンソール—sato" not in pane.flat()
    pane.key("C-q")
    assert _wait(lambda: world.rig.session_processes() == [], 15)
    signins = [(e["action"], e["target"] or e["actor"]) for e in world.events(before)
               if e["action"].startswith("signin.")]
    assert signins and all(who == "suzuki" for _action, who in signins), signins
    assert "signin.success" not in {action for action, _who in signins}


def test_the_server_killed_mid_session_then_the_console_starts_directly(
    world: World, pane: Pane,
) -> None:
    before = world.seq()
    ssh_pid = _connect(pane, world, "sato")
    _sign_in(pane, "sato")
    (console,) = world.rig.server_children()
    try:
        world.rig.stop_server(signal.SIGKILL)
        # The open console goes on: it still answers keys on its terminal.
        pane.key("F2")
        pane.wait_for(lambda s: "生年月日" in s, "the console after the server died", 30)
        assert Path(f"/proc/{console}").exists()

        # The next connection finds no server: its console starts directly, and says so.
        with tmux(terminal_env()) as second:
            _connect(second, world, "suzuki")
            _sign_in(second, "suzuki")
            second.key("C-q")
        direct = [e for e in world.events(before) if e["action"] == "console.direct"]
        assert len(direct) == 1 and direct[0]["target"] == "suzuki"
        assert json.loads(direct[0]["details"])["reason"]

        os.kill(ssh_pid, signal.SIGKILL)  # the first connection drops too: nothing stays
        assert _wait(lambda: world.rig.session_processes() == [], 15), \
            world.rig.session_processes()
        ends = {(e["actor"], json.loads(e["details"]).get("reason"))
                for e in world.events(before) if e["action"] == "session.end"}
        assert ("sato", "hangup") in ends
    finally:
        world.rig.start_server()
