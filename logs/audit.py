"""The audit trail: one append-only, hash-chained table (DESIGN.md "Audit trail").

Each event's hash is SHA-256 over the previous hash and a canonical encoding of the
event (a compact JSON array of its fields in a fixed order; details are stored as
canonical JSON text and hashed as stored). A one-row ``audit_head`` table holds the
last sequence number and hash: appending locks it (FOR UPDATE on PostgreSQL, the
IMMEDIATE write lock on SQLite), so writers in many processes keep one unbroken chain.
``record`` runs inside the caller's transaction: the act and its event commit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, event, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel

from core.actor import Actor
from core.clock import iso, now
from core.db import Database
from logs import stream

GENESIS = "0" * 64

OUTCOMES = ("success", "failure", "refused", "alert")
SEVERITIES = ("info", "warning", "high")


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(max_length=32, index=True)
    actor: str = Field(max_length=120, index=True)
    session_id: str = Field(default="", max_length=64)
    client_addr: str = Field(default="", max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=200)
    purpose: str = Field(default="", max_length=200)
    outcome: str = Field(max_length=16)
    severity: str = Field(default="info", max_length=16)
    details: str = Field(default="{}", sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


# Columns in hashing order; the tuple is the canonical encoding's contract.
HASHED = (
    "seq", "ts", "actor", "session_id", "client_addr", "action",
    "target", "purpose", "outcome", "severity", "details",
)


def canonical_details(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def event_hash(prev_hash: str, values: tuple[Any, ...]) -> str:
    """SHA-256 of the previous hash followed by the event's canonical encoding."""
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


_INSERT = text(
    "INSERT INTO audit_event (seq, ts, actor, session_id, client_addr, action, target,"
    " purpose, outcome, severity, details, prev_hash, hash) VALUES (:seq, :ts, :actor,"
    " :session_id, :client_addr, :action, :target, :purpose, :outcome, :severity,"
    " :details, :prev_hash, :hash)"
)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target: str = "",
    purpose: str = "",
    outcome: str = "success",
    severity: str = "info",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event inside ``session``'s transaction and return it.

    The session must come from ``Database.write()`` so that on SQLite the write lock is
    already held; the event is streamed to structlog only after the commit.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    conn = session.connection()
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    head = conn.execute(text(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")).one()
    ev: dict[str, Any] = {
        "seq": head.seq + 1,
        "ts": iso(now()),
        "actor": actor.login,
        "session_id": actor.session_id,
        "client_addr": actor.client_addr,
        "action": action,
        "target": target,
        "purpose": purpose,
        "outcome": outcome,
        "severity": severity,
        "details": canonical_details(details),
        "prev_hash": head.hash,
    }
    ev["hash"] = event_hash(head.hash, tuple(ev[k] for k in HASHED))
    conn.execute(_INSERT, ev)
    conn.execute(
        text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": ev["seq"], "hash": ev["hash"]},
    )
    session.info.setdefault("juki_audit_pending", []).append(ev)
    return ev


def record_alone(db: Database, actor: Actor, action: str, **kw: Any) -> dict[str, Any]:
    """Record an event in a transaction of its own (for refusals, whose act rolled back)."""
    with db.write() as session:
        return record(session, actor, action, **kw)


@event.listens_for(OrmSession, "after_commit")
def _stream_after_commit(session: OrmSession) -> None:
    for ev in session.info.pop("juki_audit_pending", ()):
        stream.emit(ev)


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_rollback(session: OrmSession) -> None:
    session.info.pop("juki_audit_pending", None)


# --- verification -----------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    bad_seq: int | None = None
    reason: str = ""


_SELECT_ALL = (
    "SELECT seq, ts, actor, session_id, client_addr, action, target, purpose, outcome,"
    " severity, details, prev_hash, hash FROM audit_event ORDER BY seq"
)


def verify(db: Database, batch: int = 20000) -> VerifyResult:
    """Walk the chain from the first event; name the first event that does not fit."""
    prev = GENESIS
    expected = 1
    count = 0
    sha = hashlib.sha256
    dumps = json.dumps
    with db.engine.connect() as conn:
        conn = conn.execution_options(stream_results=True, yield_per=batch)
        head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one_or_none()
        result = conn.exec_driver_sql(_SELECT_ALL)
        for row in result:
            seq = row[0]
            if seq != expected:
                return VerifyResult(
                    False, count, expected,
                    f"事象 #{expected} が欠けています (次は #{seq})。",
                )
            if row[11] != prev:
                return VerifyResult(
                    False, count, seq, f"事象 #{seq} の前ハッシュが直前の事象と一致しません。"
                )
            payload = dumps(tuple(row[:11]), ensure_ascii=False, separators=(",", ":"))
            if sha((prev + payload).encode("utf-8")).hexdigest() != row[12]:
                return VerifyResult(
                    False, count, seq,
                    f"事象 #{seq} の内容がハッシュと一致しません (改ざんの疑い)。",
                )
            prev = row[12]
            expected += 1
            count += 1
    if head is not None and (head.seq != count or head.hash != prev):
        return VerifyResult(
            False, count, count + 1,
            f"末尾が欠けています: 記録上の最終事象は #{head.seq} ですが、"
            f"事象は #{count} までしかありません。",
        )
    return VerifyResult(True, count)


def events_after(db: Database, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Events with seq > ``after_seq`` in order, as dicts (for tails and exports)."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(_SELECT_ALL.replace("ORDER BY", "WHERE seq > :after ORDER BY") + " LIMIT :lim"),
            {"after": after_seq, "lim": limit},
        ).mappings().all()
    return [dict(r) for r in rows]


def last_seq(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()


def iter_all(db: Database) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        rows = events_after(db, after, 5000)
        if not rows:
            return
        yield from rows
        after = rows[-1]["seq"]


# --- append-only guard DDL (used by the schema migration) -----------------------------

SQLITE_GUARD = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
]

POSTGRES_GUARD = [
    """CREATE OR REPLACE FUNCTION juki_audit_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$""",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION juki_audit_append_only()""",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION juki_audit_append_only()""",
]
