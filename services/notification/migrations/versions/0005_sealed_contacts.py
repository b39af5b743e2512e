"""applicants' phone and e-mail sealed at rest

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from services.common.persistence.sealed_columns import seal_columns, unseal_columns

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    seal_columns('contacts', ['applicant_ref'], {'phone': sa.String(length=20), 'email': sa.String(length=254)})


def downgrade() -> None:
    unseal_columns('contacts', ['applicant_ref'], {'phone': sa.String(length=20), 'email': sa.String(length=254)})
