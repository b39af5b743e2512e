"""audit log: the append-only, hash-chained trail of officer actions and personal-data reads

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import create_audit_log, drop_audit_log

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_log()


def downgrade() -> None:
    drop_audit_log()
