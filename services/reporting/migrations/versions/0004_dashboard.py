"""dashboard: indexes of the live board, satisfaction ratings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dossier_facts', schema=None) as batch_op:
        batch_op.create_index('ix_facts_last_recorded', ['last_recorded_at'], unique=False)
        batch_op.create_index('ix_facts_overdue', ['overdue', 'overdue_at'], unique=False)
        batch_op.create_index('ix_facts_agency_procedure', ['agency_code', 'procedure_code'],
                              unique=False)
    op.create_table('ratings',
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('agency_code', sa.String(length=32), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dossier_code')
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index('ix_ratings_agency', ['agency_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index('ix_ratings_agency')
    op.drop_table('ratings')
    with op.batch_alter_table('dossier_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_facts_agency_procedure')
        batch_op.drop_index('ix_facts_overdue')
        batch_op.drop_index('ix_facts_last_recorded')
