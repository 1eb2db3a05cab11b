"""restricted residents index

``ix_resident_dv_support``: a partial index over the residents under DV等支援措置 only
(``WHERE dv_support``), so that a search by a reader without the permission can match
them apart from the address it was given, reading a few index entries instead of the
register (``services.lookup.search``, point 8).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:00:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_resident_dv_support', 'resident', ['kana_key'], unique=False,
        sqlite_where=sa.text('dv_support = 1'), postgresql_where=sa.text('dv_support'),
    )


def downgrade() -> None:
    op.drop_index(
        'ix_resident_dv_support', table_name='resident',
        sqlite_where=sa.text('dv_support = 1'), postgresql_where=sa.text('dv_support'),
    )
