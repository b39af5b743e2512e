"""outbox without ix_outbox_published_at: no query reads by it; every write and mark paid for it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 17:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import (
    drop_outbox_published_at_index,
    restore_outbox_published_at_index,
)

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    drop_outbox_published_at_index()


def downgrade() -> None:
    restore_outbox_published_at_index()
