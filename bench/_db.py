"""Scratch databases for the benchmarks: a fresh SQLite file or a throw-away PostgreSQL schema.

Every bench measures on a database of its own so that no figure depends on what an earlier
run or another engineer left behind; this module is the one place that makes and removes
them, so the benches differ only in what they time. Not a bench itself (no JSON line).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from core.db import Database
from services.schema import init_schema

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_BASE = os.environ.get("JUKI_TEST_POSTGRES_URL", PG_DEFAULT)


def pg_url(schema: str, base: str = PG_BASE) -> str:
    """``base`` with ``schema`` as its search_path, so the app's unqualified SQL lands there."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def postgres_reachable(base: str = PG_BASE) -> bool:
    """Whether the server answers within 3 s: the PostgreSQL figures are optional."""
    try:
        engine = create_engine(base, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@contextmanager
def scratch_schema(prefix: str = "bench_", base: str = PG_BASE) -> Iterator[str]:
    """A new, uniquely named, empty schema for the block; yields its URL, then drops it.

    Yields a URL rather than a Database for benches that open their own connections
    (several processes, one engine each)."""
    schema = prefix + uuid.uuid4().hex[:10]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield pg_url(schema, base)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def sqlite_db(tmp: Path, name: str) -> Iterator[Database]:
    """A fresh SQLite file ``tmp/name`` with the app's schema; the caller removes ``tmp``."""
    db = Database(f"sqlite:///{tmp / name}", key_file=tmp / f"{name}.key")
    init_schema(db)  # makes the key (My Numbers are sealed at rest)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def postgres_db(prefix: str = "bench_", base: str = PG_BASE) -> Iterator[Database]:
    """A scratch schema (see ``scratch_schema``) with the app's schema in it."""
    with scratch_schema(prefix, base) as url, tempfile.TemporaryDirectory() as keys:
        db = Database(url, key_file=Path(keys) / "identifier.key")
        try:
            init_schema(db)
            yield db
        finally:
            db.dispose()


def marker(db: Database, table: str) -> dict[str, Any] | None:
    """The completion marker a cached register's build wrote last into ``table``, or None
    when that build never finished (or there is no such table)."""
    try:
        with db.engine.connect() as conn:
            row = conn.execute(text(f"SELECT v FROM {table} WHERE k = 'complete'")).first()
    except Exception:
        return None
    return json.loads(row[0]) if row else None


def write_marker(db: Database, table: str, mark: dict[str, Any]) -> None:
    """Write the completion marker ``mark`` into ``table`` (made when missing): last, so
    that a build cut short is built again."""
    with db.transaction() as conn:
        conn.execute(text(
            f"CREATE TABLE IF NOT EXISTS {table} (k VARCHAR(32) PRIMARY KEY, v TEXT NOT NULL)"
        ))
        conn.execute(text(f"DELETE FROM {table} WHERE k = 'complete'"))
        conn.execute(text(f"INSERT INTO {table} (k, v) VALUES ('complete', :v)"),
                     {"v": json.dumps(mark)})
