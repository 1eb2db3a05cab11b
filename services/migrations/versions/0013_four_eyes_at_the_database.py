"""four eyes at the database

An active My Number link is the consequence of a decided proposal, or it is not there.
``my_number_link.proposal_id`` names the link proposal whose approval made the link
(unique; NULL for the 初期移行 links of the register taken over); links made before
this revision get it from ``link_proposal.link_id``. Triggers on SQLite and PostgreSQL:

* a link inserted active names an approved link proposal for the same resident and
  number whose approving reviews of its current version come from at least its
  required number (never less than 1) of distinct reviewers other than its proposer —
  or it is marked 初期移行 and names none; a link inserted revoked (history carried
  over) names none;
* a link's proposal is never changed (nor its number, resident, date, source), a
  revoked link never becomes active again, and an active link is revoked only when an
  unlink proposal about it was approved the same way;
* a decided proposal stays as it is, except that an approved link proposal is told
  once which link it made (``link_id``, the link naming it), since the link can only be
  inserted after the approval;
* a rights change is not confirmed by its subject (the account linked to its 職員番号,
  by account id or login), as it is not by its applier (0004).

The required number is the proposal's own ``required_approvals`` (the setting
``linkage_approvals`` when it was submitted); the database does not read the settings.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 09:00:00
"""
# Frozen history: a migration repeats the shapes of the ones before it (tables, indexes,
# the same trigger for two dialects) on purpose. Once released it never changes, so it
# shares no helper with another migration that a later edit could change under it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MIGRATED = "初期移行"
NEEDS_PROPOSAL = ("four eyes: an active link needs an approved link proposal for its"
                  " resident and number, approved by enough reviewers other than the"
                  " proposer (or source 初期移行)")
NEEDS_UNLINK = ("four eyes: a link is revoked only by an unlink proposal approved by"
                " enough reviewers other than the proposer")
LINK_FIXED = "an approved link is never edited: propose an unlink"
LINKS_KEPT = "my_number_link rows are kept: revoke instead"
DECIDED_FINAL = "a decided or withdrawn proposal is never changed"
SUBJECT_CONFIRM = "four eyes: a rights change is not confirmed by its subject"

# Every column of link_proposal but link_id: the one fill-in after approval changes none.
PROPOSAL_COLUMNS = (
    "id", "kind", "resident_id", "number", "last4", "source", "reference", "number_check",
    "identity_checks", "app_name", "app_kana", "app_birth", "app_sex", "app_address",
    "note", "status", "version", "required_approvals", "proposer_id", "proposer_login",
    "created_at", "updated_at", "submitted_at", "decided_at",
)


def _enough(greatest: str) -> str:
    """Proposal ``p`` has its required approvals of its current version from distinct
    reviewers other than its proposer (``greatest``: max on SQLite, GREATEST on PG)."""
    return (
        "(SELECT count(DISTINCT r.reviewer_id) FROM link_review r WHERE r.proposal_id = p.id"
        " AND r.verdict = 'approve' AND r.version = p.version"
        f" AND r.reviewer_id <> p.proposer_id) >= {greatest}(p.required_approvals, 1)"
    )


def _made_by_proposal(greatest: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM link_proposal p WHERE p.id = NEW.proposal_id"
        " AND p.kind = 'link' AND p.status = 'approved' AND p.resident_id = NEW.resident_id"
        f" AND p.number = NEW.number AND {_enough(greatest)})"
    )


def _revoked_by_unlink(greatest: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM link_proposal p WHERE p.link_id = OLD.id"
        f" AND p.kind = 'unlink' AND p.status = 'approved' AND {_enough(greatest)})"
    )


def _link_ok(greatest: str) -> str:
    """An inserted link row that may stand. Every part is true or false, never NULL (a
    NULL would let the row through a WHEN or an IF)."""
    return (
        "((NEW.status = 'revoked' AND NEW.proposal_id IS NULL)"
        f" OR (NEW.status = 'active' AND NEW.source = '{MIGRATED}' AND NEW.proposal_id IS NULL)"
        f" OR (NEW.status = 'active' AND NEW.source <> '{MIGRATED}'"
        f" AND {_made_by_proposal(greatest)}))"
    )


def _link_changed(is_not: str) -> str:
    return (
        "OLD.status <> 'active' OR NEW.status NOT IN ('active', 'revoked')"
        f" OR NEW.number {is_not} OLD.number OR NEW.resident_id {is_not} OLD.resident_id"
        f" OR NEW.last4 {is_not} OLD.last4 OR NEW.linked_at {is_not} OLD.linked_at"
        f" OR NEW.source {is_not} OLD.source OR NEW.proposal_id {is_not} OLD.proposal_id"
    )


def _revoking_unapproved(greatest: str) -> str:
    return (f"OLD.status = 'active' AND NEW.status = 'revoked'"
            f" AND NOT {_revoked_by_unlink(greatest)}")


def _link_told(is_: str) -> str:
    """The one change to a decided proposal: an approved link proposal whose link_id was
    empty is told the link that names it, nothing else changing."""
    same = " AND ".join(f"NEW.{c} {is_} OLD.{c}" for c in PROPOSAL_COLUMNS)
    return (
        "(OLD.status = 'approved' AND OLD.kind = 'link' AND OLD.link_id IS NULL"
        " AND EXISTS (SELECT 1 FROM my_number_link l WHERE l.id = NEW.link_id"
        f" AND l.proposal_id = OLD.id) AND {same})"
    )


def _subject_confirms(is_not: str) -> str:
    return (
        "NEW.verdict <> '' AND (OLD.verdict = ''"
        f" OR NEW.confirmed_by {is_not} OLD.confirmed_by"
        f" OR NEW.confirmed_user {is_not} OLD.confirmed_user)"
        " AND EXISTS (SELECT 1 FROM staff st JOIN app_user u ON u.id = st.user_id"
        " WHERE st.staff_no = NEW.staff_no"
        " AND (u.id = NEW.confirmed_user OR u.login = NEW.confirmed_by))"
    )


def _sqlite_abort(name: str, on: str, when: str, message: str) -> str:
    cond = f" WHEN {when}" if when else ""
    return (f"CREATE TRIGGER {name} {on}{cond}"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END")


SQLITE_TRIGGERS = [
    _sqlite_abort("my_number_link_made_by_proposal", "BEFORE INSERT ON my_number_link",
                  f"NOT {_link_ok('max')}", NEEDS_PROPOSAL),
    _sqlite_abort("my_number_link_fixed", "BEFORE UPDATE ON my_number_link",
                  _link_changed("IS NOT"), LINK_FIXED),
    _sqlite_abort("my_number_link_revoked_by_unlink", "BEFORE UPDATE ON my_number_link",
                  _revoking_unapproved("max"), NEEDS_UNLINK),
    _sqlite_abort("link_proposal_decided_final", "BEFORE UPDATE ON link_proposal",
                  "OLD.status IN ('approved', 'rejected', 'withdrawn')"
                  f" AND NOT {_link_told('IS')}", DECIDED_FINAL),
    _sqlite_abort("rights_change_subject_confirm", "BEFORE UPDATE ON rights_change",
                  _subject_confirms("IS NOT"), SUBJECT_CONFIRM),
]
# What 0003 and 0004 had, for the downgrade (the two triggers replaced above).
SQLITE_BEFORE = [
    _sqlite_abort("my_number_link_fixed", "BEFORE UPDATE ON my_number_link",
                  _link_changed("IS NOT").removesuffix(
                      " OR NEW.proposal_id IS NOT OLD.proposal_id"), LINK_FIXED),
    _sqlite_abort("link_proposal_decided_final", "BEFORE UPDATE ON link_proposal",
                  "OLD.status IN ('approved', 'rejected', 'withdrawn')", DECIDED_FINAL),
]

_PG_RAISE = "RAISE EXCEPTION '{}' USING ERRCODE = 'check_violation';"
_PG_APPROVALS = (
    "(SELECT count(*) FROM link_review r WHERE r.proposal_id = NEW.id"
    " AND r.verdict = 'approve' AND r.version = NEW.version"
    " AND r.reviewer_id <> NEW.proposer_id)"
)
_PG_REJECTION = (
    "EXISTS (SELECT 1 FROM link_review r WHERE r.proposal_id = NEW.id"
    " AND r.verdict = 'reject' AND r.version = NEW.version"
    " AND r.reviewer_id <> NEW.proposer_id)"
)


def _pg_link_guard(*, now: bool) -> str:
    if now:
        insert = (f"IF TG_OP = 'INSERT' THEN"
                  f" IF NOT {_link_ok('GREATEST')} THEN {_PG_RAISE.format(NEEDS_PROPOSAL)}"
                  " END IF; RETURN NEW; END IF;")
        changed = _link_changed("IS DISTINCT FROM")
        revoke = (f"IF {_revoking_unapproved('GREATEST')} THEN"
                  f" {_PG_RAISE.format(NEEDS_UNLINK)} END IF;")
    else:
        insert, revoke = "", ""
        changed = _link_changed("IS DISTINCT FROM").removesuffix(
            " OR NEW.proposal_id IS DISTINCT FROM OLD.proposal_id")
    return f"""CREATE OR REPLACE FUNCTION juki_my_number_link_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          {insert}
          IF TG_OP <> 'UPDATE' THEN {_PG_RAISE.format(LINKS_KEPT)} END IF;
          IF {changed} THEN {_PG_RAISE.format(LINK_FIXED)} END IF;
          {revoke}
          RETURN NEW;
        END $$"""


def _pg_proposal_guard(*, now: bool) -> str:
    final = "OLD.status IN ('approved', 'rejected', 'withdrawn')"
    if now:
        final += f" AND NOT {_link_told('IS NOT DISTINCT FROM')}"
    return f"""CREATE OR REPLACE FUNCTION juki_link_proposal_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            IF NEW.status IN ('approved', 'rejected') THEN
              {_PG_RAISE.format("four eyes: a proposal is decided only by its reviews")}
            END IF;
            RETURN NEW;
          END IF;
          IF TG_OP <> 'UPDATE' THEN {_PG_RAISE.format("link_proposal rows are kept")} END IF;
          IF {final} THEN
            {_PG_RAISE.format(DECIDED_FINAL)}
          END IF;
          IF NEW.proposer_id IS DISTINCT FROM OLD.proposer_id THEN
            {_PG_RAISE.format("four eyes: a proposal keeps its proposer")}
          END IF;
          IF NEW.status = 'approved' AND {_PG_APPROVALS}
             < GREATEST(OLD.required_approvals, NEW.required_approvals, 1) THEN
            {_PG_RAISE.format("four eyes: not enough approving reviews of this version")}
          END IF;
          IF NEW.status = 'rejected' AND NOT {_PG_REJECTION} THEN
            {_PG_RAISE.format("four eyes: no rejecting review of this version")}
          END IF;
          RETURN NEW;
        END $$"""


_PG_SELF = (
    "NEW.verdict <> '' AND (NEW.confirmed_by = NEW.applied_by OR "
    "(NEW.confirmed_user IS NOT NULL AND NEW.confirmed_user = NEW.applied_user))"
)
_PG_FINAL = (
    "OLD.verdict <> '' AND (NEW.verdict IS DISTINCT FROM OLD.verdict OR "
    "NEW.confirmed_by IS DISTINCT FROM OLD.confirmed_by OR "
    "NEW.comment IS DISTINCT FROM OLD.comment OR "
    "NEW.confirmed_at IS DISTINCT FROM OLD.confirmed_at)"
)


def _pg_rights_guard(*, now: bool) -> str:
    subject = (f"IF {_subject_confirms('IS DISTINCT FROM')} THEN"
               f" {_PG_RAISE.format(SUBJECT_CONFIRM)} END IF;") if now else ""
    return f"""CREATE OR REPLACE FUNCTION juki_rights_change_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF {_PG_FINAL} THEN
            {_PG_RAISE.format("a rights change verdict is final")}
          END IF;
          IF {_PG_SELF} THEN
            {_PG_RAISE.format("four eyes: a rights change is not confirmed by the one who applied it")}
          END IF;
          {subject}
          IF NEW.verdict <> '' AND NEW.state <> 'applied' THEN
            {_PG_RAISE.format("a rights change is confirmed only after it is applied")}
          END IF;
          RETURN NEW;
        END $$"""


def _backfill() -> None:
    """Each link made by an approval before this revision names its proposal. Runs with
    the link guards off (revoked links are otherwise never updated)."""
    op.execute(
        "UPDATE my_number_link SET proposal_id = (SELECT p.id FROM link_proposal p"
        " WHERE p.kind = 'link' AND p.status = 'approved' AND p.link_id = my_number_link.id)"
        " WHERE EXISTS (SELECT 1 FROM link_proposal p WHERE p.kind = 'link'"
        " AND p.status = 'approved' AND p.link_id = my_number_link.id)"
    )


def upgrade() -> None:
    op.add_column('my_number_link', sa.Column('proposal_id', sa.Integer(), nullable=True))
    op.create_index('ix_my_number_link_proposal_id', 'my_number_link', ['proposal_id'],
                    unique=True)
    if op.get_bind().dialect.name == "sqlite":
        for name in ("my_number_link_fixed", "link_proposal_decided_final"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        _backfill()
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)
        return
    op.execute("ALTER TABLE my_number_link DISABLE TRIGGER USER")
    _backfill()
    op.execute("ALTER TABLE my_number_link ENABLE TRIGGER USER")
    op.execute(_pg_link_guard(now=True))
    op.execute("DROP TRIGGER my_number_link_guard ON my_number_link")
    op.execute("""CREATE TRIGGER my_number_link_guard
                  BEFORE INSERT OR UPDATE OR DELETE ON my_number_link
                  FOR EACH ROW EXECUTE FUNCTION juki_my_number_link_guard()""")
    op.execute(_pg_proposal_guard(now=True))
    op.execute(_pg_rights_guard(now=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for ddl in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {ddl.split()[2]}")
        op.drop_index('ix_my_number_link_proposal_id', table_name='my_number_link')
        op.execute("ALTER TABLE my_number_link DROP COLUMN proposal_id")
        for ddl in SQLITE_BEFORE:
            op.execute(ddl)
        return
    op.execute("DROP TRIGGER my_number_link_guard ON my_number_link")
    op.execute(_pg_link_guard(now=False))
    op.execute("""CREATE TRIGGER my_number_link_guard BEFORE UPDATE OR DELETE ON my_number_link
                  FOR EACH ROW EXECUTE FUNCTION juki_my_number_link_guard()""")
    op.execute(_pg_proposal_guard(now=False))
    op.execute(_pg_rights_guard(now=False))
    op.drop_index('ix_my_number_link_proposal_id', table_name='my_number_link')
    op.drop_column('my_number_link', 'proposal_id')
