"""outbox parking: rows the broker refused for good are set aside with their reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 18:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import add_outbox_parking, drop_outbox_parking

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_parking()


def downgrade() -> None:
    drop_outbox_parking()
