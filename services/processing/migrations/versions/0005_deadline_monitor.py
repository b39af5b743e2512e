"""deadline monitor: the next alert time (indexed), the alerts fired, the deadline status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_alert_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('alerts_fired', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('deadline', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_cases_next_alert', ['next_alert_at'], unique=False)
        batch_op.create_index('ix_cases_deadline', ['deadline', 'received_at', 'code'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_deadline')
        batch_op.drop_index('ix_cases_next_alert')
        batch_op.drop_column('deadline')
        batch_op.drop_column('alerts_fired')
        batch_op.drop_column('next_alert_at')
