"""portal sync: each dossier's record with the national portal, and its queue of status changes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "delivered_at IS NULL AND parked_at IS NULL"
PARKED = "parked_at IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        'portal_dossiers',
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('occurrences', sa.JSON(), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=True),
        sa.Column('held', sa.JSON(), nullable=True),
        sa.Column('held_since', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('dossier_code'))
    with op.batch_alter_table('portal_dossiers', schema=None) as batch_op:
        batch_op.create_index('ix_portal_dossiers_held', ['held_since'], unique=False)
    op.create_table(
        'portal_outbox',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=100), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('idempotency_key'))
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_outbox_pending', ['seq'], unique=False,
                              sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))
        batch_op.create_index('ix_portal_outbox_parked', ['seq'], unique=False,
                              sqlite_where=sa.text(PARKED), postgresql_where=sa.text(PARKED))
        batch_op.create_index('ix_portal_outbox_delivered', ['delivered_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_outbox_delivered')
        batch_op.drop_index('ix_portal_outbox_parked')
        batch_op.drop_index('ix_portal_outbox_pending')
    op.drop_table('portal_outbox')
    with op.batch_alter_table('portal_dossiers', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_dossiers_held')
    op.drop_table('portal_dossiers')
