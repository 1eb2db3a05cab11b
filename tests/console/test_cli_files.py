"""The files ``juki`` leaves: private whatever the umask, and ``--output`` never a device.

The database (and SQLite's -wal and -shm), the error log and everything ``juki demo``
writes under the data directory carry no bit for others, also under umask 022. An
``--output`` that is a device, a FIFO, a folder or a symlink is refused (exit 2, the
path named, nothing touched); an existing regular file is replaced only with ``--force``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.actor import Actor
from core.clock import now
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.reports.output import local
from tests.conftest import ROOT
from tests.factories import account
from tests.services.personnel_setup import HEADER, registry


@pytest.fixture
def backend() -> str:
    """Files do not depend on the database: SQLite only, to spare CI the second run."""
    return "sqlite"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual login umask: files made without an explicit mode would be 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    env.update(JUKI_ARGON2_PROFILE="test", PYTHONPATH=str(ROOT), **extra)
    return env


def _open_to_others(top: Path) -> list[str]:
    """Every path at or under ``top`` with a permission bit for others."""
    found = []
    for path in [top, *top.rglob("*")]:
        mode = path.lstat().st_mode
        if mode & 0o007:
            found.append(f"{oct(mode & 0o7777)} {path}")
    return found


def test_db_init_makes_the_sqlite_files_private_under_umask_022(
    tmp_path: Path, umask_022: None
) -> None:
    data = tmp_path / "data"
    env = _env(JUKI_DATA_DIR=str(data))
    done = _run(env, tmp_path, "db", "init")
    assert done.returncode == 0, done.stderr
    database = data / "juki.sqlite3"
    # Hold a connection open while another process writes, so -wal and -shm stay there.
    held = sqlite3.connect(database)
    try:
        held.execute("SELECT count(*) FROM audit_event").fetchone()
        wrote = _run(env, tmp_path, "audit", "anchor")  # records an event: a write
        assert wrote.returncode == 0, wrote.stderr
        for name in ("juki.sqlite3", "juki.sqlite3-wal", "juki.sqlite3-shm"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    finally:
        held.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert _open_to_others(data) == []


@pytest.mark.parametrize("mask", [0o000, 0o022], ids=["umask000", "umask022"])
def test_db_init_makes_the_data_folder_0700_and_the_private_files_0600(
    tmp_path: Path, mask: int
) -> None:
    data = tmp_path / "srv" / "juki"  # neither folder there yet
    old = os.umask(mask)
    try:
        done = _run(_env(JUKI_DATA_DIR=str(data)), tmp_path, "db", "init")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data, data.parent,
                                                              *data.iterdir()]}
    assert modes["srv"] == modes["juki"] == 0o700
    assert modes["juki.sqlite3"] == modes["identifier.key"] == 0o600
    assert modes["audit-signing.key"] == modes["audit-signing.key.pub"] == 0o600
    assert modes["audit.jsonl"] == modes["audit-anchor.jsonl"] == 0o600
    assert _open_to_others(tmp_path / "srv") == []


def test_a_rotated_key_is_0600_whatever_the_old_one_was(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    env = _env(JUKI_DATA_DIR=str(data))
    assert _run(env, tmp_path, "db", "init").returncode == 0
    key = data / "identifier.key"
    os.chmod(key, 0o640)  # as the retired per-staff set-up had it
    done = _run(env, tmp_path, "db", "rotate-key")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["file", "variable"])
def test_the_retired_shared_setting_is_refused_naming_where_it_is(
    tmp_path: Path, where: str
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "juki.toml"
    config.write_text(f'data_dir = "{data}"\n'
                      + ("group_shared_files = true\n" if where == "file" else ""),
                      encoding="utf-8")
    env = _env(JUKI_CONFIG=str(config))
    if where == "variable":
        env["JUKI_GROUP_SHARED_FILES"] = "true"
    done = _run(env, tmp_path, "db", "init")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "group_shared_files" in done.stderr and "廃止" in done.stderr
    named = str(config) if where == "file" else "JUKI_GROUP_SHARED_FILES"
    assert named in done.stderr and "Traceback" not in done.stderr
    assert not data.exists()  # refused before anything was made
    config.write_text(f'data_dir = "{data}"\ngroup_shared_files = false\n', encoding="utf-8")
    env.pop("JUKI_GROUP_SHARED_FILES", None)
    assert _run(env, tmp_path, "db", "init").returncode == 0  # false asks for nothing


def test_the_error_log_goes_to_the_data_dir_of_the_settings_file(
    tmp_path: Path, umask_022: None
) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    work.mkdir()
    (data / "juki.sqlite3").write_bytes(b"not a database at all " * 100)
    config = tmp_path / "juki.toml"
    config.write_text(f'[juki]\ndata_dir = "{data}"\n', encoding="utf-8")
    done = _run(_env(JUKI_CONFIG=str(config)), work, "db", "init")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "予期しないエラー" in done.stderr and "Traceback" not in done.stderr
    log = data / "juki-error.log"
    assert str(log) in done.stderr
    assert "Traceback" in log.read_text(encoding="utf-8")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert not (work / "var").exists()


def test_demo_leaves_nothing_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    done = _run(_env(JUKI_DATA_DIR=str(data)), tmp_path, "demo")
    assert done.returncode == 2, done.stderr  # no terminal: the register is prepared first
    assert "デモ用アカウント" in done.stdout
    assert (data / "juki.sqlite3").exists() and (data / "identifier.key").exists()
    assert _open_to_others(data) == []


# --- --output --------------------------------------------------------------------------


def _kinds(tmp_path: Path) -> dict[str, Path]:
    """Paths that are not a plain new file: each must be refused and left as it is."""
    (tmp_path / "kept.txt").write_text("元の内容", encoding="utf-8")
    made = {
        "fifo": tmp_path / "pipe",
        "symlink": tmp_path / "link.jsonl",
        "dangling symlink": tmp_path / "dangling.jsonl",
        "directory": tmp_path / "folder",
    }
    os.mkfifo(made["fifo"], 0o644)
    made["symlink"].symlink_to(tmp_path / "kept.txt")
    made["dangling symlink"].symlink_to(tmp_path / "not-there.jsonl")
    made["directory"].mkdir()
    if os.geteuid() == 0:  # a null device of our own: never /dev/null itself
        made["device"] = tmp_path / "null-device"
        os.mknod(made["device"], 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return made


def _shape(path: Path) -> tuple[int, str]:
    info = path.lstat()
    return stat.S_IFMT(info.st_mode), os.readlink(path) if path.is_symlink() else ""


def _events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == action]


def test_audit_export_refuses_a_device_fifo_folder_or_symlink(
    db: Database, juki: Callable[..., Any], tmp_path: Path, umask_022: None
) -> None:
    period = ("--from", "2000-01-01", "--to", "2999-12-31")
    for kind, path in _kinds(tmp_path).items():
        before = _shape(path)
        done = juki("audit", "export", *period, "--output", str(path), "--force")
        assert done.returncode == 2, (kind, done.stdout, done.stderr)
        assert str(path) in done.stderr and "Traceback" not in done.stderr, kind
        assert _shape(path) == before, kind
    assert (tmp_path / "kept.txt").read_text(encoding="utf-8") == "元の内容"
    assert not (tmp_path / "not-there.jsonl").exists()
    exports = _events(db, "audit.export")
    assert exports and {e["outcome"] for e in exports} == {"refused"}


def test_audit_export_replaces_an_existing_file_only_with_force(
    db: Database, juki: Callable[..., Any], tmp_path: Path, umask_022: None
) -> None:
    period = ("--from", "2000-01-01", "--to", "2999-12-31")
    target = tmp_path / "trail.jsonl"
    target.write_text("前の書き出し\n", encoding="utf-8")
    os.chmod(target, 0o644)
    refused = juki("audit", "export", *period, "--output", str(target))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert str(target) in refused.stderr and "--force" in refused.stderr
    assert target.read_text(encoding="utf-8") == "前の書き出し\n"
    forced = juki("audit", "export", *period, "--output", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line)["seq"] for line in lines)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    new = tmp_path / "new.jsonl"
    assert juki("audit", "export", *period, "--output", str(new)).returncode == 0
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    assert [e["outcome"] for e in _events(db, "audit.export")] == ["refused", "success", "success"]


def _report_args(db: Database, settings: Settings, juki: Callable[..., Any],
                 tmp_path: Path, which: str) -> tuple[str, ...]:
    """Make what the report needs; its command without --output."""
    if which == "linkage.report":
        today = local(now()).date()
        return ("linkage", "report", "--from", (today - timedelta(days=1)).isoformat(),
                "--to", today.isoformat(), "--format", "csv")
    if which == "access.report":
        registry(db, settings)
        changes = tmp_path / "idou.csv"
        changes.write_text(HEADER + "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員\n",
                           encoding="utf-8")
        done = juki("hr", "import", str(changes))
        assert done.returncode == 0, done.stderr
        return ("access", "report", "1", "--format", "csv")
    account(db, settings, "c1", ["clerk"], by=Actor.cli())
    assert juki("inspect", "start", "R8").returncode == 0
    return ("inspect", "report", "R8", "--format", "csv")


@pytest.mark.parametrize("which", ["linkage.report", "access.report", "inspection.report"])
def test_a_report_replaces_an_existing_file_only_with_force_and_never_a_fifo(
    db: Database, settings: Settings, juki: Callable[..., Any], tmp_path: Path,
    umask_022: None, which: str,
) -> None:
    args = _report_args(db, settings, juki, tmp_path, which)
    target = tmp_path / "report.csv"
    target.write_text("前の帳票\n", encoding="utf-8")
    refused = juki(*args, "--output", str(target))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert str(target) in refused.stderr and "--force" in refused.stderr
    assert target.read_text(encoding="utf-8") == "前の帳票\n"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    into_pipe = juki(*args, "--output", str(pipe), "--force")
    assert into_pipe.returncode == 2 and str(pipe) in into_pipe.stderr
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    forced = juki(*args, "--output", str(target), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [e["outcome"] for e in _events(db, which)] == ["refused", "refused", "success"]
