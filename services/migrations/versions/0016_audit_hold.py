"""the trail held after a restore

``audit_head.held``: set by ``juki db restore`` in the database it restored, lifted by
``juki audit recover`` in the transaction that appends the lost tail (or, with nothing
lost, on its own). While it is set a trigger refuses every INSERT into ``audit_event``,
from this code or from raw SQL: an event recorded between the restore and the recovery
would take the first lost event's number and fork the chain for good
(docs/architecture.md §11). The append itself is unchanged: the trigger does the check,
no extra round trip; ``core.db`` says its error in Japanese.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 09:00:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# core.db.HELD_MARK finds this text in the driver's error (SQLSTATE 55000 on PostgreSQL).
HELD = "audit trail held after a restore: run juki audit recover"

SQLITE = (
    f"""CREATE TRIGGER audit_event_held BEFORE INSERT ON audit_event
       WHEN (SELECT held FROM audit_head WHERE id = 1)
       BEGIN SELECT RAISE(ABORT, '{HELD}'); END""",
)

POSTGRESQL = (
    f"""CREATE OR REPLACE FUNCTION juki_audit_event_held() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         IF (SELECT held FROM audit_head WHERE id = 1) THEN
           RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = '{HELD}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_event_held BEFORE INSERT ON audit_event
       FOR EACH ROW EXECUTE FUNCTION juki_audit_event_held()""",
)


def upgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS juki_audit_event_held() CASCADE")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_held")
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('held')
