"""declared identities sealed at rest (full name, ID number, social insurance code)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from services.common.persistence.sealed_columns import seal_columns, unseal_columns

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    seal_columns('declarations', ['dossier_code'], {'full_name': sa.String(length=200), 'id_number': sa.String(length=12), 'social_insurance_code': sa.String(length=10)})


def downgrade() -> None:
    unseal_columns('declarations', ['dossier_code'], {'full_name': sa.String(length=200), 'id_number': sa.String(length=12), 'social_insurance_code': sa.String(length=10)})
