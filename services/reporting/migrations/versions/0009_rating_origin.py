"""ratings: one per dossier and origin (a citizen's on the public page, an officer's counter
survey), and until when a citizen may change theirs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPIED = "dossier_code, agency_code, score, comment, rated_at, event_id"


def _ratings(name: str, *, with_origin: bool) -> None:
    # The primary key changes, which SQLite cannot alter: a new table, the rows copied.
    keys = ('dossier_code', 'origin') if with_origin else ('dossier_code',)
    op.create_table(
        name,
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        *([sa.Column('origin', sa.String(length=16), nullable=False,
                     server_default='counter_survey')] if with_origin else []),
        sa.Column('agency_code', sa.String(length=32), nullable=False),
        sa.Column('score', sa.SmallInteger(), nullable=False),
        sa.Column('comment', sa.String(length=2000), nullable=False),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=True),
        *([sa.Column('changeable_until', sa.DateTime(timezone=True), nullable=True)]
          if with_origin else []),
        sa.PrimaryKeyConstraint(*keys, name=f'{name}_pk'))


def _swap(new: str) -> None:
    op.drop_index('ix_ratings_agency', table_name='ratings')
    op.drop_table('ratings')
    op.rename_table(new, 'ratings')
    op.create_index('ix_ratings_agency', 'ratings', ['agency_code'], unique=False)


def upgrade() -> None:
    # Every rating kept so far was entered by an officer: a counter survey.
    _ratings('ratings_by_origin', with_origin=True)
    op.execute(f"INSERT INTO ratings_by_origin ({COPIED}, origin) "
               f"SELECT {COPIED}, 'counter_survey' FROM ratings")
    _swap('ratings_by_origin')


def downgrade() -> None:
    # Back to one rating per dossier: the counter surveys, as before (citizens' are dropped).
    _ratings('ratings_single', with_origin=False)
    op.execute(f"INSERT INTO ratings_single ({COPIED}) "
               f"SELECT {COPIED} FROM ratings WHERE origin = 'counter_survey'")
    _swap('ratings_single')
