"""outbox parked index: the relay counts parked rows from a partial index of their own

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:40:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import add_outbox_parked_index, drop_outbox_parked_index

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_parked_index()


def downgrade() -> None:
    drop_outbox_parked_index()
