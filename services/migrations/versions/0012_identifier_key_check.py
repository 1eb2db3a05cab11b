"""the My Number key's check value

``identifier_key``: one row holding a fixed marker sealed under the database's key
(``core.sealed``), so that a console given another key file refuses it instead of
sealing new numbers under it. Written by ``services.schema.ensure_key_check``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 15:00:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identifier_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('check_value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('identifier_key')
