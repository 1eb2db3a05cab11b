"""The console does not start on private files open to others (docs/ssh.md "Private data").

The real ``juki`` on a pseudo-terminal, its settings in a file (``JUKI_CONFIG``) as on a
host: with the database, its WAL, the My Number key or the settings file at 0640, 0644 or
0660 it exits 1 before anything is painted, naming the file, its mode and ``chmod 600``,
and the refusal is in the trail; with all of them at 0600 it paints the sign-in screen.
Both backends (with PostgreSQL there is no database file: the key and the settings file).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from tests.console.test_tmux_demo import ROOT, terminal_env

PAINTED = "ログイン名"
ALT_SCREEN = "\x1b[?1049h"  # what Textual writes first when it takes the terminal


def _settings_file(settings: Settings, tmp_path: Path) -> Path:
    config = tmp_path / "juki.toml"
    config.write_text(
        f'database_url = "{settings.resolved_database_url}"\n'
        f'data_dir = "{settings.resolved_data_dir}"\n'
        f'audit_jsonl = "{settings.resolved_audit_jsonl}"\n'
        'argon2_profile = "test"\n', encoding="utf-8")
    os.chmod(config, 0o600)
    return config


def _console(config: Path, cwd: Path) -> tuple[int, str]:
    """Run ``juki`` on a pty to its exit, or until the sign-in is painted and then end
    it. Its exit code and everything it wrote."""
    env = terminal_env()
    env.update(JUKI_CONFIG=str(config), PYTHONPATH=str(ROOT))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "console.cli"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not chunk:
                break
            seen.extend(chunk)
            if PAINTED.encode() in seen:
                break
        else:
            pytest.fail(f"the console neither ended nor painted:\n{seen.decode(errors='replace')}")
        if PAINTED.encode() in seen:
            proc.terminate()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, seen.decode("utf-8", errors="replace")


def _refusals(db: Database) -> list[dict[str, Any]]:
    return [json.loads(e["details"]) for e in events_after(db, 0, 100_000)
            if e["action"] == "console.start" and e["outcome"] == "refused"]


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o660])
@pytest.mark.parametrize("which", ["database", "wal", "key", "settings"])
def test_a_private_file_open_to_others_stops_the_console(
    db: Database, settings: Settings, tmp_path: Path, backend: str, which: str, mode: int
) -> None:
    if which in ("database", "wal") and backend != "sqlite":
        pytest.skip("PostgreSQL: no database file on this host")
    config = _settings_file(settings, tmp_path)
    database = Path(db.url.database or "")
    if which == "wal":
        with db.write() as s:  # a write, so the -wal file is there (the fixture holds it)
            s.connection().exec_driver_sql("CREATE TABLE wal_probe (x INTEGER)")
    target = {"database": database, "wal": Path(f"{database}-wal"),
              "key": settings.resolved_identifier_key_file, "settings": config}[which]
    assert target.exists()
    os.chmod(target, mode)

    code, said = _console(config, tmp_path)

    assert code == 1, said
    assert str(target) in said and f"モード {mode:04o}" in said
    assert f"chmod 600 {target}" in said
    assert "グループに読み取り" in said
    assert (mode & 0o004 != 0) == ("その他のアカウントに読み取り" in said)
    assert PAINTED not in said and ALT_SCREEN not in said and "Traceback" not in said
    refused = _refusals(db)
    assert len(refused) == 1, refused
    assert refused[0]["reason"] == "private_files"
    assert {"path": str(target), "mode": f"{mode:04o}"}.items() <= refused[0]["files"][0].items()


def test_every_private_file_at_0600_lets_the_console_paint(
    db: Database, settings: Settings, tmp_path: Path, backend: str
) -> None:
    config = _settings_file(settings, tmp_path)
    private = [config, settings.resolved_identifier_key_file]
    if backend == "sqlite":
        private.append(Path(db.url.database or ""))
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in private)

    _code, said = _console(config, tmp_path)

    assert PAINTED in said and "個人データ" not in said, said
    assert _refusals(db) == []


def test_without_a_trail_the_refusal_is_said_and_no_database_is_made(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    config = tmp_path / "juki.toml"
    config.write_text(f'data_dir = "{data}"\n', encoding="utf-8")
    os.chmod(config, 0o644)

    code, said = _console(config, tmp_path)

    assert code == 1 and f"設定ファイル {config}: モード 0644" in said, said
    assert list(data.iterdir()) == []  # not made just to record the refusal
