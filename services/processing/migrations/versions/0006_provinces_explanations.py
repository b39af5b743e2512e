"""provinces' dossiers watched (origin_system), the channel, overdue explanations, apology
letters and the decision's result

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin_system', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('explained_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('explanation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('apology', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('result', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('result')
        batch_op.drop_column('channel')
        batch_op.drop_column('apology')
        batch_op.drop_column('explanation')
        batch_op.drop_column('explained_at')
        batch_op.drop_column('origin_system')
