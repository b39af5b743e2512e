"""personal data sealed at rest: the applicant of each dossier, parked province envelopes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from services.common.persistence.sealed_columns import seal_columns, unseal_columns

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    seal_columns('dossiers', ['code'], {'applicant': sa.JSON()})
    seal_columns('parked_province_events', ['event_id'], {'envelope': sa.JSON()})


def downgrade() -> None:
    unseal_columns('parked_province_events', ['event_id'], {'envelope': sa.JSON()})
    unseal_columns('dossiers', ['code'], {'applicant': sa.JSON()})
