"""cases: the requests to other agencies with their sub-deadlines, and the province results
published on the results topic

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 22:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both start empty: a request asked before keeps no sub-deadline alert (its
    # VerificationRequested is on the processing topic for reporting), and a province's
    # result already recorded is published if the province reports it again.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_requests', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('published_results', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('published_results')
        batch_op.drop_column('agency_requests')
