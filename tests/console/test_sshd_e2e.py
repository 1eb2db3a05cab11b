"""The console over a real SSH connection: OpenSSH's sshd on loopback, a real ``ssh -tt``.

sshd runs with the repository's deploy/sshd_config.d/juki.conf (its own port, host key
and group) and the wrapper deploy/juki-console as ForceCommand; the console runs as an
OS user of its own (tests/console/sshd_rig.py). Driven through tmux: sign in, search the
register (F2), lock and unlock, a key bound to another account refused, and a dropped
connection (the ssh client killed) ends the console process and records its session
ended. SQLite. Needs root (useradd) and openssh-server (dev/test installs it).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from auth.models import ConsoleSession, User
from auth.ssh_keys import KEY_MISMATCH, add_keys
from auth.ssh_pubkey import parse_key_file
from core.actor import Actor
from core.db import Database
from logs.audit import events_after
from services.register.models import Resident
from services.register.seed import seed_register
from services.schema import init_schema
from tests.console.sshd_rig import Rig, make_rig, unavailable
from tests.console.test_tmux_demo import Pane, terminal_env, tmux
from tests.factories import PASSWORD, account

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    unavailable() is not None, reason=f"sshd end-to-end: {unavailable()}")]


class World:
    def __init__(self, rig: Rig, keys: dict[str, Path], resident: tuple[str, str]) -> None:
        self.rig = rig
        self.keys = keys
        self.resident = resident

    def db(self) -> Database:
        return Database.for_settings(self.rig.settings())


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    rig = make_rig()
    try:
        rig.write_settings(idle_lock_seconds=600.0)
        settings = rig.settings()
        db = Database.for_settings(settings)
        init_schema(db)
        admin = Actor(login="os:admin")
        keys = {name: rig.keygen(name) for name in ("sato", "suzuki")}
        for login, name in (("sato", "佐藤 一郎"), ("suzuki", "鈴木 花子")):
            account(db, settings, login, ["clerk"], name=name)
            add_keys(db, admin, login, Path(f"{keys[login]}.pub").read_text(), f"{login}.pub")
        seed_register(db, admin, residents=200, seed=7)
        with db.read() as s:
            person = s.exec(select(Resident).order_by(Resident.id)).first()
            assert person is not None
            resident = (f"{person.family_name} {person.given_name}",
                        person.birth_date.isoformat())
        db.dispose()
        rig.give_data_to_user()
        rig.authorize(*keys.values())
        rig.start_sshd()
        yield World(rig, keys, resident)
    finally:
        rig.close()


@pytest.fixture
def pane(world: World) -> Iterator[Pane]:
    with tmux(terminal_env()) as p:
        yield p


def _connect(pane: Pane, world: World, key: str) -> int:
    pane.tmux("new-session", "-d", "-s", "demo", "-x", "120", "-y", "40",
              f"exec {world.rig.ssh_command(world.keys[key])}")
    try:
        pane.wait_for(lambda s: "住民記録業務コンソール—サインイン" in s, "sign-in over ssh", 60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nsshd log:\n{world.rig.sshd_log()[-3000:]}") from None
    return int(pane.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())


def _sign_in(pane: Pane, login: str) -> None:
    pane.type(login)
    pane.key("Enter")
    pane.type(PASSWORD)
    pane.key("Enter")


def _consoles(world: World) -> list[int]:
    out = []
    for pid in world.rig.user_processes():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"/rt/juki" in cmd:
            out.append(pid)
    return out


def _fingerprint(path: Path) -> str:
    return parse_key_file(Path(f"{path}.pub").read_text(), "k")[0].fingerprint


def test_sign_in_search_lock_unlock_and_hang_up_over_ssh(world: World, pane: Pane) -> None:
    ssh_pid = _connect(pane, world, "sato")
    _sign_in(pane, "sato")
    home = pane.wait_for(lambda s: "住民記録業務コンソール—sato" in s, "home screen", 60)
    assert "佐藤一郎" in home
    (console,) = _consoles(world)
    env = Path(f"/proc/{console}/environ").read_bytes().split(b"\0")
    assert b"ESCDELAY=25" in env and b"LC_ALL=C.UTF-8" in env  # the wrapper's environment

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

    pane.key("C-l")
    locked = pane.wait_for(lambda s: "画面をロックしました" in s, "lock screen", 30)
    assert name.replace(" ", "") not in locked  # the screen is cleared
    pane.type(PASSWORD)
    pane.key("Enter")
    pane.wait_for(lambda s: "画面をロックしました" not in s and "件(上限" in s, "unlocked", 30)

    # The connection drops: the ssh client dies without a word.
    os.kill(ssh_pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _consoles(world) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _consoles(world) == [], "the console outlived its SSH connection"
    deadline = time.monotonic() + 15
    while world.rig.user_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert world.rig.user_processes() == [], "a process of the user was left behind"

    db = world.db()
    try:
        with db.read() as s:
            uid = s.exec(select(User.id).where(User.login == "sato")).one()
            sessions = s.exec(select(ConsoleSession).where(ConsoleSession.user_id == uid)).all()
            assert [(c.end_reason, c.ended_at is not None) for c in sessions] == [
                ("hangup", True)]
            assert sessions[0].client_addr == "127.0.0.1"
        events = [e for e in events_after(db, 0, 100_000) if e["actor"] == "sato"]
    finally:
        db.dispose()
    actions = [e["action"] for e in events]
    assert actions[0] == "signin.success"
    assert json.loads(events[0]["details"]) == {"ssh_key": _fingerprint(world.keys["sato"])}
    assert {"register.search", "session.lock", "session.unlock"} <= set(actions)
    assert actions[-1] == "session.end"
    assert json.loads(events[-1]["details"]) == {"reason": "hangup"}


def test_a_key_bound_to_another_account_is_refused(world: World, pane: Pane) -> None:
    _connect(pane, world, "suzuki")
    _sign_in(pane, "sato")  # suzuki's key, sato's login and password
    tail = KEY_MISMATCH.rsplit(" ", 1)[1]  # the message wraps in the box
    refused = pane.wait_for(lambda s: tail in s, "refusal", 60)
    assert "住民記録業務コンソール—サインイン" in refused and "suzuki" not in refused
    pane.key("C-q")
    db = world.db()
    try:
        failures = [e for e in events_after(db, 0, 100_000)
                    if e["action"] == "signin.failure" and e["target"] == "sato"]
    finally:
        db.dispose()
    assert failures and failures[-1]["outcome"] == "refused"
    assert json.loads(failures[-1]["details"]) == {
        "reason": "ssh_key_mismatch", "fingerprint": _fingerprint(world.keys["suzuki"])}
