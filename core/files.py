"""Files juki writes: explicit modes whatever the umask, and outputs that replace nothing
but a regular file the operator said may go.

The data directory holds the register, the trail and the key: what juki creates there is
the service account's alone (files 0600, folders 0700), whatever the umask: every new
file and folder gets its mode set after it is made (a umask can only narrow the mode
asked for, and a narrower one, say 0277, would leave the database unwritable). The
console refuses to start when the private ones were opened up later
(``core.private_files``).

An output path (``--output``, a report) is written through a temporary file in the same
folder, so a reader never sees half of it. It may not be a device, a FIFO, a socket, a
folder or a symlink: renaming over a device node (``--output /dev/full``) would turn the
device into a regular file holding the trail, and a symlink would put the file wherever
it points. An existing regular file is replaced only when ``force`` says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core.errors import BadInput

PRIVATE = 0o600


def folder_mode(file_mode: int) -> int:
    """The folder mode that goes with a file mode: search wherever read is given
    (0600 → 0700)."""
    return file_mode | ((file_mode & 0o444) >> 2)


def make_dirs(path: Path, mode: int = 0o700) -> None:
    """``mkdir -p`` where each folder made here gets ``mode`` exactly; folders that are
    already there are left as they are (``/var/lib/juki`` keeps what the set-up gave it)."""
    missing: list[Path] = []
    cur = path
    while not cur.exists() and cur != cur.parent:
        missing.append(cur)
        cur = cur.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        os.chmod(folder, mode)


def _open_new(path: Path, mode: int) -> int | None:
    """A new file ``path`` opened for writing with ``mode`` exactly (its folder made with
    ``make_dirs``; never through a symlink); None when something is there already."""
    make_dirs(path.parent, folder_mode(mode))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except FileExistsError:
        return None
    try:
        os.fchmod(fd, mode)  # the umask took bits off at open
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


def create_file(path: Path, mode: int = PRIVATE) -> bool:
    """Create ``path`` empty with ``mode`` exactly unless something is there (never
    through a symlink); True when it was made. Its folder is made with ``make_dirs``."""
    fd = _open_new(path, mode)
    if fd is None:
        return False
    os.close(fd)
    return True


def keep_mode(path: Path, mode: int = PRIVATE) -> None:
    """An existing regular file of ours loses every permission bit ``mode`` does not give
    (a database made 0644 by an older version); another account's file, a device or a
    missing path is left alone."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() \
            and stat.S_IMODE(info.st_mode) & ~mode:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def open_append(path: Path, mode: int = PRIVATE) -> int:
    """A descriptor appending to ``path`` (one ``write`` per line: lines from several
    processes never interleave). A new file gets ``mode`` exactly; a regular file we own
    is set to it; another account's file or ``/dev/null`` is only opened."""
    make_dirs(path.parent, folder_mode(mode))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() \
                and stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_whole(fd: int, data: bytes) -> None:
    """Append ``data`` through ``fd`` (from ``open_append``) whole or not at all.

    A disk that fills up takes part of a write and refuses the rest: the part left behind
    would glue itself to the next process's line (a torn anchor line reads as tampering).
    So a regular file is locked (``flock``: every writer of the anchor file and the
    JSON-lines copy goes through here), and a write that did not go whole is cut back to
    where it began and raised as ENOSPC; the file holds whole lines only."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # /dev/null, a pipe: nothing to cut
        os.write(fd, data)
        return
    # flock does not part two threads sharing a descriptor (the stream's): a lock does.
    with _APPENDING:
        _append_locked(fd, data)


_APPENDING = threading.Lock()


def _append_locked(fd: int, data: bytes) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, start)
            raise
        if written != len(data):
            os.ftruncate(fd, start)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def no_space(exc: BaseException) -> bool:
    """The error says the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


# --- outputs ----------------------------------------------------------------------------

_NOT_A_FILE = (
    (stat.S_ISLNK, "シンボリックリンク"),
    (stat.S_ISDIR, "フォルダ"),
    (stat.S_ISCHR, "デバイス (キャラクタ型)"),
    (stat.S_ISBLK, "デバイス (ブロック型)"),
    (stat.S_ISFIFO, "名前付きパイプ (FIFO)"),
    (stat.S_ISSOCK, "ソケット"),
)


class BadOutput(BadInput):
    """An output path that is not a new or (with ``force``) an existing regular file."""


def check_output(path: Path, *, force: bool = False, field: str = "出力先") -> None:
    """Refuse (``BadOutput``, exit 2, naming the path) anything but a new file in an
    existing folder, or an existing regular file when ``force`` is given."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise BadOutput(f"{field}: {path} を確かめられません ({exc.strerror})。") from None
    if info is not None:
        for test, kind in _NOT_A_FILE:
            if test(info.st_mode):
                raise BadOutput(f"{field}: {path} は{kind}です。書き出せるのは通常のファイル"
                                "だけです。新しいファイル名を指定してください。")
        if not force:
            raise BadOutput(f"{field}: {path} は既にあります。上書きするときは --force を"
                            "付けてください。")
    folder = path.parent
    if not folder.is_dir():
        raise BadOutput(f"{field}: フォルダ {folder} がありません。")


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str], *, force: bool = False,
                field: str = "出力先") -> Iterator[BinaryIO]:
    """A file to write the output into (mode 0600); when the block ends without an error
    it takes the place of ``path`` whole, and otherwise nothing is left. ``check_output``'s
    rules hold both before and at the moment it is put in place."""
    target = Path(path)
    check_output(target, force=force, field=field)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".juki-output-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BadOutput(f"{field}: {target.parent} に書き込めません ({exc.strerror})。") from None
    try:
        os.fchmod(fd, PRIVATE)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _put_in_place(Path(tmp), target, force=force, field=field)
    except OSError as exc:
        raise BadOutput(f"{field}: {target} に書き込めません ({exc.strerror})。") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_output(path: str | os.PathLike[str], data: bytes, *, force: bool = False,
                 field: str = "出力先") -> None:
    """``data`` as the whole of ``path`` (``output_file``)."""
    with output_file(path, force=force, field=field) as fh:
        fh.write(data)


def _put_in_place(tmp: Path, target: Path, *, force: bool, field: str) -> None:
    """A new name is linked (the kernel refuses if anything appeared there meanwhile); an
    existing regular file is renamed over after it is checked once more."""
    check_output(target, force=force, field=field)
    if force and target.exists():
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target, follow_symlinks=False)
    except FileExistsError:
        check_output(target, force=False, field=field)  # names what is there now
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        _copy_exclusive(tmp, target)  # a filesystem without hard links (a FAT stick)


def _copy_exclusive(tmp: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 PRIVATE)
    try:
        with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes, mode: int = PRIVATE) -> bool:
    """Write ``data`` as a new file ``path`` with ``mode`` exactly, unless something is
    there already (never through a symlink); True when it was written. A key is whole or
    absent: the bytes are written and fsynced before this returns, and a failed write
    leaves no file behind. Its folder is made with ``make_dirs``."""
    fd = _open_new(path, mode)
    if fd is None:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True
