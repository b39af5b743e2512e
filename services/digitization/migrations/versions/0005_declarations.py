"""the applicant's declared identity per dossier, to check scanned forms against

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('declarations',
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=True),
    sa.Column('id_number', sa.String(length=12), nullable=True),
    sa.Column('social_insurance_code', sa.String(length=10), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dossier_code')
    )


def downgrade() -> None:
    op.drop_table('declarations')
