"""Create or upgrade the schema; running it twice changes nothing.

Imports every table module so the metadata is whole, then applies the audit trail's
append-only guards (triggers) for the database in use.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import SQLModel

import auth.models  # noqa: F401  (tables)
import logs.audit
from core.db import Database


def init_schema(db: Database) -> bool:
    """Create missing tables and guards. Returns True when anything was created."""
    import services.register.models  # noqa: F401  (tables)

    before = _tables(db)
    SQLModel.metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        guards = logs.audit.SQLITE_GUARD if db.is_sqlite else logs.audit.POSTGRES_GUARD
        for ddl in guards:
            conn.exec_driver_sql(ddl)
        if conn.execute(text("SELECT count(*) FROM audit_head")).scalar_one() == 0:
            conn.execute(
                text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"),
                {"h": logs.audit.GENESIS},
            )
    return _tables(db) != before


def _tables(db: Database) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(db.engine).get_table_names())
