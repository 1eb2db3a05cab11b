"""The snapshot: the payload and its facts taken from the same moment, while consoles
work (docs/backup.md "Consistent").

- **SQLite**: the online backup API (``sqlite3.Connection.backup``) copies every page in
  one step, inside one read transaction: WAL lets writers go on, and the copy is the
  database as it was when the step began. (Copied in several steps, SQLite would start
  again after every write by another connection: a busy office would never finish.)
  The facts are then read from the copy itself.
- **PostgreSQL**: a REPEATABLE READ transaction exports its snapshot
  (``pg_export_snapshot``), reads the facts, and ``pg_dump --snapshot`` dumps exactly
  that snapshot of the application's schema (``--schema``, custom format) while the
  transaction stays open.

The payload goes into the private folder (``workdir``); the manifest is made from what
this returns.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine

from core.clock import iso, now
from core.db import Database
from services.backup import pgtools
from services.backup.errors import ToolFailed
from services.backup.manifest import Facts, read_facts
from services.backup.progress import Say, ticking
from services.backup.workdir import private_file

PG_COMPRESS = 1  # zlib level: level 1 is several times faster than the default for little size
LOCK_WAIT = "60s"  # pg_dump waits this long for a table lock (a migration) before it fails


@dataclass(frozen=True)
class Snapshot:
    """What ``dump`` took: the facts, when, the schema (PostgreSQL), the tool."""

    facts: Facts
    taken_at: str
    schema: str
    tool: str


def payload_name(db: Database) -> str:
    return "juki.sqlite3" if db.is_sqlite else "juki.pgdump"


def dump(db: Database, payload: Path, say: Say, busy_timeout_ms: int = 30000) -> Snapshot:
    """Write ``db``'s snapshot to ``payload`` (mode 0600) and return its facts."""
    if db.is_sqlite:
        return _sqlite(db, payload, say, busy_timeout_ms)
    return _postgresql(db, payload, say)


def _sqlite(db: Database, payload: Path, say: Say, busy_timeout_ms: int) -> Snapshot:
    source = Path(str(db.url.database))
    total = sum(p.stat().st_size for p in (source, Path(f"{source}-wal")) if p.exists())
    private_file(payload)
    src = sqlite3.connect(source, timeout=busy_timeout_ms / 1000)
    try:
        dst = sqlite3.connect(payload)
        try:
            taken_at = iso(now())
            say(f"SQLite のオンラインバックアップで複写しています ({source.name})")
            with ticking(say, "複写", lambda: payload.stat().st_size, total):
                src.backup(dst)  # pages=-1: every page in one step, one read transaction
        finally:
            dst.close()
    finally:
        src.close()
    engine = create_engine(f"sqlite:///{payload}")
    try:
        with engine.connect() as conn:
            facts = read_facts(conn)
    finally:
        engine.dispose()
    return Snapshot(facts, taken_at, "", f"sqlite {sqlite3.sqlite_version} backup API")


def _postgresql(db: Database, payload: Path, say: Say) -> Snapshot:
    tool = pgtools.binary("pg_dump")
    uri, env = pgtools.conninfo(db.url)
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            exported = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
            taken_at = iso(now())
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            if schema is None:
                raise ToolFailed("接続先のスキーマがありません (database_url の search_path を"
                                 "確かめてください)。")
            facts = read_facts(conn)
            private_file(payload)
            say(f"pg_dump でスキーマ {schema} を書き出しています (スナップショット {exported})")
            with ticking(say, "pg_dump", lambda: payload.stat().st_size):
                pgtools.run([
                    tool, "--format=custom", f"--compress={PG_COMPRESS}",
                    f"--schema={pgtools.schema_pattern(str(schema))}", "--strict-names",
                    f"--snapshot={exported}", f"--lock-wait-timeout={LOCK_WAIT}",
                    f"--file={payload}", f"--dbname={uri}",
                ], env, "pg_dump によるバックアップ")
    return Snapshot(facts, taken_at, str(schema), pgtools.version(tool))
