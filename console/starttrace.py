"""The start-up trace (setting ``start_trace``): two JSON lines per console start.

``painted``: the sign-in form's first frame has been rendered and handed to the terminal;
the app starts loading the database layer only after writing this line. ``ready``: that
load (and ``juki demo``'s register) is done. Each line carries the ``CLOCK_MONOTONIC`` time
(comparable across processes), the process's CPU time so far (less swayed by a busy host
than the time to paint) and the database modules loaded at that moment, so a test can see
that none was loaded before the paint.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from core.files import PRIVATE, open_append

DATABASE_LAYERS = frozenset({"sqlalchemy", "sqlmodel", "psycopg", "alembic", "services"})
"""Top-level packages that load behind the first paint (``services`` import SQLAlchemy)."""


def database_modules() -> list[str]:
    """The modules of the database layers loaded in this process now."""
    return sorted(m for m in list(sys.modules) if m.partition(".")[0] in DATABASE_LAYERS)


def record(path: str, event: str) -> None:
    """Append one ``event`` line to ``path``; nothing when ``path`` is empty (the default)."""
    if not path:
        return
    import json  # on use: only when the trace is on

    line = json.dumps({
        "event": event, "monotonic": time.monotonic(), "cpu_seconds": time.process_time(),
        "pid": os.getpid(), "database_modules": database_modules(),
    })
    fd = open_append(Path(path), PRIVATE)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)
