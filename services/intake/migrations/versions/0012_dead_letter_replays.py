"""dead-letter replays: the letters an operator published again, so a second replay is refused

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import create_dead_letter_replays, drop_dead_letter_replays

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_dead_letter_replays()


def downgrade() -> None:
    drop_dead_letter_replays()
