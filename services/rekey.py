"""Rotate the key that seals My Numbers at rest (``juki db rotate-key``).

A city changes the key when someone who could read it leaves, on a schedule its security
policy sets, or when a copy may have leaked. Every sealed number is opened with the old
key and sealed with a new one in one transaction, with the new check value and the audit
event; the links stay immutable to everyone else throughout (their guards are lifted
inside that transaction only, and on PostgreSQL the tables are locked while it runs).

The files change around the commit so that no moment leaves the database and the key
file disagreeing for long: the new key is written beside the old one first
(``identifier.key.new``), swapped into place just before the commit, and the old key is
kept as ``identifier.key.YYYYmmddTHHMMSS.old`` — backups taken before the rotation need
it; store it with them and remove it from the host. If the commit fails, the old key is
put back. Running consoles notice the new file at their next number (``core.sealed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import String, bindparam, select, type_coerce, update

from core.actor import Actor
from core.clock import JST, now
from core.db import Database, table
from core.sealed import NO_KEY, Sealer, SealingError, create_key_file, sealer_of
from logs.audit import record
from services.linkage.models import LinkProposal
from services.register.models import IdentifierKey, MyNumberLink

ACTION = "db.rotate_key"
TABLES: tuple[Any, ...] = (table(MyNumberLink), table(LinkProposal))
BATCH = 2000


@dataclass(frozen=True)
class Rotation:
    key_file: Path
    old_key: Path  # where the previous key was kept
    resealed: dict[str, int]  # table → numbers sealed again


def _lift_guards(conn: Any) -> list[str]:
    """Let this transaction rewrite the sealed column; return the SQL that restores the
    guards. SQLite cannot disable a trigger: they are dropped and created again, inside
    the same transaction (its DDL is transactional), so no one else ever sees them gone."""
    names = [t.name for t in TABLES]
    if conn.dialect.name == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            f"({', '.join('?' for _ in names)}) ORDER BY name", tuple(names)).all()
        for name, _sql in found:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        return [sql for _name, sql in found]
    for name in names:
        conn.exec_driver_sql(f"ALTER TABLE {name} DISABLE TRIGGER USER")
    return [f"ALTER TABLE {name} ENABLE TRIGGER USER" for name in names]


def _reseal(conn: Any, table: Any, old: Sealer, new: Sealer) -> int:
    raw = type_coerce(table.c.number, String)
    rows = conn.execute(select(table.c.id, raw.label("sealed")).where(raw != "")).all()
    values = [{"row_id": r.id, "sealed": new.seal(old.open(r.sealed))} for r in rows]
    stmt = (update(table).where(table.c.id == bindparam("row_id"))
            .values(number=type_coerce(bindparam("sealed"), String)))
    for i in range(0, len(values), BATCH):
        conn.execute(stmt, values[i: i + BATCH])
    return len(values)


def _interrupted_hint(db: Database, path: Path) -> str:
    """When a kept old key is the database's (a rotation stopped between the file swap
    and the commit), say so: the operator puts it back by hand, nothing moves by itself."""
    for candidate in sorted(path.parent.glob(f"{path.name}.*.old"), reverse=True):
        try:
            Sealer(candidate, verify=db.verify_key).ready()
        except SealingError:
            continue
        return (f" {candidate} がこのデータベースの鍵です (前回の鍵の変更が途中で止まりました)。"
                f"{path} に戻してから、もう一度実行してください。")
    return ""


def _kept_name(path: Path) -> Path:
    """``identifier.key.YYYYmmddTHHMMSS.old``, with -2, -3 … for a second rotation within
    the same second: an earlier kept key is never overwritten."""
    stamp = now().astimezone(JST).strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.{stamp}.old")
    n = 2
    while kept.exists():
        kept = path.with_name(f"{path.name}.{stamp}-{n}.old")
        n += 1
    return kept


def rotate_key(db: Database, actor: Actor) -> Rotation:
    """Seal every stored My Number under a new key; see the module docstring."""
    old = sealer_of(db.engine.dialect)
    if old.key_file is None:
        raise SealingError(NO_KEY)
    path = old.key_file
    try:
        old.ready()  # the current key must be this database's
    except SealingError as exc:
        raise SealingError(f"{exc.message}{_interrupted_hint(db, path)}") from None
    pending = path.with_name(path.name + ".new")
    pending.unlink(missing_ok=True)  # left by a rotation that did not commit: never used
    create_key_file(pending)  # 0600, whatever the old one's mode (core.private_files)
    new = Sealer(pending)
    kept = _kept_name(path)
    swapped = False
    try:
        with db.write() as s:
            conn = s.connection()
            if conn.dialect.name == "postgresql":
                # The check row first: writers of numbers take it first too (core.db)
                conn.exec_driver_sql(
                    "LOCK TABLE identifier_key, my_number_link, link_proposal "
                    "IN ACCESS EXCLUSIVE MODE")
            restore = _lift_guards(conn)
            counts = {t.name: _reseal(conn, t, old, new) for t in TABLES}
            for statement in restore:
                conn.exec_driver_sql(statement)
            check = new.check_value()
            key_t = table(IdentifierKey)
            if conn.execute(update(key_t).where(key_t.c.id == 1)
                            .values(check_value=check, created_at=now())).rowcount == 0:
                conn.execute(key_t.insert().values(id=1, check_value=check, created_at=now()))
            record(s, actor, ACTION, target="identifier_key",
                   details={"resealed": counts, "old_key_kept_as": kept.name})
            os.link(path, kept)
            os.replace(pending, path)
            swapped = True
    except BaseException:
        if swapped:
            os.replace(kept, path)
        pending.unlink(missing_ok=True)
        raise
    return Rotation(key_file=path, old_key=kept, resealed=counts)
