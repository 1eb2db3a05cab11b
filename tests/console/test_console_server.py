"""``juki console-server`` and ``juki connect`` as real processes in real terminals (tmux).

The server runs as an unprivileged service user (tests/console/console_server_rig.py) on a
socket of its own; each console is ``juki connect --key FP`` in a tmux pane, run as that
user, as sshd's forced command would run it. One server serves the tests that only open
consoles (module scope, per backend); the tests that kill or stop a server start their own
on another socket. What is proved: the sign-in screen with the key's login fixed, sign-in,
a resize repainted, a hang-up recorded with no process left, the exit status passed on, a
console not readable through /proc by another process of the service account, the server
killed mid-session (the console goes on, a new connection starts the console itself and
the trail says so), the server's stop, the socket's mode and its peer check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from auth.models import ConsoleSession, User
from console import connect, server_wire
from core.db import Database
from logs.audit import events_after
from tests.conftest import BACKENDS
from tests.console.console_server_rig import ServerProcess, World, make_world, unavailable
from tests.console.test_tmux_demo import Pane, tmux
from tests.factories import PASSWORD

WHY_NOT = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))]
needs_door = pytest.mark.skipif(
    importlib.util.find_spec("services.door") is None,
    reason="services.door (the key → account rule) is not in this build",
)

LOGINS = {"sato": False, "suzuki": False, "ito": False, "kato": False, "yamada": False,
          "tanaka": True}
"""One account per test, so each test's sessions are its own; tanaka is disabled."""
SIGN_IN = "住民記録業務コンソール—サインイン"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    w = make_world(request.param, LOGINS)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def server(world: World) -> ServerProcess:
    return world.start_server()


@pytest.fixture
def db(world: World) -> Iterator[Database]:
    database = world.database()
    yield database
    database.dispose()


# --- what the tests look at ------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] not in ("Z", "X")
    except OSError:
        return False


def wait_until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


def consoles_of(server: ServerProcess, n: int) -> list[int]:
    return wait_until(lambda: (c := children(server.pid)) and len(c) == n and c,
                      f"{n} console(s) under the server")


def sessions(db: Database, login: str) -> list[tuple[str, bool]]:
    with db.read() as s:
        rows = s.exec(select(ConsoleSession).join(User, col(User.id) == ConsoleSession.user_id)
                      .where(User.login == login)).all()
        return [(r.end_reason, r.ended_at is not None) for r in rows]


def client_addrs(db: Database, login: str) -> list[str]:
    with db.read() as s:
        return list(s.exec(select(ConsoleSession.client_addr)
                           .join(User, col(User.id) == ConsoleSession.user_id)
                           .where(User.login == login)).all())


def events(db: Database, action: str) -> list[dict[str, Any]]:
    return [{**e, "details": json.loads(e["details"])} for e in events_after(db, 0, 100_000)
            if e["action"] == action]


def pane_pid(pane: Pane) -> int:
    return int(pane.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def sign_in(pane: Pane, login: str) -> None:
    pane.wait_for(lambda s: SIGN_IN in s and "SSH鍵の持ち主として" in s and f"▊{login}▎" in s,
                  "sign-in with the login fixed", 90)
    pane.type(PASSWORD)
    pane.key("Enter")
    pane.wait_for(lambda s: f"住民記録業務コンソール—{login}" in s, "home screen", 60)


def uss_kb(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in rollup.splitlines()
               if line.startswith(("Private_Clean:", "Private_Dirty:")))


# --- through the server ------------------------------------------------------------------


@needs_door
def test_a_console_through_the_server_signs_in_repaints_and_hangs_up(
    world: World, server: ServerProcess, db: Database,
) -> None:
    with tmux(world.env(), world.connect_command("sato", then="")) as pane:
        pane.wait_for(lambda s: SIGN_IN in s, "sign-in", 90)
        (child,) = consoles_of(server, 1)
        client = pane_pid(pane)
        # The console is the server's child, of the service user, leading a session of
        # its own, named for ps.
        assert _stat(child)[3] == str(child)
        assert Path(f"/proc/{child}/comm").read_text().strip() == "juki-console"
        status = Path(f"/proc/{child}/status").read_text()
        assert f"Uid:\t{world.user.uid}\t" in status
        assert os.stat(f"/proc/{child}/environ").st_uid == 0  # not dumpable: root's alone
        print(f"\nUSS of a console child at sign-in: {uss_kb(child) / 1024:.1f} MB")

        sign_in(pane, "sato")
        print(f"USS of a console child at home: {uss_kb(child) / 1024:.1f} MB")
        assert sessions(db, "sato") == [("", False)]
        # The client's SSH_CONNECTION reached the console (the server has none of its own).
        assert client_addrs(db, "sato") == ["198.51.100.7"]

        def painted(rows: int) -> list[str] | None:
            lines = pane.text().splitlines()
            whole = len(lines) == rows and "住民記録" in lines[0] and "サインアウト" in lines[-1]
            return lines if whole else None

        before = wait_until(lambda: painted(40), "home painted at 120×40")
        pane.tmux("resize-window", "-t", "demo", "-x", "100", "-y", "30")

        def repainted() -> bool:
            # The header on the first row and the footer on the thirtieth: only a console
            # that redrew itself at 30 rows shows both (tmux cuts a 40-row picture), and
            # the title centred in 100 columns, not 120.
            lines = painted(30)
            return lines is not None and lines[0].index("住民記録") < before[0].index("住民記録")

        wait_until(repainted, "the console repainted at 100×30")

        pane.tmux("kill-session", "-t", "demo")  # the terminal hangs up (the SSH link went)
        wait_until(lambda: not alive(child) and not alive(client), "console and client gone")
    assert children(server.pid) == []
    wait_until(lambda: sessions(db, "sato") == [("hangup", True)], "session ended hangup")


@needs_door
def test_a_client_gone_without_its_exit_gets_its_console_hung_up(
    world: World, server: ServerProcess, db: Database,
) -> None:
    # The pane's shell stays (the terminal is not hung up): only the client goes, as when
    # sshd's session child is killed. The server sees its end of the socket close.
    with tmux(world.env(), world.connect_command("ito", then="; sleep 60")) as pane:
        sign_in(pane, "ito")
        (child,) = consoles_of(server, 1)
        (client,) = wait_until(lambda: children(pane_pid(pane)), "the client under the shell")
        os.kill(client, signal.SIGKILL)
        wait_until(lambda: not alive(child), "the console hung up")
    assert children(server.pid) == []
    wait_until(lambda: sessions(db, "ito") == [("hangup", True)], "session ended hangup")


@needs_door
def test_the_exit_status_passes_through_and_the_client_stays_light(
    world: World, server: ServerProcess, db: Database,
) -> None:
    script = ("import sys; from console.cli import main; code = main(sys.argv[1:]); "
              "print('heavy:', sorted({m.split('.')[0] for m in sys.modules} & "
              "{'textual', 'sqlalchemy', 'sqlmodel', 'rich'})); sys.exit(code)")
    quits = shlex.join([*world.user.argv(), "-c", script, "connect", "--key",
                        world.keys["suzuki"]]) + "; echo juki-exited-$?; sleep 60"
    with tmux(world.env(), quits) as pane:
        sign_in(pane, "suzuki")
        pane.key("C-q")
        out = pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)
        assert "juki-exited-0" in out and "heavy:[]" in out  # no Textual, no SQLAlchemy
    assert sessions(db, "suzuki") == [("quit", True)]

    # A console ended by a signal: 128 + the signal.
    with tmux(world.env(), world.connect_command("suzuki")) as pane:
        pane.wait_for(lambda s: SIGN_IN in s, "sign-in", 90)
        (child,) = consoles_of(server, 1)
        os.kill(child, signal.SIGKILL)
        assert "juki-exited-137" in pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)

    # A key whose account was disabled after sshd let it in: refused at the start, said,
    # recorded, exit 1.
    from services.door import REFUSED_AT_START

    with tmux(world.env(), world.connect_command("tanaka")) as pane:
        out = pane.wait_for(lambda s: "juki-exited-" in s, "exit", 90)
        assert "juki-exited-1" in out and flat(REFUSED_AT_START) in out
    refused = [e for e in events(db, "ssh.door") if e["target"] == "tanaka"]
    assert [(e["outcome"], e["details"]["at"]) for e in refused] == [("refused", "console")]
    assert children(server.pid) == []


@needs_door
def test_a_console_cannot_read_another_consoles_memory_or_environment(
    world: World, server: ServerProcess,
) -> None:
    reader = (
        "import json, sys\n"
        "out = {}\n"
        "for pid in sys.argv[1:]:\n"
        "    out[pid] = {}\n"
        "    for what in ('environ', 'mem'):\n"
        "        try:\n"
        "            with open(f'/proc/{pid}/{what}', 'rb') as fh:\n"
        "                fh.read(1) if what == 'environ' else None\n"
        "            out[pid][what] = 'read'\n"
        "        except OSError as exc:\n"
        "            out[pid][what] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    with tmux(world.env(), world.connect_command("ito", then="")) as one, \
            tmux(world.env(), world.connect_command("kato", then="")) as two:
        for pane in (one, two):
            pane.wait_for(lambda s: SIGN_IN in s, "sign-in", 90)
        consoles = consoles_of(server, 2)
        client = pane_pid(one)  # an ordinary process of the same uid: the control
        done = subprocess.run([*world.user.argv(), "-c", reader, *map(str, consoles),
                               str(client)], capture_output=True, text=True, timeout=60,
                              env=world.env())
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        for pid in consoles:
            assert seen[str(pid)] == {"environ": "PermissionError", "mem": "PermissionError"}
        assert seen[str(client)] == {"environ": "read", "mem": "read"}
        for pane in (one, two):
            pane.tmux("kill-session", "-t", "demo")
        wait_until(lambda: children(server.pid) == [], "both consoles gone")


def test_the_socket_is_the_service_accounts_alone(world: World, server: ServerProcess) -> None:
    info = os.stat(world.socket)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == world.user.uid
    asking = ("import json, sys; from console import server_wire; print(json.dumps("
              "server_wire.ask(sys.argv[1], {'op': 'keys', 'user': sys.argv[2], "
              "'type': 'ssh-ed25519', 'key': 'AAAAC3NzaC1lZDI1NTE5AAAAIKs' + 'A' * 40})))")
    done = subprocess.run([*world.user.argv(), "-c", asking, str(world.socket), world.user.name],
                          capture_output=True, text=True, timeout=60, env=world.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"line": ""}  # an unknown key does not enter
    if not world.user.created:
        pytest.skip("another uid needs root: the peer check was not tried")
    # Root may open the 0600 socket, but the server talks to its own uid only.
    assert server_wire.ask(str(world.socket), {"op": "keys"}) is None
    assert f"別の利用者 (uid {os.getuid()}" in server.output()


def test_a_malformed_message_drops_that_client_only(world: World, server: ServerProcess) -> None:
    """Bytes that are no message (garbage, a list, a dict with other keys than strings, a
    code object) end that connection; the server answers the next question as ever."""
    sending = (
        "import _socket, marshal, sys\n"
        "from console import server_wire\n"
        "bad = [b'\\xff\\x00garbage', marshal.dumps([1, 2]), marshal.dumps({1: 'x'}),\n"
        "       marshal.dumps(compile('1', 'x', 'eval'))]\n"
        "for data in bad:\n"
        "    s = server_wire.connect(sys.argv[1], 5)\n"
        "    s.sendall(data)\n"
        "    s.settimeout(5)\n"
        "    print(repr(s.recv(100)))\n"
        "    s.close()\n"
        "print(server_wire.ask(sys.argv[1], {'op': 'keys', 'user': sys.argv[2],\n"
        "      'type': 'ssh-ed25519', 'key': 'AAAAC3NzaC1lZDI1NTE5AAAAIKs' + 'A' * 40}))\n"
    )
    done = subprocess.run([*world.user.argv(), "-c", sending, str(world.socket),
                           world.user.name], capture_output=True, text=True, timeout=60,
                          env=world.env())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["b''"] * 4  # closed without an answer
    assert lines[-1] == "{'line': ''}"  # and the server still answers


# --- the server killed, the server stopped ---------------------------------------------


@needs_door
def test_the_server_killed_the_console_goes_on_and_new_connections_start_it_directly(
    world: World, db: Database,
) -> None:
    path = world.base / "run" / "other.sock"
    env = world.env(socket=path)
    first = world.start_server(socket=path)
    with tmux(env, world.connect_command("yamada")) as pane:
        sign_in(pane, "yamada")
        (child,) = consoles_of(first, 1)
        first.stop(signal.SIGKILL)
        assert alive(child)
        pane.key("C-l")  # the console still answers: it locks the screen
        pane.wait_for(lambda s: "画面をロックしました" in s, "lock screen", 30)
        pane.key("C-q")
        out = pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)
        assert "juki-exited-1" in out and flat(connect.SERVER_LOST) in out
    assert not alive(child)
    assert sessions(db, "yamada") == [("quit", True)]

    # Nobody answers on the socket the killed server left: the client starts the console
    # itself (same checks, the login fixed) and the trail records why.
    with tmux(env, world.connect_command("yamada", then="")) as pane:
        pane.wait_for(lambda s: SIGN_IN in s and "yamada" in s, "sign-in (direct)", 180)
        client = pane_pid(pane)
        assert children(client) == []  # the console is the client process itself
        direct = events(db, "console.direct")
        assert [(e["actor"], e["details"]) for e in direct] == [
            ("yamada", {"reason": "refused", "fingerprint": world.keys["yamada"]})]
        pane.tmux("kill-session", "-t", "demo")
        wait_until(lambda: not alive(client), "the direct console gone")

    # A new server takes the stale socket over; a second one refuses to start beside it.
    again = world.start_server(socket=path)
    second = subprocess.run([*world.user.argv(), "-m", "console.cli", "console-server"],
                            env=env, capture_output=True, text=True, timeout=120, cwd="/")
    assert second.returncode == 1 and "別のコンソールサーバーが動いています" in second.stderr

    # Stopped (SIGTERM), the server hangs up its consoles, which record it, and goes.
    with tmux(env, world.connect_command("yamada")) as pane:
        sign_in(pane, "yamada")
        (child,) = consoles_of(again, 1)
        assert again.stop(signal.SIGTERM) == 0
        assert not alive(child)
        pane.wait_for(lambda s: "juki-exited-" in s, "exit", 60)
    assert sorted(sessions(db, "yamada")) == [("hangup", True), ("quit", True)]
    assert not path.exists()


@needs_door
def test_with_server_and_client_gone_a_hung_up_terminal_still_ends_the_console(
    world: World, db: Database,
) -> None:
    # Nobody is left to send SIGHUP: the console is in no session of the terminal's. It
    # sees the terminal hung up itself (its descriptors fail with EIO) and ends, recorded.
    path = world.base / "run" / "third.sock"
    alone = world.start_server(socket=path)
    with tmux(world.env(socket=path), world.connect_command("kato", then="")) as pane:
        sign_in(pane, "kato")
        (child,) = consoles_of(alone, 1)
        alone.stop(signal.SIGKILL)
        os.kill(pane_pid(pane), signal.SIGKILL)  # tmux then closes the terminal
        wait_until(lambda: not alive(child), "the console gone with its terminal")
    wait_until(lambda: sessions(db, "kato") == [("hangup", True)], "session ended hangup")
