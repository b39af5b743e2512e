"""applicants sealed at rest, and reduced to what a letter needs (kind and name)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:20:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa

from services.common.persistence.sealed_columns import seal_columns, unseal_columns

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _for_letters(text: str) -> str:
    """As repository._for_letters: the kind and the name; the personal numbers and contacts
    kept before are dropped."""
    applicant = json.loads(text)
    return json.dumps({k: applicant[k] for k in ("kind", "full_name", "name") if k in applicant},
                      ensure_ascii=False, separators=(",", ":"))


def upgrade() -> None:
    seal_columns('applicants', ['dossier_code'], {'applicant': sa.JSON()}, _for_letters)


def downgrade() -> None:
    unseal_columns('applicants', ['dossier_code'], {'applicant': sa.JSON()})
