"""the audit trail's identity

``audit_trail``: one row naming this database's trail (a random UUID made here, that
is by ``juki db init``), with the chain head at this revision (``legacy_seq``: anchors
written before it carry neither the trail's name nor a signature), the time, and the
fingerprint of the key that signs its anchors (``signing_key``, told once by
``juki db init``; ``logs.trail``). Being in the database it travels with a backup.

Triggers on both databases keep the row as it is: never deleted (nor truncated on
PostgreSQL); an update may only tell the fingerprint once, where it is still empty.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

KEPT = "audit_trail is kept as it is: only its signing key is told, once"
CHANGED = (
    "NEW.id <> OLD.id OR NEW.trail_id <> OLD.trail_id OR NEW.legacy_seq <> OLD.legacy_seq"
    " OR NEW.created_at <> OLD.created_at OR OLD.signing_key <> ''"
)

SQLITE = (
    f"""CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
       BEGIN SELECT RAISE(ABORT, '{KEPT}'); END""",
    f"""CREATE TRIGGER audit_trail_fixed BEFORE UPDATE ON audit_trail
       WHEN {CHANGED}
       BEGIN SELECT RAISE(ABORT, '{KEPT}'); END""",
)

POSTGRESQL = (
    f"""CREATE OR REPLACE FUNCTION juki_audit_trail_fixed() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' OR {CHANGED} THEN
           RAISE EXCEPTION '{KEPT}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_trail_fixed BEFORE UPDATE OR DELETE ON audit_trail
       FOR EACH ROW EXECUTE FUNCTION juki_audit_trail_fixed()""",
    """CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
       FOR EACH STATEMENT EXECUTE FUNCTION juki_audit_trail_fixed()""",
)


def upgrade() -> None:
    op.create_table(
        'audit_trail',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trail_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('legacy_seq', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('signing_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.CheckConstraint('id = 1', name='audit_trail_one_row'),
        sa.PrimaryKeyConstraint('id'),
    )
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    op.execute(sa.text(
        "INSERT INTO audit_trail (id, trail_id, legacy_seq, created_at, signing_key)"
        " SELECT 1, :trail, COALESCE((SELECT seq FROM audit_head WHERE id = 1), 0),"
        " :created, ''"
    ).bindparams(trail=str(uuid.uuid4()), created=created))
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS juki_audit_trail_fixed() CASCADE")
    op.drop_table('audit_trail')
