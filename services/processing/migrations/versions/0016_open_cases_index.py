"""cases: a partial index of the open cases, which the open-cases gauges count

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tables.OPEN_CASE as this revision wrote it (a later change of the resolved states is a
# revision of its own).
OPEN_CASE = ("received_at IS NOT NULL AND state NOT IN "
             "('approved', 'denied', 'result_issued', 'returned', 'stopped', 'withdrawn')")


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_open', ['agency_code', 'deadline'], unique=False,
                              postgresql_where=sa.text(OPEN_CASE),
                              sqlite_where=sa.text(OPEN_CASE))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_open')
