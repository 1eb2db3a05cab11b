"""ssh keys (issue 6)

``user_ssh_key``: SSH public-key fingerprints bound to accounts (``auth.ssh_keys``); a
fingerprint is unique, so one key opens at most one account.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:30:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user_ssh_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('key_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('fingerprint'),
    )
    with op.batch_alter_table('user_ssh_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_ssh_key_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('user_ssh_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_ssh_key_user_id'))
    op.drop_table('user_ssh_key')
