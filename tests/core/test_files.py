"""``core.files``: explicit modes whatever the umask; an output replaces only what it may."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import BadInput
from core.files import create_file, make_dirs, open_append, output_file, write_output
from core.sealed import create_key_file


@pytest.fixture(params=[0o022, 0o077, 0o000], ids=["umask022", "umask077", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o660])
def test_files_and_folders_get_their_mode_whatever_the_umask(
    tmp_path: Path, umask: int, mode: int
) -> None:
    made = tmp_path / "a" / "b" / "db.sqlite3"
    assert create_file(made, mode) is True
    assert _mode(made) == mode
    folder = 0o700 if mode == 0o600 else 0o770
    assert _mode(tmp_path / "a") == _mode(tmp_path / "a" / "b") == folder
    assert create_file(made, mode) is False  # there already: left alone
    log = tmp_path / "c" / "juki-error.log"
    os.close(open_append(log, mode))
    assert _mode(log) == mode and _mode(log.parent) == folder
    out = tmp_path / "out.csv"
    write_output(out, b"x")
    assert _mode(out) == 0o600


def test_the_my_number_key_is_made_0600_in_a_0700_folder_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    key = tmp_path / "keys" / "identifier.key"
    assert create_key_file(key) is True
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    assert create_key_file(key) is False  # one there already: never replaced


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2770)
    make_dirs(shared / "reports")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2770
    assert _mode(shared / "reports") == 0o700


def test_appending_narrows_a_file_of_ours_and_leaves_a_device_alone(tmp_path: Path) -> None:
    wide = tmp_path / "audit.jsonl"
    wide.write_text("{}\n")
    os.chmod(wide, 0o644)
    fd = open_append(wide)
    os.write(fd, b"{}\n")
    os.close(fd)
    assert _mode(wide) == 0o600 and wide.read_text() == "{}\n{}\n"
    before = os.stat("/dev/null")
    os.close(open_append(Path("/dev/null")))
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_mode == before.st_mode


def _not_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "kept.txt").write_text("元の内容")
    paths = {"fifo": tmp_path / "pipe", "symlink": tmp_path / "link",
             "dangling symlink": tmp_path / "dangling", "directory": tmp_path / "folder"}
    os.mkfifo(paths["fifo"])
    paths["symlink"].symlink_to(tmp_path / "kept.txt")
    paths["dangling symlink"].symlink_to(tmp_path / "nowhere.txt")
    paths["directory"].mkdir()
    if os.geteuid() == 0:
        paths["device"] = tmp_path / "null"
        os.mknod(paths["device"], 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return paths


@pytest.mark.parametrize("force", [False, True])
def test_an_output_is_never_a_device_fifo_folder_or_symlink(
    tmp_path: Path, force: bool
) -> None:
    for kind, path in _not_files(tmp_path).items():
        before = path.lstat()
        with pytest.raises(BadInput, match=str(path)):
            write_output(path, b"trail", force=force)
        after = path.lstat()
        assert (after.st_mode, after.st_ino, after.st_rdev) == (
            before.st_mode, before.st_ino, before.st_rdev), kind
    assert (tmp_path / "kept.txt").read_text() == "元の内容"
    assert not (tmp_path / "nowhere.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="as root a broken check would replace "
                    "/dev/null; the device made in tmp_path stands for it there")
def test_dev_null_is_refused_and_stays_a_device() -> None:
    before = os.stat("/dev/null")
    with pytest.raises(BadInput, match="/dev/null"):
        write_output("/dev/null", b"trail", force=True)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_an_existing_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("前の帳票")
    os.chmod(target, 0o644)
    with pytest.raises(BadInput, match="--force"):
        write_output(target, b"new")
    assert target.read_text() == "前の帳票"
    write_output(target, b"new", force=True)
    assert target.read_bytes() == b"new" and _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "trail.jsonl"
    with pytest.raises(RuntimeError), output_file(target) as fh:
        fh.write(b"half")
        raise RuntimeError("cut")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="フォルダ"):
        write_output(tmp_path / "no" / "x.csv", b"x")
