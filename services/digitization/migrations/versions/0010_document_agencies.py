"""documents and signed files know their agency (and a file its dossier): answers are
filtered by the caller's agency tree; rows already there filled where derivable

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_code', sa.String(length=32), nullable=True))
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dossier_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('agency_code', sa.String(length=32), nullable=True))
    # A warehouse row of a dossier: that dossier's agency. A row held from elsewhere names
    # no dossier and stays without one (seen only by the whole country's callers).
    op.execute("UPDATE documents SET agency_code = (SELECT d.agency_code FROM dossiers d "
               "WHERE d.code = documents.dossier_code) WHERE dossier_code IS NOT NULL")
    # A scanned file: the dossier whose component it finished. A signed result: the dossier
    # the warehouse filed it under when it was issued.
    op.execute("UPDATE files SET dossier_code = (SELECT MIN(c.dossier_code) FROM components c "
               "WHERE c.document_ref = files.id) WHERE kind = 'component'")
    op.execute("UPDATE files SET dossier_code = (SELECT MIN(w.dossier_code) FROM documents w "
               "WHERE w.document_ref = files.id AND w.dossier_code IS NOT NULL) "
               "WHERE dossier_code IS NULL")
    op.execute("UPDATE files SET agency_code = (SELECT d.agency_code FROM dossiers d "
               "WHERE d.code = files.dossier_code) WHERE dossier_code IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_column('agency_code')
        batch_op.drop_column('dossier_code')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('agency_code')
