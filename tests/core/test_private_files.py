"""``core.private_files``: which files are private, what counts as open, what is said."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.errors import Refused
from core.private_files import exposed, private_files, refuse_exposed, sqlite_path
from core.settings import Settings


@pytest.mark.parametrize("url", [
    "sqlite:///juki.sqlite3", "sqlite:////var/lib/juki/juki.sqlite3",
    "sqlite+pysqlite:////srv/j/db.sqlite3", "sqlite:////tmp/a%20b.db", "sqlite:///rel/x.db?timeout=5",
])
def test_the_sqlite_file_is_the_one_sqlalchemy_opens(url: str) -> None:
    assert sqlite_path(url) == Path(make_url(url).database or "")


@pytest.mark.parametrize("url", [
    "sqlite://", "sqlite:///:memory:", "postgresql+psycopg://juki:secret@db/juki",
    "postgresql:///juki",
])
def test_no_file_for_memory_or_postgresql(url: str) -> None:
    assert sqlite_path(url) is None


def _world(tmp_path: Path) -> tuple[Settings, dict[str, str], dict[str, Path]]:
    data = tmp_path / "var"
    data.mkdir()
    config = tmp_path / "juki.toml"
    files = {"db": data / "juki.sqlite3", "wal": data / "juki.sqlite3-wal",
             "shm": data / "juki.sqlite3-shm", "key": data / "identifier.key",
             "signing": data / "audit-signing.key", "settings": config}
    for path in files.values():
        path.write_text("x")
        os.chmod(path, 0o600)
    return Settings(data_dir=str(data)), {"JUKI_CONFIG": str(config)}, files


def test_the_private_files_are_the_database_its_wal_and_shm_the_keys_and_the_settings(
    tmp_path: Path,
) -> None:
    settings, env, files = _world(tmp_path)
    assert [p for _what, p in private_files(settings, env)] == [
        files["db"], files["wal"], files["shm"], files["key"], files["signing"],
        files["settings"]]
    on_pg = settings.with_(database_url="postgresql+psycopg://juki:pw@db/juki")
    assert [p for _what, p in private_files(on_pg, {})] == [files["key"], files["signing"]]
    assert exposed(settings, env) == []
    refuse_exposed(settings, env)  # nothing open: returns


@pytest.mark.parametrize("which", ["db", "wal", "shm", "key", "signing", "settings"])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o610, 0o602])
def test_any_bit_for_the_group_or_others_is_named(
    tmp_path: Path, which: str, mode: int
) -> None:
    settings, env, files = _world(tmp_path)
    os.chmod(files[which], mode)
    problems = exposed(settings, env)
    assert [(p.path, p.mode) for p in problems] == [(files[which], mode)]
    with pytest.raises(Refused) as info:
        refuse_exposed(settings, env)
    assert info.value.exit_code == 1
    assert f"{files[which]}: モード {mode:04o}" in info.value.message
    assert f"chmod 600 {files[which]}" in info.value.message


def test_the_words_say_who_may_do_what(tmp_path: Path) -> None:
    settings, env, files = _world(tmp_path)
    os.chmod(files["key"], 0o664)
    (line,) = [p.line() for p in exposed(settings, env)]
    assert "グループに読み取り・書き込み、その他のアカウントに読み取りの権限があります" in line
    assert line.startswith(f"  個人番号の暗号鍵 {files['key']}")


def test_a_path_with_a_space_is_quoted_in_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "my settings.toml"
    config.write_text("x")
    os.chmod(config, 0o644)
    (problem,) = exposed(Settings(data_dir=str(tmp_path)), {"JUKI_CONFIG": str(config)})
    assert f"chmod 600 '{config}'" in problem.line()


def test_a_symlink_counts_by_its_target_and_missing_files_are_no_finding(
    tmp_path: Path,
) -> None:
    settings, env, files = _world(tmp_path)
    for name in ("wal", "shm", "settings"):
        files[name].unlink()
    real = tmp_path / "real.key"
    real.write_text("x")
    os.chmod(real, 0o644)
    files["key"].unlink()
    files["key"].symlink_to(real)
    assert [(p.path, p.mode) for p in exposed(settings, env)] == [(files["key"], 0o644)]
    os.chmod(real, 0o600)
    assert exposed(settings, env) == []
