"""seal My Numbers at rest

``my_number_link.number`` and ``link_proposal.number`` become ``core.sealed.SealedNumber``
columns (AES-SIV under the key file; up to 64 characters). Numbers already stored are
sealed in place with the database's key; links stay immutable before and after (their
guards are lifted for this one rewrite only and put back exactly as they were). The
unique partial indexes are rebuilt on the sealed values, which keep equality, so a number
linked twice is still refused by the database.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 11:45:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from core.sealed import SEALED_LENGTH, sealer_of

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = ("my_number_link", "link_proposal")
PLAIN_LENGTH = 12
BATCH = 2000


def upgrade() -> None:
    sealer = sealer_of(op.get_bind().dialect)
    _rewrite(sealer.seal, SEALED_LENGTH)


def downgrade() -> None:
    sealer = sealer_of(op.get_bind().dialect)
    _rewrite(sealer.open, PLAIN_LENGTH)


def _rewrite(convert: Callable[[str], str], length: int) -> None:
    """Replace each table's ``number`` column by one of ``length`` holding ``convert`` of
    each value, keeping every index and trigger as it was."""
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    saved = _lift_sqlite(conn) if sqlite else _lift_postgresql(conn)
    for table in TABLES:
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD COLUMN number_new VARCHAR({length}) NOT NULL DEFAULT ''")
        rows = conn.execute(sa.text(f"SELECT id, number FROM {table} WHERE number <> ''")).all()
        for i in range(0, len(rows), BATCH):
            conn.execute(sa.text(f"UPDATE {table} SET number_new = :v WHERE id = :id"),
                         [{"id": r.id, "v": convert(r.number)} for r in rows[i: i + BATCH]])
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN number")
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN number_new TO number")
        if not sqlite:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN number DROP DEFAULT")
    for statement in saved:
        conn.exec_driver_sql(statement)


def _lift_sqlite(conn: sa.Connection) -> list[str]:
    """Drop what stands in the way of SQLite's DROP COLUMN (indexes on the two tables and
    every trigger naming a number column); return the SQL that puts them back."""
    found = conn.execute(sa.text(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE type IN ('index', 'trigger') AND sql IS NOT NULL AND sql LIKE '%number%' "
        "ORDER BY type, name")).all()
    keep = [r for r in found if r.type == "trigger" or r.tbl_name in TABLES]
    for r in keep:
        conn.exec_driver_sql(f"DROP {r.type.upper()} {r.name}")
    return [r.sql for r in keep if r.type == "index"] + [r.sql for r in keep
                                                        if r.type == "trigger"]


def _lift_postgresql(conn: sa.Connection) -> list[str]:
    """Turn the two tables' guards off for the rewrite and note the indexes on ``number``
    (DROP COLUMN takes them); return the SQL that puts both back."""
    indexes = conn.execute(sa.text(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename IN ('my_number_link', 'link_proposal') "
        "AND indexdef ~ '\\mnumber\\M' ORDER BY indexname")).scalars().all()
    for table in TABLES:
        conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    return [*indexes, *(f"ALTER TABLE {t} ENABLE TRIGGER USER" for t in TABLES)]
