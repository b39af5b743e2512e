"""audit log keyed (each row names its HMAC key), outbox payloads of personal topics sealed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00
"""
from collections.abc import Sequence

from services.common.persistence.migrations import add_audit_key_id, drop_audit_key_id
from services.common.persistence.sealed_columns import open_outbox_payloads, seal_outbox_payloads

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_audit_key_id()
    seal_outbox_payloads()


def downgrade() -> None:
    open_outbox_payloads()
    drop_audit_key_id()
