"""A small disk of the test's own that it can fill: a tmpfs mounted under a temporary folder.

Mounting needs root (the tests skip without it). ``fill()`` takes every free page with a
filler file, as a disk that filled up would be; ``free()`` gives the space back.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHUNK = 1 << 16


class SmallDisk:
    """A tmpfs of ``size`` at ``path``; see the module docstring."""

    def __init__(self, size: str = "16m") -> None:
        self.path = Path(tempfile.mkdtemp(prefix="juki-disk-"))
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                               "tmpfs", str(self.path)], capture_output=True, text=True)
        if done.returncode != 0:
            self.path.rmdir()
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.filler = self.path / "filler"

    def fill(self) -> None:
        """Write until the disk says it is full: nothing is left but the slack in the last
        page of each file."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (CHUNK, 4096):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remove(self) -> None:
        subprocess.run(["umount", str(self.path)], capture_output=True)
        if os.path.ismount(self.path):
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
