"""Helpers for the tests of the trail's identity and its recovery: a second database
beside the test's own, and a database put back as it was earlier (a restore)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import Database
from tests.conftest import PG_BASE, empty_database_url


def other_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same backend (another file, another schema)."""
    yield from empty_database_url(backend, tmp_path / "other.sqlite3")


def _schema_of(db_url: str) -> str:
    options = make_url(db_url).query["options"]
    assert isinstance(options, str)
    return options.split("search_path=")[1]


def snapshot(db: Database, db_url: str, tmp_path: Path) -> Callable[[], None]:
    """Copy the database as it is now; the function returned puts that copy back, as a
    restore of an older backup would (SQLite: the online backup API, both ways;
    PostgreSQL: ``pg_dump`` of the test's schema, then the schema dropped and
    ``pg_restore``d)."""
    if db.is_sqlite:
        live = db.url.database
        assert live
        saved = tmp_path / "snapshot.sqlite3"
        with sqlite3.connect(live) as src, sqlite3.connect(saved) as dst:
            src.backup(dst)

        def put_back_sqlite() -> None:
            db.dispose()
            with sqlite3.connect(saved) as src, sqlite3.connect(live) as dst:
                src.backup(dst)

        return put_back_sqlite

    schema = _schema_of(db_url)
    dump = tmp_path / "snapshot.dump"
    server = make_url(PG_BASE).set(drivername="postgresql").render_as_string(
        hide_password=False)
    subprocess.run(["pg_dump", "-Fc", "-n", schema, "-f", str(dump), server], check=True)

    def put_back_postgresql() -> None:
        db.dispose()
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
        subprocess.run(["pg_restore", "-d", server, str(dump)], check=True)

    return put_back_postgresql
