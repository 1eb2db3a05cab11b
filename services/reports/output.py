"""What every report file needs: Japan time, 和暦 with the time, a private atomic write.

Times are stored in UTC; documents are read in the office, so they print Japan time
(JST, UTC+9 all year — Japan keeps no daylight saving time). A report period given as
dates means whole office days: ``day_bounds`` turns it into a UTC half-open range.

Report files carry residents' names: ``write_private`` writes them readable by the
owner only (0600, whatever the umask), through a temporary file in the same folder
(``core.files``), so a reader never sees half a report. A symlink, folder, device or FIFO
at the path is refused, and an existing file is replaced only with ``force``.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime, time, timedelta

from core.clock import JST, japan
from core.files import write_output
from services.jp.wareki import format_wareki

local = japan  # a stored time in Japan time (core.clock)


def wareki_datetime(dt: datetime | None, *, seconds: bool = False) -> str:
    """令和7年12月12日 14:05 (Japan time); "" for None."""
    if dt is None:
        return ""
    t = local(dt)
    clock = t.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{format_wareki(t.date())} {clock}"


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 JST, the day after end 00:00 JST) as UTC datetimes."""
    lo = datetime.combine(start, time(0), JST)
    hi = datetime.combine(end + timedelta(days=1), time(0), JST)
    return lo.astimezone(UTC), hi.astimezone(UTC)


def period_text(start: date, end: date) -> str:
    """令和7年12月1日〜令和7年12月31日."""
    return f"{format_wareki(start)}〜{format_wareki(end)}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_private(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> str:
    """Write ``data`` to ``path`` with mode 0600, atomically; return its SHA-256 (hex).

    BadInput (naming the file) when the folder is missing or not writable, or the path is
    not a new file (``core.files.check_output``), so the CLI exits 2 with a sentence
    instead of a traceback.
    """
    write_output(path, data, force=force)
    return sha256_hex(data)

