"""outbox_pending: the relay's queue of rows to publish, filled by a trigger; no more marks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 02:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import add_outbox_queue, drop_outbox_queue

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_queue()


def downgrade() -> None:
    drop_outbox_queue()
