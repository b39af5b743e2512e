"""dossier_facts.fold_state: what the fold needs besides the fact to add the next event

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a fact folded before has none, and its dossier is folded again from its
    # events the next time one of them arrives.
    with op.batch_alter_table('dossier_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fold_state', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dossier_facts', schema=None) as batch_op:
        batch_op.drop_column('fold_state')
