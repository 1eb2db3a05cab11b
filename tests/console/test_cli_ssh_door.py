"""``juki ssh authorized-keys`` as sshd runs it: a real process, with and without a server.

Without the console server the command answers from the database itself (the same rule
as services.door). With a server — here a real SEQPACKET listener speaking the wire
(console.server_wire) in a thread of this process — it prints the server's line and
imports neither SQLAlchemy nor Textual (``python -X importtime`` lists what it loaded).
The server's own handler (``console.server_keys.answer``) is tested directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from auth.accounts import disable_user
from console import server_wire
from console.server_keys import answer
from core.db import Database
from core.settings import Settings
from logs.audit import last_seq
from tests.conftest import Juki
from tests.factories import ADMIN
from tests.services.test_door import bound, door_events, fingerprint, new_key

ME = pwd.getpwuid(os.getuid()).pw_name
HEAVY = ("sqlalchemy", "sqlmodel", "textual", "psycopg", "rich", "services", "auth")
LIGHT_NOT = {"core.settings", "dataclasses", "argparse", "tomllib", "typing"}
"""Not even these: they cost the asking program most of its own time (bench/ssh_keys.py)."""


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short folder for Unix sockets (a path may have 107 bytes at most)."""
    path = Path(tempfile.mkdtemp(prefix="jd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def door(juki: Juki, sockdir: Path) -> Juki:
    """``juki`` whose console server socket is a path nobody listens on (server down)."""
    env = {**juki.env, "JUKI_CONSOLE_SERVER_SOCKET": str(sockdir / "console.sock")}
    return Juki(env=env, cwd=juki.cwd)


@contextmanager
def listener(path: Path, reply: dict[str, Any]) -> Iterator[list[dict[str, Any] | None]]:
    """A peer on the wire at ``path`` that answers one request with ``reply``; yields the
    requests it received."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(str(path))
    srv.listen(4)
    srv.settimeout(60)
    got: list[dict[str, Any] | None] = []

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            message, _fds = server_wire.receive(conn)
            got.append(message)
            server_wire.send(conn, reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        try:
            srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        srv.close()
        thread.join(10)
        path.unlink()


def imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime``'s lines on stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_server_down_the_command_answers_from_the_database(
    door: Juki, db: Database, settings: Settings,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    done = door("ssh", "authorized-keys", ME, key_type, b64)
    assert done.returncode == 0, done.stderr
    fp = fingerprint(b64)
    assert done.stdout == (f'restrict,pty,command="{settings.ssh_connect_command} --key {fp}"'
                           f" {key_type} {b64}\n")
    unknown = door("ssh", "authorized-keys", ME, *new_key())
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (0, "", "")
    other = door("ssh", "authorized-keys", "nobody-else", key_type, b64)
    assert (other.returncode, other.stdout) == (0, "")
    disable_user(db, ADMIN, "sato")
    since = last_seq(db)
    barred = door("ssh", "authorized-keys", ME, key_type, b64)
    assert (barred.returncode, barred.stdout) == (0, "")
    assert [e["details"]["reason"] for e in door_events(db, since)] == ["disabled"]


def test_config_file_names_the_database(
    door: Juki, db: Database, settings: Settings, tmp_path: Path,
) -> None:
    """sshd passes no environment: ``--config`` is how the command finds the database."""
    key_type, b64 = bound(db, settings, "sato")
    config = tmp_path / "juki.toml"
    config.write_text(
        f'database_url = "{settings.resolved_database_url}"\n'
        f'data_dir = "{settings.resolved_data_dir}"\n'
        f'audit_jsonl = "{settings.resolved_audit_jsonl}"\n'
        f'console_server_socket = "{door.env["JUKI_CONSOLE_SERVER_SOCKET"]}"\n'
        'ssh_connect_command = "/srv/juki/juki-console --conf /etc/juki/juki.toml"\n'
    )
    env = {k: v for k, v in door.env.items() if not k.startswith("JUKI_")}
    bare = Juki(env=env, cwd=door.cwd)
    for how in (["--config", str(config)], [f"--config={config}"]):
        done = bare("ssh", "authorized-keys", *how, ME, key_type, b64)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(
            'restrict,pty,command="/srv/juki/juki-console --conf /etc/juki/juki.toml --key '
            f'{fingerprint(b64)}"')
    missing = bare("ssh", "authorized-keys", "--config", str(tmp_path / "nope.toml"),
                   ME, key_type, b64)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    assert missing.stdout == "" and "Traceback" not in missing.stderr


def test_bad_arguments_exit_2_in_japanese(door: Juki, db: Database) -> None:
    for args in ([], ["root"], ["root", "ssh-ed25519"], ["a", "b", "c", "d"],
                 ["--config"], ["--bogus", "a", "b", "c"]):
        done = door("ssh", "authorized-keys", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "入力が正しくありません" in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""
    helped = door("ssh", "authorized-keys", "--help")
    assert helped.returncode == 0 and "%u" in helped.stdout


def test_with_the_server_up_the_command_imports_no_database_layer(
    door: Juki, db: Database, sockdir: Path,
) -> None:
    key_type, b64 = new_key()
    env = {**door.env, "PYTHONPROFILEIMPORTTIME": "1"}
    with listener(sockdir / "console.sock", {"line": "x"}) as got:
        done = Juki(env=env, cwd=door.cwd)("ssh", "authorized-keys", ME, key_type, b64)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "x\n"
    assert got == [{"op": "keys", "user": ME, "type": key_type, "key": b64}]
    modules = imported(done.stderr)
    assert "console.server_wire" in modules and "core.settings_file" in modules
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY or m in LIGHT_NOT) == []


def test_an_unusable_answer_is_not_printed_the_command_answers_itself(
    door: Juki, db: Database, settings: Settings, sockdir: Path,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    injected = {"line": "x\nssh-ed25519 AAAA attacker"}
    with listener(sockdir / "console.sock", injected) as got:
        done = door("ssh", "authorized-keys", ME, key_type, b64)
    assert len(got) == 1 and done.returncode == 0, done.stderr
    assert done.stdout.startswith('restrict,pty,command="') and done.stdout.count("\n") == 1
    with listener(sockdir / "console.sock", {"line": "", "error": "設定 x が違います。"}):
        said = door("ssh", "authorized-keys", ME, key_type, b64)
    assert (said.returncode, said.stdout) == (2, "")
    assert "設定 x が違います。" in said.stderr


def test_the_servers_answer(db: Database, settings: Settings) -> None:
    key_type, b64 = bound(db, settings, "sato")
    asked = {"op": "keys", "user": ME, "type": key_type, "key": b64}
    line = answer(db, settings, asked)["line"]
    assert line.startswith('restrict,pty,command="') and line.endswith(f" {key_type} {b64}")
    assert answer(db, settings, {**asked, "key": new_key()[1]}) == {"line": ""}
    for bad in ({**asked, "op": "console"}, {**asked, "user": 7}, {**asked, "key": ""},
                {k: v for k, v in asked.items() if k != "type"}, {**asked, "key": "A" * 20000}):
        assert answer(db, settings, bad) == {"line": ""}
    broken = answer(db, settings.with_(ssh_connect_command='a"b'), asked)
    assert broken["line"] == "" and "ssh_connect_command" in broken["error"]


def test_a_key_too_long_to_be_ours_gets_nothing_without_the_database(
    door: Juki, db: Database,
) -> None:
    env = {**door.env, "PYTHONPROFILEIMPORTTIME": "1"}
    done = Juki(env=env, cwd=door.cwd)("ssh", "authorized-keys", ME, "ssh-ed25519",
                                        "A" * 20_000)
    assert (done.returncode, done.stdout) == (0, "")
    assert sorted(m for m in imported(done.stderr) if m.split(".")[0] in HEAVY) == []
