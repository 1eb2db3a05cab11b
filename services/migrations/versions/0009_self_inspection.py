"""self-inspection and incidents (issue 7)

The recorded incidents the threshold judgment reads (``assessment_incident``) and the
yearly self-inspection: the year, one sheet per department, one answer per item
(``services.assessment.models``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 08:30:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assessment_incident',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('serious', sa.Boolean(), nullable=False),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('assessment_incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_incident_occurred_on'),
                              ['occurred_on'], unique=False)
    op.create_table(
        'inspection',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('items', sa.Text(), nullable=False),
        sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('fiscal_year'),
    )
    op.create_table(
        'inspection_sheet',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('inspection_id', sa.Integer(), nullable=False),
        sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('signed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('signed_user', sa.Integer(), nullable=True),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sign_comment', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('inspection_id', 'department'),
    )
    with op.batch_alter_table('inspection_sheet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_sheet_inspection_id'),
                              ['inspection_id'], unique=False)
    op.create_table(
        'inspection_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sheet_id', sa.Integer(), nullable=False),
        sa.Column('item_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('answered_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('answered_user', sa.Integer(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("answer IN ('実施', '一部実施', '未実施', '該当なし')",
                           name='ck_inspection_answer_answer'),
        sa.ForeignKeyConstraint(['sheet_id'], ['inspection_sheet.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sheet_id', 'item_code'),
    )
    with op.batch_alter_table('inspection_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_answer_sheet_id'),
                              ['sheet_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inspection_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_answer_sheet_id'))
    op.drop_table('inspection_answer')
    with op.batch_alter_table('inspection_sheet', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_sheet_inspection_id'))
    op.drop_table('inspection_sheet')
    op.drop_table('inspection')
    with op.batch_alter_table('assessment_incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_incident_occurred_on'))
    op.drop_table('assessment_incident')
