"""my number linkage

The linkage workflow's tables (``services.linkage.models``): proposals, their reviews and
each link's 4-item fingerprint, and the database's own four-eyes rules, as triggers on
SQLite and PostgreSQL alike:

* a review whose reviewer is the proposal's proposer is refused; reviews are never
  changed or deleted;
* a proposal keeps its proposer; it is inserted undecided; it becomes approved only with
  enough approving reviews of its current version by others than the proposer, rejected
  only with such a rejecting review; once decided or withdrawn it never changes; it is
  never deleted;
* a link's number, resident, date and source are never edited, a revoked link stays as
  it is, and links are never deleted (unlinking is revoking, by its own proposal).

Every trigger raises a constraint error (SQLite ABORT, PostgreSQL check_violation), so
callers see an IntegrityError on both backends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:36:13.590393
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
PENDING_NUMBER = sa.text("status = 'pending' AND number <> ''")

SELF_REVIEW = "four eyes: the proposer cannot review their own proposal"
REVIEWS_KEPT = "link_review is append-only"
PROPOSER_FIXED = "four eyes: a proposal keeps its proposer"
BORN_UNDECIDED = "four eyes: a proposal is decided only by its reviews"
NEEDS_APPROVALS = "four eyes: not enough approving reviews of this version"
NEEDS_REJECTION = "four eyes: no rejecting review of this version"
DECIDED_FINAL = "a decided or withdrawn proposal is never changed"
PROPOSALS_KEPT = "link_proposal rows are kept"
LINK_FIXED = "an approved link is never edited: propose an unlink"
LINKS_KEPT = "my_number_link rows are kept: revoke instead"

# Approving / rejecting reviews of the row's current version by someone else.
_APPROVALS = (
    "(SELECT count(*) FROM link_review r WHERE r.proposal_id = NEW.id"
    " AND r.verdict = 'approve' AND r.version = NEW.version"
    " AND r.reviewer_id <> NEW.proposer_id)"
)
_REJECTION = (
    "EXISTS (SELECT 1 FROM link_review r WHERE r.proposal_id = NEW.id"
    " AND r.verdict = 'reject' AND r.version = NEW.version"
    " AND r.reviewer_id <> NEW.proposer_id)"
)
_LINK_CHANGED = (
    "OLD.status <> 'active' OR NEW.status NOT IN ('active', 'revoked')"
    " OR NEW.number IS NOT OLD.number OR NEW.resident_id IS NOT OLD.resident_id"
    " OR NEW.last4 IS NOT OLD.last4 OR NEW.linked_at IS NOT OLD.linked_at"
    " OR NEW.source IS NOT OLD.source"
)


def _sqlite_abort(name: str, when: str, on: str, message: str) -> str:
    cond = f" WHEN {when}" if when else ""
    return (f"CREATE TRIGGER {name} {on}{cond}"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END")


SQLITE_TRIGGERS = [
    _sqlite_abort(
        "link_review_not_by_proposer",
        "NEW.reviewer_id = (SELECT proposer_id FROM link_proposal WHERE id = NEW.proposal_id)",
        "BEFORE INSERT ON link_review", SELF_REVIEW,
    ),
    _sqlite_abort("link_review_no_update", "", "BEFORE UPDATE ON link_review", REVIEWS_KEPT),
    _sqlite_abort("link_review_no_delete", "", "BEFORE DELETE ON link_review", REVIEWS_KEPT),
    _sqlite_abort(
        "link_proposal_born_undecided", "NEW.status IN ('approved', 'rejected')",
        "BEFORE INSERT ON link_proposal", BORN_UNDECIDED,
    ),
    _sqlite_abort(
        "link_proposal_decided_final", "OLD.status IN ('approved', 'rejected', 'withdrawn')",
        "BEFORE UPDATE ON link_proposal", DECIDED_FINAL,
    ),
    _sqlite_abort(
        "link_proposal_proposer_fixed", "NEW.proposer_id IS NOT OLD.proposer_id",
        "BEFORE UPDATE ON link_proposal", PROPOSER_FIXED,
    ),
    _sqlite_abort(
        "link_proposal_approval_needs_reviews",
        f"NEW.status = 'approved' AND {_APPROVALS}"
        " < max(OLD.required_approvals, NEW.required_approvals, 1)",
        "BEFORE UPDATE ON link_proposal", NEEDS_APPROVALS,
    ),
    _sqlite_abort(
        "link_proposal_rejection_needs_review", f"NEW.status = 'rejected' AND NOT {_REJECTION}",
        "BEFORE UPDATE ON link_proposal", NEEDS_REJECTION,
    ),
    _sqlite_abort("link_proposal_no_delete", "", "BEFORE DELETE ON link_proposal",
                  PROPOSALS_KEPT),
    _sqlite_abort("my_number_link_fixed", _LINK_CHANGED, "BEFORE UPDATE ON my_number_link",
                  LINK_FIXED),
    _sqlite_abort("my_number_link_no_delete", "", "BEFORE DELETE ON my_number_link",
                  LINKS_KEPT),
]

_PG_RAISE = "RAISE EXCEPTION '{}' USING ERRCODE = 'check_violation';"
_PG_DISTINCT = _LINK_CHANGED.replace("IS NOT OLD", "IS DISTINCT FROM OLD")

POSTGRES_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION juki_link_review_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' THEN {_PG_RAISE.format(REVIEWS_KEPT)} END IF;
          IF NEW.reviewer_id = (SELECT proposer_id FROM link_proposal
                                WHERE id = NEW.proposal_id) THEN
            {_PG_RAISE.format(SELF_REVIEW)}
          END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER link_review_guard BEFORE INSERT OR UPDATE OR DELETE ON link_review
       FOR EACH ROW EXECUTE FUNCTION juki_link_review_guard()""",
    """CREATE TRIGGER link_review_no_truncate BEFORE TRUNCATE ON link_review
       FOR EACH STATEMENT EXECUTE FUNCTION juki_link_review_guard()""",
    f"""CREATE OR REPLACE FUNCTION juki_link_proposal_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            IF NEW.status IN ('approved', 'rejected') THEN
              {_PG_RAISE.format(BORN_UNDECIDED)}
            END IF;
            RETURN NEW;
          END IF;
          IF TG_OP <> 'UPDATE' THEN {_PG_RAISE.format(PROPOSALS_KEPT)} END IF;
          IF OLD.status IN ('approved', 'rejected', 'withdrawn') THEN
            {_PG_RAISE.format(DECIDED_FINAL)}
          END IF;
          IF NEW.proposer_id IS DISTINCT FROM OLD.proposer_id THEN
            {_PG_RAISE.format(PROPOSER_FIXED)}
          END IF;
          IF NEW.status = 'approved' AND {_APPROVALS}
             < GREATEST(OLD.required_approvals, NEW.required_approvals, 1) THEN
            {_PG_RAISE.format(NEEDS_APPROVALS)}
          END IF;
          IF NEW.status = 'rejected' AND NOT {_REJECTION} THEN
            {_PG_RAISE.format(NEEDS_REJECTION)}
          END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER link_proposal_guard BEFORE INSERT OR UPDATE OR DELETE ON link_proposal
       FOR EACH ROW EXECUTE FUNCTION juki_link_proposal_guard()""",
    """CREATE TRIGGER link_proposal_no_truncate BEFORE TRUNCATE ON link_proposal
       FOR EACH STATEMENT EXECUTE FUNCTION juki_link_proposal_guard()""",
    f"""CREATE OR REPLACE FUNCTION juki_my_number_link_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'UPDATE' THEN {_PG_RAISE.format(LINKS_KEPT)} END IF;
          IF {_PG_DISTINCT} THEN {_PG_RAISE.format(LINK_FIXED)} END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER my_number_link_guard BEFORE UPDATE OR DELETE ON my_number_link
       FOR EACH ROW EXECUTE FUNCTION juki_my_number_link_guard()""",
    """CREATE TRIGGER my_number_link_no_truncate BEFORE TRUNCATE ON my_number_link
       FOR EACH STATEMENT EXECUTE FUNCTION juki_my_number_link_guard()""",
]

POSTGRES_DROP = [
    "DROP FUNCTION IF EXISTS juki_link_review_guard() CASCADE",
    "DROP FUNCTION IF EXISTS juki_link_proposal_guard() CASCADE",
    "DROP FUNCTION IF EXISTS juki_my_number_link_guard() CASCADE",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {ddl.split()[2]}" for ddl in SQLITE_TRIGGERS
]


def upgrade() -> None:
    op.create_table(
        'link_proposal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('resident_id', sa.Integer(), nullable=False),
        sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column('link_id', sa.Integer(), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('number_check', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('identity_checks', sa.Text(), nullable=False),
        sa.Column('app_name', sqlmodel.sql.sqltypes.AutoString(length=130), nullable=False),
        sa.Column('app_kana', sqlmodel.sql.sqltypes.AutoString(length=130), nullable=False),
        sa.Column('app_birth', sa.Date(), nullable=True),
        sa.Column('app_sex', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('app_address', sqlmodel.sql.sqltypes.AutoString(length=240), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('required_approvals', sa.Integer(), nullable=False),
        sa.Column('proposer_id', sa.Integer(), nullable=False),
        sa.Column('proposer_login', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['link_id'], ['my_number_link.id']),
        sa.ForeignKeyConstraint(['proposer_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['resident_id'], ['resident.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_link_proposal_link_id', 'link_proposal', ['link_id'])
    op.create_index('ix_link_proposal_proposer_id', 'link_proposal', ['proposer_id'])
    op.create_index('ix_link_proposal_resident_id', 'link_proposal', ['resident_id'])
    op.create_index('ix_link_proposal_status', 'link_proposal', ['status'])
    op.create_index('ix_link_proposal_status_submitted', 'link_proposal',
                    ['status', 'submitted_at'])
    op.create_index('uq_link_proposal_pending_number', 'link_proposal', ['number'],
                    unique=True, sqlite_where=PENDING_NUMBER, postgresql_where=PENDING_NUMBER)
    op.create_index('uq_link_proposal_pending_resident', 'link_proposal', ['resident_id'],
                    unique=True, sqlite_where=PENDING, postgresql_where=PENDING)

    op.create_table(
        'link_fingerprint',
        sa.Column('link_id', sa.Integer(), nullable=False),
        sa.Column('name_fp', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('birth_fp', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('sex_fp', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('address_fp', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=True),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.ForeignKeyConstraint(['link_id'], ['my_number_link.id']),
        sa.ForeignKeyConstraint(['proposal_id'], ['link_proposal.id']),
        sa.PrimaryKeyConstraint('link_id'),
    )

    op.create_table(
        'link_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('reviewer_id', sa.Integer(), nullable=False),
        sa.Column('reviewer_login', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['proposal_id'], ['link_proposal.id']),
        sa.ForeignKeyConstraint(['reviewer_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('proposal_id', 'reviewer_id', 'version'),
    )
    op.create_index('ix_link_review_proposal_id', 'link_review', ['proposal_id'])
    op.create_index('ix_link_review_reviewer_id', 'link_review', ['reviewer_id'])

    sqlite = op.get_bind().dialect.name == "sqlite"
    for ddl in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for ddl in SQLITE_DROP if sqlite else POSTGRES_DROP:
        op.execute(ddl)
    op.drop_index('ix_link_review_reviewer_id', table_name='link_review')
    op.drop_index('ix_link_review_proposal_id', table_name='link_review')
    op.drop_table('link_review')
    op.drop_table('link_fingerprint')
    op.drop_index('uq_link_proposal_pending_resident', table_name='link_proposal')
    op.drop_index('uq_link_proposal_pending_number', table_name='link_proposal')
    op.drop_index('ix_link_proposal_status_submitted', table_name='link_proposal')
    op.drop_index('ix_link_proposal_status', table_name='link_proposal')
    op.drop_index('ix_link_proposal_resident_id', table_name='link_proposal')
    op.drop_index('ix_link_proposal_proposer_id', table_name='link_proposal')
    op.drop_index('ix_link_proposal_link_id', table_name='link_proposal')
    op.drop_table('link_proposal')
