"""ssh keys (issue 6; filled in by its work)

Reserved so that work on several issues can add tables side by side without two
revisions claiming the same parent; empty until its issue's tables land.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:30:00
"""

from __future__ import annotations

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
