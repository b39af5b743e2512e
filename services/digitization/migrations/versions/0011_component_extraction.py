"""components keep what OCR read of a scanned declaration form, for DossierDigitized

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 13:00:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPONENT_DIGITIZED = "vn.gov.bhxh.onestop.component.digitized.v1"


def upgrade() -> None:
    with op.batch_alter_table('components', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extraction', sa.JSON(), nullable=True))
    # Scans made before carried their extraction on ComponentDigitized only: a dossier still
    # waiting for another component gets it back from the outbox rows kept (the latest
    # event of each component wins), so its DossierDigitized names it.
    conn = op.get_bind()
    outbox = sa.table("outbox", sa.column("seq"), sa.column("event_type"),
                      sa.column("payload", sa.LargeBinary()))
    latest: dict[tuple[str, str], object] = {}
    for (payload,) in conn.execute(sa.select(outbox.c.payload).where(
            outbox.c.event_type == COMPONENT_DIGITIZED).order_by(outbox.c.seq)):
        data = json.loads(payload)["data"]  # digitization's topic is never sealed
        latest[(data["dossier_code"], data["component_code"])] = data.get("extraction")
    found = [{"d": d, "c": c, "x": x} for (d, c), x in latest.items() if x is not None]
    if found:
        components = sa.table("components", sa.column("dossier_code"), sa.column("code"),
                              sa.column("extraction", sa.JSON()))
        conn.execute(components.update().where(
            components.c.dossier_code == sa.bindparam("d"),
            components.c.code == sa.bindparam("c")).values(extraction=sa.bindparam("x")),
            found)


def downgrade() -> None:
    with op.batch_alter_table('components', schema=None) as batch_op:
        batch_op.drop_column('extraction')
