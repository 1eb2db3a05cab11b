"""self-inspection (issue 7; filled in by its work)

Reserved so that work on several issues can add tables side by side without two
revisions claiming the same parent; empty until its issue's tables land.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 08:30:00
"""

from __future__ import annotations

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
