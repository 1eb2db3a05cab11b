"""resident search keys

The normalised keys the register lookup searches (``services.register.keys``): columns on
``resident`` (collate "C" on PostgreSQL, so a prefix is one B-tree range), filled for
the residents already there, and the indexes each search shape runs on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:35:25.091802
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

KEYS = (
    ("family_key", 64), ("given_key", 64), ("name_key", 128), ("name_exact", 128),
    ("given_exact", 64), ("family_kana_key", 64), ("given_kana_key", 64),
    ("kana_key", 128), ("kana_exact", 128), ("given_kana_exact", 64),
    ("address_key", 200), ("block_key", 40),
)
SOURCE = (
    "family_name", "given_name", "family_kana", "given_kana", "town", "chome", "banchi", "go",
)
INDEXES = (
    ("ix_resident_name_key", ["name_key", "address_key", "block_key"]),
    ("ix_resident_given_key", ["given_key", "address_key", "block_key"]),
    ("ix_resident_kana_key", ["kana_key", "address_key", "block_key"]),
    ("ix_resident_given_kana_key", ["given_kana_key", "address_key", "block_key"]),
    ("ix_resident_family_given_key", ["family_key", "given_key"]),
    ("ix_resident_family_given_kana_key", ["family_kana_key", "given_kana_key"]),
    ("ix_resident_address_key",
     ["address_key", "name_key", "given_key", "kana_key", "given_kana_key"]),
    ("ix_resident_block_key",
     ["block_key", "name_key", "given_key", "kana_key", "given_kana_key"]),
)
BATCH = 5000


def _key_type(length: int) -> sa.types.TypeEngine:
    return sa.String(length=length).with_variant(
        sa.String(length=length, collation='C'), 'postgresql'
    )


def _backfill() -> None:
    """Compute the keys of residents written before this revision, in id order."""
    from services.register.keys import resident_keys

    bind = op.get_bind()
    resident = sa.table(
        "resident", sa.column("id"), *(sa.column(c) for c in SOURCE),
        *(sa.column(name) for name, _ in KEYS),
    )
    update = (
        resident.update()
        .where(resident.c.id == sa.bindparam("rid"))
        .values({name: sa.bindparam(name) for name, _ in KEYS})
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(resident.c.id, *(resident.c[c] for c in SOURCE))
            .where(resident.c.id > last).order_by(resident.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        bind.execute(update, [{"rid": r["id"], **resident_keys(r)} for r in rows])
        last = rows[-1]["id"]


def upgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        for name, length in KEYS:
            batch_op.add_column(
                sa.Column(name, _key_type(length), server_default='', nullable=False)
            )
    _backfill()
    with op.batch_alter_table('resident', schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        for name, _ in reversed(INDEXES):
            batch_op.drop_index(name)
        for name, _ in reversed(KEYS):
            batch_op.drop_column(name)
