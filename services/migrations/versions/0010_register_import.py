"""register import (issue 9; filled in by its work)

Reserved so that work on several issues can add tables side by side without two
revisions claiming the same parent; empty until its issue's tables land.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 08:45:00
"""

from __future__ import annotations

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
