"""The trail's identity: which trail an anchor or a JSON-lines line belongs to
(docs/architecture.md §10).

One row in ``audit_trail`` (migration 0015), made with the table: a random UUID naming
this database's trail, the chain head when the table was made (``legacy_seq``: anchors
written before it carry no name and no signature), when (``created_at``) and the
fingerprint of the signing key's public half (``signing_key``, set once by
``juki db init``). It is in the database, so it travels with a backup and comes back
with a restore; triggers keep it as it is (only the fingerprint is told once).

Two databases given the same data directory write to the same anchor file and the same
JSON-lines copy; each reads only the lines naming its own trail.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CheckConstraint, Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Field, SQLModel

from core.db import Database
from logs import signing


class AuditTrail(SQLModel, table=True):
    __tablename__ = "audit_trail"
    __table_args__ = (CheckConstraint("id = 1", name="audit_trail_one_row"),)

    id: int = Field(primary_key=True)
    trail_id: str = Field(max_length=36)
    legacy_seq: int
    created_at: str = Field(max_length=32)
    signing_key: str = Field(default="", max_length=64)


@dataclass(frozen=True)
class Trail:
    id: str
    legacy_seq: int  # the head when the trail was named: older anchors are unsigned
    created_at: str  # the audit trail's time text (``core.clock.iso``)
    signing_key: str  # the public key's fingerprint; "" until `juki db init` tells it


_SELECT = "SELECT trail_id, legacy_seq, created_at, signing_key FROM audit_trail WHERE id = 1"


def read(bind: Database | Engine | Connection) -> Trail | None:
    """This database's trail (None before migration 0015)."""
    try:
        if isinstance(bind, Connection):
            row = bind.exec_driver_sql(_SELECT).first()
        else:
            engine = bind.engine if isinstance(bind, Database) else bind
            with engine.connect() as conn:
                row = conn.exec_driver_sql(_SELECT).first()
    except DBAPIError:
        return None
    if row is None:
        return None
    return Trail(str(row[0]), int(row[1]), str(row[2]), str(row[3]))


# The trail of each engine a process writes through: read once, at its first commit.
_known: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def name_of(bind: Any) -> str:
    """The trail id of the database ``bind`` (an engine) writes to; "" when it has none
    yet (a database not upgraded). Kept per engine: the id never changes."""
    engine = getattr(bind, "engine", None)
    if not isinstance(engine, Engine):
        return ""
    found = _known.get(engine)
    if found is None:
        named = read(engine)
        if named is None:
            return ""
        with _lock:
            found = _known.setdefault(engine, named.id)
    return found


def ensure_signing_key(db: Database) -> bool:
    """Make the signing key when there is none (``juki db init``) and record its public
    half's fingerprint in the trail's row once; True when a key was made.

    A key missing while the trail names one is refused: a new key would sign anchors the
    recorded fingerprint disowns (bring the key back from its backup). A key that is not
    the recorded one is refused too."""
    key_file = db.signing_key_file
    trail = read(db)
    if key_file is None or trail is None:
        return False
    made = False
    if not key_file.exists():
        if trail.signing_key:
            raise signing.SigningKeyError(
                f"操作ログの署名鍵 {key_file} がありません。この操作ログのアンカーは鍵"
                f" {trail.signing_key} で署名されています。鍵をバックアップから戻してください"
                " (audit_signing_key_file)。")
        made = signing.create_key_file(key_file)
    fp = signing.fingerprint(signing.load_public(key_file))
    if not trail.signing_key:
        with db.transaction() as conn:
            conn.execute(text("UPDATE audit_trail SET signing_key = :fp"
                              " WHERE id = 1 AND signing_key = ''"), {"fp": fp})
        trail = read(db)
        assert trail is not None
    if trail.signing_key != fp:
        raise signing.SigningKeyError(
            f"操作ログの署名鍵 {key_file} (指紋 {fp}) はこの操作ログの鍵"
            f" ({trail.signing_key}) ではありません。")
    return made
