"""parked province events: when they were parked, so they expire and are answered

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29 17:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('parked_province_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_parked_province_events_parked_at', ['parked_at'],
                              unique=False)
    # Events parked before this revision had no expiry: their clock starts at their own time.
    op.execute("UPDATE parked_province_events SET parked_at = occurred_at "
               "WHERE parked_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('parked_province_events', schema=None) as batch_op:
        batch_op.drop_index('ix_parked_province_events_parked_at')
        batch_op.drop_column('parked_at')
