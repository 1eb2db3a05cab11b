"""transfers (issue 7)

Transfer runs and their batches (``services.transfer.models``): the state that lets a
transfer cut short resume where it stopped and send no batch twice. At most one open
run per destination (a partial unique index on both databases).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:30:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        'transfer_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('destination_name', sqlmodel.sql.sqltypes.AutoString(length=100),
                  nullable=False),
        sa.Column('endpoint', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('items', sa.Text(), nullable=False),
        sa.Column('basis', sa.Text(), nullable=False),
        sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('since', sa.Date(), nullable=True),
        sa.Column('after_change', sa.Integer(), nullable=False),
        sa.Column('watermark', sa.Integer(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('batches', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('planned_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('transfer_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_run_destination'), ['destination'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_run_status'), ['status'], unique=False)
        batch_op.create_index('uq_transfer_run_open', ['destination'], unique=True,
                              sqlite_where=_OPEN, postgresql_where=_OPEN)

    op.create_table(
        'transfer_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('resident_ids', sa.Text(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['transfer_run.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
        sa.UniqueConstraint('run_id', 'seq', name='uq_transfer_batch_run_seq'),
    )
    with op.batch_alter_table('transfer_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_batch_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transfer_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_batch_run_id'))
    op.drop_table('transfer_batch')
    with op.batch_alter_table('transfer_run', schema=None) as batch_op:
        batch_op.drop_index('uq_transfer_run_open', sqlite_where=_OPEN, postgresql_where=_OPEN)
        batch_op.drop_index(batch_op.f('ix_transfer_run_status'))
        batch_op.drop_index(batch_op.f('ix_transfer_run_destination'))
    op.drop_table('transfer_run')
