"""The audit trail: one append-only, hash-chained table (docs/architecture.md §3).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Field, Session, SQLModel

from core.actor import Actor
from core.clock import iso, now
from core.db import Database
from core.freetext import has_my_number, masked_in
from logs import stream, trail

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
    held: bool = False  # set by a restore, lifted by `juki audit recover` (migration 0016)


# Columns in hashing order; the tuple is the canonical encoding's contract.
HASHED = (
    "seq", "ts", "actor", "session_id", "client_addr", "action",
    "target", "purpose", "outcome", "severity", "details",
)


# Built once: json.dumps with non-default options makes a new encoder on every call.
_encode_details = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":")
).encode
# JSON string quoting exactly as json.dumps(..., ensure_ascii=False) does it.
_quote = json.encoder.encode_basestring


def canonical_details(details: dict[str, Any] | None) -> str:
    """Details as stored and hashed: sorted keys, no spaces, text kept as text."""
    return _encode_details(details or {})


def _payload(values: tuple[Any, ...]) -> str:
    """The canonical encoding, built without the encoder's per-call setup.

    For one int (seq) and ten strings it equals
    ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``: an outside
    verifier needs nothing but that line and SHA-256.
    """
    seq, *texts = values
    if type(seq) is not int or any(type(t) is not str for t in texts):
        raise TypeError("an audit event is one int and ten strings")
    return f"[{seq},{','.join(map(_quote, texts))}]"


def event_hash(prev_hash: str, values: tuple[Any, ...]) -> str:
    """SHA-256 (hex) of the previous hash followed by the event's canonical encoding."""
    return hashlib.sha256((prev_hash + _payload(values)).encode("utf-8")).hexdigest()


_COLUMNS = (*HASHED, "prev_hash", "hash")


def _sqlite_statements() -> tuple[str, list[str]]:
    """SQLite: the head query, then the insert and the head update (the IMMEDIATE write
    lock is already held: one process appends at a time)."""
    insert = (
        f"INSERT INTO audit_event ({', '.join(_COLUMNS)})"
        f" VALUES ({', '.join(':' + c for c in _COLUMNS)})"
    )
    return "SELECT seq, hash FROM audit_head WHERE id = 1", [
        insert, "UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
    ]


def _postgresql_append() -> str:
    """PostgreSQL: the whole append as ONE statement, one round trip instead of two.

    The head row is locked (FOR UPDATE), the next sequence number and the hash are made
    on the server — SHA-256 over the previous hash and the same canonical line as
    ``_payload`` ("[" seq "," the ten quoted texts "]", ``rest`` being the part after the
    number) — and the event is inserted and the head moved; RETURNING gives the numbers
    back. Under READ COMMITTED a writer that waited for the lock reads the head its
    predecessor committed, so the chain stays one. ``verify_chain`` recomputes every hash
    in Python: a difference between the two encodings breaks the chain at once.
    """
    texts = [c for c in HASHED if c != "seq"]
    return (
        "WITH head AS (SELECT seq + 1 AS seq, hash AS prev FROM audit_head"
        " WHERE id = 1 FOR UPDATE),"
        " ev AS (SELECT seq, prev, encode(sha256(convert_to("
        "prev || '[' || seq::text || ',' || %(rest)s || ']', 'UTF8')), 'hex') AS hash"
        " FROM head),"
        f" appended AS (INSERT INTO audit_event ({', '.join(_COLUMNS)})"
        f" SELECT ev.seq, {', '.join(f'%({c})s' for c in texts)}, ev.prev, ev.hash FROM ev"
        " RETURNING seq, prev_hash, hash)"
        " UPDATE audit_head SET seq = appended.seq, hash = appended.hash FROM appended"
        " WHERE audit_head.id = 1 RETURNING appended.seq, appended.prev_hash, appended.hash"
    )


# Appends run on the driver's cursor: the chain is a few small statements per event and
# SQLAlchemy's statement machinery would be most of an append's cost. Errors are still
# raised as SQLAlchemy's DBAPIError family (see _append).
_SQLITE = _sqlite_statements()
_POSTGRESQL = _postgresql_append()


def _fit(value: object, limit: int) -> str:
    """Text as both databases will store it: a string, no NUL, within the column's length.

    Hashing happens after this, so what is stored is exactly what was hashed; an act is
    never refused because its description is long.
    """
    text_value = str(value).replace("\x00", "\ufffd")
    return text_value if len(text_value) <= limit else text_value[: limit - 1] + "…"


def _details_text(details: dict[str, Any] | None) -> str:
    """The canonical details, with any My Number a caller let through masked (the services
    mask typed text themselves; this is the last line of defence, ``core.freetext``)."""
    encoded = canonical_details(details)
    return canonical_details(masked_in(details)) if has_my_number(encoded) else encoded


def _new_event(
    actor: Actor, action: str, target: str, purpose: str, outcome: str, severity: str,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """The event's fields that do not depend on the chain (checked before any lock)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    return {
        "seq": 0,
        "ts": iso(now()),
        "actor": _fit(actor.login, 120),
        "session_id": _fit(actor.session_id, 64),
        "client_addr": _fit(actor.client_addr, 64),
        "action": _fit(action, 64),
        "target": _fit(masked_in(str(target)), 200),
        "purpose": _fit(masked_in(str(purpose)), 200),
        "outcome": str(outcome),
        "severity": str(severity),
        "details": _details_text(details),
        "prev_hash": "",
        "hash": "",
    }


def _append(conn: Connection, ev: dict[str, Any]) -> dict[str, Any]:
    """Chain ``ev`` onto the head inside ``conn``'s open write transaction."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cur = conn.connection.cursor()
    statement = _POSTGRESQL
    try:
        if conn.dialect.name == "postgresql":
            rest = ",".join(_quote(ev[c]) for c in HASHED if c != "seq")
            cur.execute(statement, {**ev, "rest": rest})
            row = cur.fetchone()
            if row is None:
                raise RuntimeError("audit_head has no row: run `juki db init` first")
            ev["seq"], ev["prev_hash"], ev["hash"] = row
            return ev
        select_head, writes = _SQLITE
        statement = select_head
        cur.execute(select_head)
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("audit_head has no row: run `juki db init` first")
        seq, prev = row
        ev["seq"] = seq + 1
        ev["prev_hash"] = prev
        ev["hash"] = event_hash(prev, tuple(ev[k] for k in HASHED))
        for statement in writes:
            cur.execute(statement, ev)
    except dbapi_error as exc:
        raise DBAPIError.instance(
            statement, ev, exc, dbapi_error, dialect=conn.dialect
        ) from exc
    finally:
        cur.close()
    return ev


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
    already held; the event is streamed to structlog only after the outermost commit.
    Keep transactions to a few thousand events on PostgreSQL: every append rewrites the
    head row, and one transaction must step over all the row versions it left.
    """
    ev = _append(
        session.connection(),
        _new_event(actor, action, target, purpose, outcome, severity, details),
    )
    txn = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((txn, ev))
    return ev


def record_alone(
    db: Database,
    actor: Actor,
    action: str,
    *,
    target: str = "",
    purpose: str = "",
    outcome: str = "success",
    severity: str = "info",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an event in a transaction of its own (for refusals, whose act rolled back)."""
    ev = _new_event(actor, action, target, purpose, outcome, severity, details)
    with db.transaction() as conn:
        _append(conn, ev)
    _emit([ev], db.engine)
    return ev


# --- the stream copy: only what committed, once --------------------------------------

_PENDING = "juki_audit_pending"


# Called with the events of each commit (in seq order) and the name of their trail once
# their stream lines are written, still before the act returns to its caller;
# ``logs.anchor`` registers here.
after_commit: list[Callable[[list[dict[str, Any]], str], None]] = []


def _emit(events: list[dict[str, Any]], bind: Any) -> None:
    """Witness committed events outside the database before the act returns: the
    JSON-lines copy (each line carries seq, hash and the trail's name: ``logs.trail``,
    read once per database), then the hooks (the anchors)."""
    if not events:
        return
    try:
        named = trail.name_of(bind)
    except Exception as exc:  # committed: an unreadable name must not fail the act
        stream.report_failure(exc)
        named = ""
    for ev in events:
        # The event is committed; a failing log file must not make the act look failed.
        try:
            stream.emit(ev, named)
        except Exception as exc:
            stream.report_failure(exc)
    for hook in after_commit:
        hook(events, named)


def _root(txn: SessionTransaction | None) -> SessionTransaction | None:
    while txn is not None and txn.parent is not None:
        txn = txn.parent
    return txn


@event.listens_for(OrmSession, "after_commit")
def _stream_after_commit(session: OrmSession) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released; the outer transaction may still roll back
    committed = session.get_transaction()
    # Events left from a transaction that ended without commit or rollback (a closed
    # session reused) never reached the database: they are dropped, not sent.
    _emit([ev for txn, ev in session.info.pop(_PENDING, ()) if _root(txn) is committed],
          session.bind)


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_rollback(session: OrmSession) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(_PENDING, None)


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_after_savepoint_rollback(session: OrmSession, previous: SessionTransaction) -> None:
    """Forget events recorded inside the transaction (or savepoint) that rolled back."""
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def inside(txn: SessionTransaction | None) -> bool:
        while txn is not None:
            if txn is previous:
                return True
            txn = txn.parent
        return False

    session.info[_PENDING] = [(t, ev) for t, ev in pending if not inside(t)]


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


def verify(db: Database, batch: int = 5000) -> VerifyResult:
    """Walk the chain from the first event; name the first event that does not fit.

    The head row and the events are read in one snapshot (a deferred read transaction on
    SQLite, REPEATABLE READ on PostgreSQL), so appends running meanwhile are not mistaken
    for a broken tail.
    """
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        head = conn.exec_driver_sql("SELECT seq, hash FROM audit_head WHERE id = 1").first()
        # A server-side cursor on PostgreSQL so a long trail is never held in memory whole.
        cur = conn.connection.cursor(**({} if db.is_sqlite else {"name": "juki_audit_verify"}))
        try:
            cur.execute(_SELECT_ALL)
            count, prev, failure = _walk(cur, batch)
        finally:
            cur.close()
    if failure is not None:
        return failure
    if head is None:
        return VerifyResult(
            False, count, None, "連鎖の末尾記録 (audit_head) がありません (削除の疑い)。"
        )
    head_seq: int = head[0]
    head_hash: str = head[1]
    if head_seq > count:
        return VerifyResult(
            False, count, count + 1,
            f"末尾が欠けています: 事象 #{count + 1} 以降がありません"
            f" (記録上の最終事象は #{head_seq}、残っているのは #{count} まで)。",
        )
    if head_seq < count:
        return VerifyResult(
            False, count, head_seq + 1,
            f"事象 #{head_seq + 1} 以降は末尾記録 (#{head_seq}) の後に置かれています"
            " (記録外の追加の疑い)。",
        )
    if head_hash != prev:
        return VerifyResult(
            False, count, count,
            f"事象 #{count} のハッシュが末尾記録と一致しません (改ざんの疑い)。",
        )
    return VerifyResult(True, count)


def _walk(cur: Any, batch: int) -> tuple[int, str, VerifyResult | None]:
    """(events that fit, the last good hash, the first failure or None).

    The payload is built as ``event_hash`` builds it (see ``_payload``), inlined here
    because this loop is verify's whole cost.
    """
    prev = GENESIS
    expected = 1
    sha = hashlib.sha256
    quote = _quote
    join = ",".join
    while rows := cur.fetchmany(batch):
        for row in rows:
            seq = row[0]
            if seq != expected:
                return expected - 1, prev, VerifyResult(
                    False, expected - 1, expected,
                    f"事象 #{expected} が欠けています (次にあるのは #{seq})。",
                )
            if row[11] != prev:
                return expected - 1, prev, VerifyResult(
                    False, expected - 1, seq,
                    f"事象 #{seq} の前ハッシュが直前の事象と一致しません (改ざんの疑い)。",
                )
            try:
                payload = f"{prev}[{seq},{join(map(quote, row[1:11]))}]"
                digest = sha(payload.encode("utf-8")).hexdigest()
            except (TypeError, ValueError):  # a NULL or a value no append could have written
                digest = None
            if digest != row[12]:
                return expected - 1, prev, VerifyResult(
                    False, expected - 1, seq,
                    f"事象 #{seq} の内容がハッシュと一致しません (改ざんの疑い)。",
                )
            prev = row[12]
            expected += 1
    return expected - 1, prev, None


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
