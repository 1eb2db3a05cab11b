"""What the linkage tests read back: the audit trail as text, twelve-digit runs in it,
and a way to plant rows the application's account may not write.

Residents, staff and proposals come from ``tests.factories``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from core.db import Database
from logs.audit import events_after

_TWELVE = re.compile(r"(?<!\d)\d{12}(?!\d)")


def audit_texts(db: Database) -> list[str]:
    """Every event as one string, for searching the whole trail."""
    return [
        "|".join(str(e[k]) for k in ("action", "target", "outcome", "details"))
        for e in events_after(db, 0, 100_000)
    ]


def events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == action]


def twelve_digit_runs(text: str) -> list[str]:
    return _TWELVE.findall(text)


@contextmanager
def as_schema_owner(db: Database) -> Iterator[Connection]:
    """One transaction with the linkage tables' triggers lifted and put back before it
    commits, as the schema's owner could do by hand (and as ``juki db rotate-key`` does
    for its own rewrite): for planting rows the application's account cannot write."""
    tables = ("my_number_link", "link_proposal", "link_review")
    with db.transaction() as conn:
        if conn.dialect.name == "sqlite":
            found = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                f"({', '.join('?' for _ in tables)})", tables).all()
            for name, _sql in found:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            restore = [sql for _name, sql in found]
        else:
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            restore = [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in tables]
        yield conn
        for statement in restore:
            conn.exec_driver_sql(statement)
