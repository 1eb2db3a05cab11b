"""The alert scanner: judge new audit events with every rule, raise each alert once.

One pass (``scan``) runs in one write transaction: it takes the cursor row (a row lock on
PostgreSQL, the write lock on SQLite — scanners in several processes take turns), reads
the events after it (alerts themselves excepted), runs the rules, appends one
``alert.<rule>`` event (outcome ``alert``, severity ``high``) per new finding, and moves the
cursor. The alert and the cursor move commit together, so a crash never loses or doubles
one. ``juki audit watch`` repeats it every ``alert_scan_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from auth.access import permissions_on
from auth.identity import Identity
from auth.roles import Perm
from core.actor import Actor
from core.clock import iso, now
from core.db import BACK, Database, columns, table
from core.errors import StorageFault
from core.settings import Settings
from logs.audit import AuditEvent, record
from services.alerts.models import AlertCursor
from services.alerts.rules import RULES, Event, Finding

SCANNER = Actor(login="system:alerts")
BATCH = 5000
RETRY_SECONDS = 1.0
"""While the database is away, how often a pass is tried again (at least)."""
_E = columns(AuditEvent)
_C = columns(AlertCursor)


@dataclass(frozen=True)
class Scanned:
    events: int
    alerts: tuple[Finding, ...]
    cursor: int


def _cursor(conn: Any, postgresql: bool) -> int:
    stmt = select(_C.seq).where(_C.id == 1)
    if postgresql:
        stmt = stmt.with_for_update()
    seq = conn.execute(stmt).scalar()
    if seq is None:
        conn.execute(table(AlertCursor).insert().values(id=1, seq=0))
        return 0
    return int(seq)


def _already(conn: Any, finding: Finding) -> bool:
    """An alert with this key was raised within the finding's quiet time."""
    return conn.execute(select(func.count()).where(
        _E.action == f"alert.{finding.rule}", _E.target == finding.target,
        _E.ts >= iso(now() - finding.quiet),
        _E.details.like(f'%"key":"{finding.key}"%'),
    )).scalar_one() > 0


def scan(db: Database, settings: Settings, batch: int = BATCH) -> Scanned:
    """One pass over the events after the cursor; see the module docstring."""
    with db.write() as s:
        conn = s.connection()
        after = _cursor(conn, not db.is_sqlite)
        rows = conn.execute(
            select(_E.seq, _E.ts, _E.actor, _E.action, _E.target, _E.outcome, _E.severity,
                   _E.details).where(_E.seq > after).order_by(_E.seq).limit(batch)
        ).mappings().all()
        if not rows:
            return Scanned(0, (), after)
        last = int(rows[-1]["seq"])
        events = [Event.of(r) for r in rows if not r["action"].startswith("alert.")]
        raised: list[Finding] = []
        keys: set[str] = set()
        for rule in RULES:
            for finding in rule(conn, settings, events):
                if finding.key in keys or _already(conn, finding):
                    continue
                keys.add(finding.key)
                raised.append(finding)
        for f in raised:
            record(s, SCANNER, f"alert.{f.rule}", target=f.target, outcome="alert",
                   severity="high", details={"key": f.key, "message": f.message, **f.details})
        conn.execute(update(table(AlertCursor)).where(
            _C.id == 1).values(seq=last))
    return Scanned(len(rows), tuple(raised), last)


def alert_lines(db: Database, ident: Identity, hours: float = 24.0) -> list[str]:
    """For the home screen of those who read the trail: how many alerts stand open."""
    with db.read() as s:
        conn = s.connection()
        if Perm.AUDIT_READ not in permissions_on(conn, ident):
            return []
        n = conn.execute(select(func.count()).where(
            _E.outcome == "alert", _E.action.like("alert.%"),
            _E.ts >= iso(now() - timedelta(hours=hours)))).scalar_one()
    if not n:
        return []
    return [f"直近{hours:g}時間の警告が {n:,} 件あります（操作ログで確認してください）。"]


def watch(db: Database, settings: Settings, out: Callable[[str], None], *,
          once: bool = False, warn: Callable[[str], None] | None = None) -> int:
    """Scan until stopped (Ctrl+C / SIGTERM), or until caught up with ``once``.

    A database that cannot be reached (or has no disk space left) does not end the
    watch: it says so once on ``warn`` (stderr), tries again every interval, and says
    when the database is back; the cursor commits with each pass, so the events written
    meanwhile are judged then (docs/architecture.md §12). ``once`` gives up at once."""
    interval = max(0.05, float(settings.alert_scan_seconds))
    say = warn or out
    waiting: StorageFault | None = None
    while True:
        try:
            done = scan(db, settings)
        except StorageFault as exc:
            if once:
                raise
            if waiting is None or type(waiting) is not type(exc):
                say(f"{exc.waiting} (警告の判定を止めています)")
            waiting = exc
            time.sleep(max(interval, RETRY_SECONDS))
            continue
        if waiting is not None:
            say(f"{BACK}警告の判定を再開します。")
            waiting = None
        for f in done.alerts:
            out(f"[警告] {f.message}")
        if done.events >= BATCH:
            continue  # behind: go on at once
        if once:
            return 0
        time.sleep(interval)
