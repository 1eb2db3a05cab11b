"""The private folder a backup's plaintext passes through (docs/architecture.md §9).

The payload is the database in the clear until it is encrypted, and again after it is
decrypted: it is written only into a folder made 0700 inside the data directory (which
already holds the database itself, so nothing is exposed that was not), its files 0600,
and the folder is removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.files import create_file, make_dirs


@contextmanager
def private_folder(parent: Path) -> Iterator[Path]:
    """A new folder (mode 0700) under ``parent`` for the block, removed after it."""
    make_dirs(parent)
    path = Path(tempfile.mkdtemp(prefix=".juki-backup-", dir=parent))
    try:
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def private_file(path: Path) -> Path:
    """``path`` made empty with mode 0600 (before a tool opens it with the umask's)."""
    path.unlink(missing_ok=True)
    create_file(path)
    return path
