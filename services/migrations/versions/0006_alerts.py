"""alert cursor and staff resident code

The alert scanner's one-row cursor (``services.alerts.models``), starting at the trail's
current end so that history is not judged again on upgrade, and ``staff.resident_code``
(the staff member's own register record, for the own-record rule).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:17:33.686674
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_cursor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO alert_cursor (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_event")
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'resident_code', sqlmodel.sql.sqltypes.AutoString(length=11), nullable=False,
            server_default='',
        ))


def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('resident_code')
    op.drop_table('alert_cursor')
