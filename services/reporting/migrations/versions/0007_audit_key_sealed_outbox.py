"""audit log keyed: each row names the key of its HMAC

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""
from collections.abc import Sequence

from services.common.migrations import add_audit_key_id, drop_audit_key_id

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_audit_key_id()


def downgrade() -> None:
    drop_audit_key_id()
