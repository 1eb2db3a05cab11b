"""An output path refused before anything is written, and the refusal in the trail.

Every command that writes a file the operator names (``audit export``, the linkage,
access and inspection reports) checks the path first (``core.files.check_output``): a
device, FIFO, socket, folder or symlink, or an existing file without ``--force``, is
refused (exit 2) and the refusal recorded under the command's own action. A folder that
is not there is plain bad input, as a bad date is, and is not recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.actor import Actor
from core.db import Database
from core.files import BadOutput, check_output
from logs.audit import record_alone


def refuse_bad_output(db: Database, actor: Actor, action: str, path: Path, *,
                      force: bool, target: str = "", field: str = "出力先") -> None:
    """Raise ``BadOutput`` for a path that may not be written, recorded as ``action``."""
    try:
        check_output(path, force=force, field=field)
    except BadOutput as exc:
        if os.path.lexists(path):
            record_alone(db, actor, action, target=target, outcome="refused",
                         severity="warning", details={
                             "reason": "output", "file": str(path), "message": exc.message})
        raise
