"""register import (issue 9)

``register_import`` (each applied register file by SHA-256) and
``register_import_change`` (each applied daily change by its natural key); see
``services.register.import_models``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 08:45:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'register_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('counts', sa.Text(), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('imported_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('register_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_import_sha256'), ['sha256'], unique=True)
    op.create_table(
        'register_import_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('change_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('resident_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['import_id'], ['register_import.id']),
        sa.ForeignKeyConstraint(['resident_id'], ['resident.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('register_import_change', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_register_import_change_change_key'), ['change_key'], unique=True)
        batch_op.create_index(
            batch_op.f('ix_register_import_change_import_id'), ['import_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_register_import_change_resident_id'), ['resident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('register_import_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_import_change_resident_id'))
        batch_op.drop_index(batch_op.f('ix_register_import_change_import_id'))
        batch_op.drop_index(batch_op.f('ix_register_import_change_change_key'))
    op.drop_table('register_import_change')
    with op.batch_alter_table('register_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_import_sha256'))
    op.drop_table('register_import')
