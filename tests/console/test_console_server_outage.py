"""The console server answering sshd's key questions while PostgreSQL is stopped
(docs/architecture.md §12; docs/ssh.md "The door"): a real ``juki console-server`` on
the private server (``private_pg``), asked by the real ``juki ssh authorized-keys``.

Down, every key gets nothing (the door prints nothing and exits 0, as documented), the
server's log says once in Japanese that the database cannot be reached — not once per
connection — and the error log stays empty: nothing unexpected happened. (The command
answering alone, without the server, exits 1 with the message.) Back, the same server
answers again and says so, without a restart.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.crashlog import NAME as ERROR_LOG
from core.db import BACK, WAITING, Database
from core.settings import Settings
from tests.conftest import Juki
from tests.pgserver import PrivateServer
from tests.procs import wait_for
from tests.services.test_door import bound

pytestmark = pytest.mark.slow

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def db_url(private_pg_url: str) -> str:
    """``db``, ``settings`` and ``juki`` on the private server."""
    return private_pg_url


@pytest.fixture
def door(juki: Juki) -> Iterator[Juki]:
    """``juki`` whose console server socket is in a short folder of its own."""
    folder = Path(tempfile.mkdtemp(prefix="jo-", dir="/tmp"))
    yield Juki(env={**juki.env, "JUKI_CONSOLE_SERVER_SOCKET": str(folder / "c.sock")},
               cwd=juki.cwd)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def server_log(door: Juki, tmp_path: Path) -> Iterator[Path]:
    """A running ``juki console-server``; its stderr (the service's log) in the file."""
    log = tmp_path / "console-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console.cli", "console-server"],
                                env=door.env, cwd=door.cwd, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "待ち受けています" in log.read_text("utf-8") or proc.poll() is not None,
                 120, "the console server to listen")
        assert proc.poll() is None, log.read_text("utf-8")
        yield log
    finally:
        proc.terminate()
        proc.wait(30)


def test_keys_asked_while_the_database_is_down_get_nothing_said_once_no_traceback(
    db: Database, settings: Settings, door: Juki, server_log: Path,
    private_pg: PrivateServer,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    up = door("ssh", "authorized-keys", ME, key_type, b64)
    assert up.returncode == 0 and up.stdout.startswith('restrict,pty,command="'), up.stderr
    db.dispose()

    private_pg.stop()
    for _ in range(3):  # three connections, three questions
        down = door("ssh", "authorized-keys", ME, key_type, b64)
        assert (down.returncode, down.stdout, down.stderr) == (0, "", "")
    said = server_log.read_text("utf-8")
    assert said.count(WAITING) == 1, said
    assert "Traceback" not in said and "予期しない" not in said, said
    assert not (settings.resolved_data_dir / ERROR_LOG).exists()
    # Without the server the command answers itself: it cannot, and says so (exit 1).
    alone = Juki(env={**door.env, "JUKI_CONSOLE_SERVER_SOCKET": f"{server_log}.none"},
                 cwd=door.cwd)("ssh", "authorized-keys", ME, key_type, b64)
    assert (alone.returncode, alone.stdout) == (1, ""), alone.stderr
    assert "データベースに接続できません" in alone.stderr and "Traceback" not in alone.stderr
    assert not (settings.resolved_data_dir / ERROR_LOG).exists()

    private_pg.start()
    back = door("ssh", "authorized-keys", ME, key_type, b64)
    assert back.stdout == up.stdout, back.stderr
    said = server_log.read_text("utf-8")
    assert said.count(BACK) == 1 and said.count(WAITING) == 1, said
    assert not (settings.resolved_data_dir / ERROR_LOG).exists()
