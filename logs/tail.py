"""Reading the audit trail for a live tail: a few columns, by seq ranges, filtered in SQL.

A tail over a trail of a million events must never load it whole. It reads the newest
page, then pages backwards (``before``) as the reader scrolls up and forwards (``after``)
as new events commit, always by seq — the primary key, so every read is an index range.
A line needs only seven short columns (``LINE_COLUMNS``); the whole event (details,
hashes) is read for one seq when it is opened (``event``).

Filters are evaluated in SQL where they can be (actor, action, outcome, severity, time
range); a resident is matched roughly in SQL (the target or the details text mention the
id) and exactly here (``mentions_resident``). A rare filter on a long trail could scan far
back, so a backward page walks down in windows of ``WINDOW`` seqs and stops once it has
its rows or has spent ``budget_seconds``; the caller learns where to go on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import text

from core.db import Database

LINE_COLUMNS = ("seq", "ts", "actor", "action", "target", "outcome", "severity")
WINDOW = 50_000
"""Seqs a filtered backward page scans per query."""


class TailLine(NamedTuple):
    """What one line of the tail shows (the columns a line needs, nothing more)."""

    seq: int
    ts: str
    actor: str
    action: str
    target: str
    outcome: str
    severity: str

    @property
    def alert(self) -> bool:
        return self.outcome == "alert" or self.severity == "high"


@dataclass(frozen=True)
class TailFilter:
    """Conditions on events; empty strings mean "any". Times are audit ``ts`` text (UTC).

    ``action`` matches every action that contains it, as staff remember or read it on
    the screen (``register`` → ``register.search``…, ``reveal`` →
    ``register.reveal_my_number`` and ``linkage.reveal_number``, and a name cut off by
    the column); ``resident`` is a resident id mentioned by the event.
    """

    actor: str = ""
    action: str = ""
    outcome: str = ""
    severity: str = ""
    resident: int | None = None
    since: str = ""
    until: str = ""

    @property
    def empty(self) -> bool:
        return self == TailFilter()

    def as_details(self) -> dict[str, Any]:
        """The filter as recorded in an ``audit.read`` event (only what is set)."""
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass(frozen=True)
class Page:
    """Lines in seq order, and ``next_before``: the seq to pass to ``before`` for the page
    older than this one (≤ 1 when the start of the trail was reached)."""

    lines: list[TailLine]
    next_before: int


def _where(flt: TailFilter, params: dict[str, Any]) -> str:
    parts: list[str] = []
    if flt.actor:
        parts.append("actor = :actor")
        params["actor"] = flt.actor
    if flt.action:
        # Action names are lower-case ASCII: lower the typed text and a plain LIKE finds
        # them on both databases. The seq range bounds the scan; _exact then drops what
        # '_' or '%' in the text let through.
        parts.append("action LIKE :action")
        params["action"] = f"%{flt.action.lower()}%"
    if flt.outcome:
        parts.append("outcome = :outcome")
        params["outcome"] = flt.outcome
    if flt.severity:
        parts.append("severity = :severity")
        params["severity"] = flt.severity
    if flt.since:
        parts.append("ts >= :since")
        params["since"] = flt.since
    if flt.until:
        parts.append("ts < :until")
        params["until"] = flt.until
    if flt.resident is not None:
        parts.append("(target = :res_target OR details LIKE :res_like)")
        params["res_target"] = f"resident:{flt.resident}"
        params["res_like"] = f"%{flt.resident}%"
    return "".join(f" AND {p}" for p in parts)


_SELECT = "SELECT " + ", ".join(LINE_COLUMNS)
_SELECT_RES = _SELECT + ", details"


def mentions_resident(target: str, details: str, resident: int) -> bool:
    """True when the event is about ``resident``: its target, or an id in its details.

    Details keys that name residents: ``resident_id``/``resident`` (one id) and
    ``residents`` (a list, as a lookup records the hits it returned).
    """
    if target == f"resident:{resident}":
        return True
    try:
        data = json.loads(details)
    except ValueError:
        return False
    return _mentions(data, resident)


def _mentions(data: Any, resident: int) -> bool:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("resident_id", "resident") and _same(value, resident):
                return True
            if key == "residents" and isinstance(value, list):
                if any(_same(v, resident) for v in value):
                    return True
            if isinstance(value, (dict, list)) and _mentions(value, resident):
                return True
    elif isinstance(data, list):
        return any(_mentions(v, resident) for v in data)
    return False


def _same(value: Any, resident: int) -> bool:
    return value == resident or (isinstance(value, str) and value == str(resident))


def _exact(flt: TailFilter, rows: list[Any]) -> list[TailLine]:
    """Lines from rows, keeping only those the rough SQL match let through by accident."""
    out: list[TailLine] = []
    part = flt.action.lower()
    for row in rows:
        if part and part not in row[3]:
            continue
        if flt.resident is not None and not mentions_resident(row[4], row[7], flt.resident):
            continue
        out.append(TailLine._make(row[:7]))
    return out


def after(
    db: Database, after_seq: int, limit: int, flt: TailFilter = TailFilter(),
    *, upto: int | None = None,
) -> tuple[list[TailLine], int]:
    """Up to ``limit`` lines with ``after_seq`` < seq (≤ ``upto``), oldest first, and the
    last seq the read covered (where the next read starts).

    A poller passes the head it read just before as ``upto``: every event up to the head
    has committed (appends hold the head's lock until commit), so the next poll may start
    after ``upto`` even when a filter matched nothing — no range is read twice.
    """
    params: dict[str, Any] = {"after": after_seq, "lim": limit}
    where = _where(flt, params)
    if upto is not None:
        where = " AND seq <= :upto" + where
        params["upto"] = upto
    select = _SELECT_RES if flt.resident is not None else _SELECT
    sql = f"{select} FROM audit_event WHERE seq > :after{where} ORDER BY seq LIMIT :lim"
    with db.engine.connect() as conn:
        rows = list(conn.execute(text(sql), params).all())
    if len(rows) >= limit or upto is None:
        covered = rows[-1][0] if rows else after_seq
    else:
        covered = upto
    if not flt.action and flt.resident is None:
        return [TailLine._make(r) for r in rows], covered
    return _exact(flt, rows), covered


def before(
    db: Database, before_seq: int, limit: int, flt: TailFilter = TailFilter(),
    *, budget_seconds: float = 0.5,
) -> Page:
    """Up to ``limit`` lines with seq < ``before_seq``, in seq order (an older page).

    Without a filter this is one index range. With one it walks down in windows of
    ``WINDOW`` seqs until it has ``limit`` lines, reaches seq 1, or the budget is spent;
    ``next_before`` says where the next page starts.
    """
    params: dict[str, Any] = {"before": before_seq, "lim": limit}
    where = _where(flt, params)
    select = _SELECT_RES if flt.resident is not None else _SELECT
    found: list[TailLine] = []
    top = before_seq
    deadline = time.monotonic() + budget_seconds
    with db.engine.connect() as conn:
        while top > 1 and len(found) < limit:
            low = 0 if flt.empty else max(0, top - WINDOW)
            params.update(before=top, low=low, lim=limit - len(found))
            sql = (
                f"{select} FROM audit_event WHERE seq < :before AND seq > :low{where}"
                " ORDER BY seq DESC LIMIT :lim"
            )
            rows = list(conn.execute(text(sql), params).all())
            lines = (
                [TailLine._make(r) for r in rows] if not flt.action and flt.resident is None
                else _exact(flt, rows)
            )
            found.extend(lines)
            if len(rows) == params["lim"] and rows:
                top = rows[-1][0]  # a full page of rough matches: go on below its last row
            else:
                top = low + 1 if low > 0 else 0
            if time.monotonic() > deadline:
                break
    found.sort(key=lambda line: line.seq)
    lowest = found[0].seq if len(found) >= limit and found else top
    return Page(found[-limit:] if len(found) > limit else found, max(lowest, 0))


def head(db: Database) -> int:
    """The last seq appended (0 for an empty trail)."""
    with db.engine.connect() as conn:
        value = conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar()
    return int(value or 0)


def event(db: Database, seq: int) -> dict[str, Any] | None:
    """The whole event ``seq`` (every column), or None."""
    sql = (
        "SELECT seq, ts, actor, session_id, client_addr, action, target, purpose, outcome,"
        " severity, details, prev_hash, hash FROM audit_event WHERE seq = :seq"
    )
    with db.engine.connect() as conn:
        row = conn.execute(text(sql), {"seq": seq}).mappings().first()
    return dict(row) if row is not None else None


__all__ = [
    "LINE_COLUMNS", "Page", "TailFilter", "TailLine", "after", "before", "event", "head",
    "mentions_resident",
]
