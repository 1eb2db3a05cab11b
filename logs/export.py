"""``juki audit export``: the events of a period as JSON lines or CSV, and a record of it.

Bounds are ISO dates or date-times. A time without an offset, and a bare date, are
office time (Japan, +09:00): ``--from 2026-04-01`` starts at that day's 00:00 JST and
``--to 2026-04-30`` takes the whole of that day; a date-time ``--to`` is included to
the microsecond. Events are stored in UTC and compared as such.

JSON lines carry every stored field with ``details`` as an object (as ``audit tail
--json``): re-encoded with sorted keys and no spaces it is the hashed text, so an
outside verifier can check the chain from the export alone. Control, C1, bidi,
zero-width and line-separator characters are written as ``\\uXXXX`` (``core.inert.dumps``):
the file is safe to page on a terminal and splits into lines anywhere, and ``json.loads``
gives back the exact stored text. CSV is for people: UTF-8
with BOM (Excel on Japanese Windows reads it as UTF-8), CRLF, every cell quoted, one
plain line (``core.inert``), and a cell that a spreadsheet would read as a formula gets
a leading apostrophe — the rule of ``services.reports.csv``, repeated here because the
logs floor cannot import services.

The export is itself an event (``audit.export``: range, format, count, file, SHA-256),
recorded after the file is complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text

from core.actor import Actor
from core.clock import JST, iso
from core.db import Database
from core.errors import BadInput
from core.files import output_file
from core.inert import clean_line, dumps
from logs.audit import record_alone
from logs.outputs import refuse_bad_output

FORMATS = ("jsonl", "csv")
COLUMNS = (
    "seq", "ts", "actor", "session_id", "client_addr", "action", "target", "purpose",
    "outcome", "severity", "details", "prev_hash", "hash",
)
BOM = "\ufeff"
OUTPUT = "--output (出力先)"
_FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")


def parse_bound(value: str, *, field: str, end: bool = False) -> datetime:
    """An ISO date or date-time as an aware instant; for ``end`` the first instant after
    the period (a whole day for a date, one microsecond after a date-time)."""
    raw = (value or "").strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime.combine(day, time(0), JST)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(
            f"{field}: 日付または日時を ISO 形式で指定してください"
            f" (例: 2026-04-01、2026-04-01T09:30、2026-04-01T00:30:00Z)。入力: {raw!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment + timedelta(microseconds=1) if end else moment


def check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadInput("--to (終了): 開始 (--from) より後の日時を指定してください。")


def _events(db: Database, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Events with start <= ts < end, in chain order, streamed (a server-side cursor on
    PostgreSQL). ts is fixed-width UTC text, so text order is time order."""
    query = text(
        f"SELECT {', '.join(COLUMNS)} FROM audit_event"
        " WHERE ts >= :start AND ts < :end ORDER BY seq"
    )
    with db.engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=2000).execute(
            query, {"start": iso(start), "end": iso(end)}
        )
        for row in rows.mappings():
            yield dict(row)


def _inert_cell(value: object) -> str:
    raw = "" if value is None else str(value)
    cell = clean_line(raw)
    lead = cell.lstrip(" \u3000")
    if (lead and lead[0] in _FORMULA_STARTS) or (raw and raw[0] in _FORMULA_STARTS):
        return "'" + cell
    return cell


def _jsonl_line(ev: dict[str, Any]) -> bytes:
    out = dict(ev)
    out["details"] = json.loads(ev["details"])
    return (dumps(out, sort_keys=True) + "\n").encode("utf-8")


class _CsvLines:
    """One CSV row at a time as bytes (the csv module writes to text)."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def row(self, cells: list[object]) -> bytes:
        self.writer.writerow([_inert_cell(c) for c in cells])
        data = self.buf.getvalue()
        self.buf.seek(0)
        self.buf.truncate()
        return data.encode("utf-8")


@dataclass(frozen=True)
class Exported:
    count: int
    sha256: str
    path: Path | None  # None: standard output


def _write(db: Database, start: datetime, end: datetime, fmt: str, out: BinaryIO,
           digest: Any) -> int:
    def put(data: bytes) -> None:
        digest.update(data)
        out.write(data)

    count = 0
    if fmt == "csv":
        lines = _CsvLines()
        put(BOM.encode("utf-8") + lines.row(list(COLUMNS)))
        for ev in _events(db, start, end):
            put(lines.row([ev[c] for c in COLUMNS]))
            count += 1
    else:
        for ev in _events(db, start, end):
            put(_jsonl_line(ev))
            count += 1
    return count


def export_events(
    db: Database, actor: Actor, *, start: datetime, end: datetime, fmt: str,
    output: str | None = None, stdout: BinaryIO | None = None, force: bool = False,
) -> Exported:
    """Write the period's events to ``output`` (mode 0600, in place only when complete;
    an existing file only with ``force``, never a device, FIFO, folder or symlink:
    ``core.files``) or to ``stdout``; record ``audit.export``, or its refusal when
    ``output`` names something that may not be replaced."""
    if fmt not in FORMATS:
        raise BadInput(f"--format (形式): {' / '.join(FORMATS)} のどれかを指定してください。")
    check_period(start, end)
    digest = hashlib.sha256()
    path: Path | None = None
    if output:
        path = Path(output)
        refuse_bad_output(db, actor, "audit.export", path, force=force, field=OUTPUT)
        with output_file(path, force=force, field=OUTPUT) as fh:
            count = _write(db, start, end, fmt, fh, digest)
    else:
        assert stdout is not None
        count = _write(db, start, end, fmt, stdout, digest)
        stdout.flush()
    done = Exported(count, digest.hexdigest(), path)
    record_alone(db, actor, "audit.export", details={
        "from": iso(start), "before": iso(end), "format": fmt, "count": count,
        "output": str(path) if path else "-", "sha256": done.sha256,
    })
    return done
