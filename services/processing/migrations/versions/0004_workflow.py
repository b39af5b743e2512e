"""workflow: cases hold what the workflow and the law's clock need (state replaces status),
one history row per transition, steps assigned again (a sequence key), idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CASE_COLUMNS = (
    ('department', sa.String(length=200)), ('holder', sa.String(length=200)),
    ('legal_time', sa.JSON()), ('clock_start', sa.DateTime(timezone=True)),
    ('clock', sa.JSON()), ('step_dues', sa.JSON()), ('applicant', sa.JSON()),
    ('return_channel', sa.String(length=16)), ('proposal', sa.String(length=16)),
    ('open_request', sa.String(length=32)), ('asked_agency', sa.String(length=200)),
    ('stop_notice', sa.String(length=200)), ('updated_at', sa.DateTime(timezone=True)),
)
_COUNTERS = ('supplement_rounds', 'verifications', 'assignments')
_INDEXES = (('ix_cases_received', ['received_at', 'code']),
            ('ix_cases_agency', ['agency_code', 'received_at']),
            ('ix_cases_state', ['state']), ('ix_cases_holder', ['holder']),
            ('ix_cases_department', ['department']))


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=32), nullable=True))
        for name, type_ in _CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        for name in _COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False,
                                          server_default='0'))
    # The stub's two statuses: 'processing' was "at step current_step, nobody claimed it".
    op.execute("UPDATE cases SET state = CASE status WHEN 'processing' THEN 'in_step' "
               "ELSE 'waiting' END")
    op.execute("UPDATE cases SET clock_start = received_at, assignments = current_step "
               "WHERE current_step IS NOT NULL")
    op.execute("UPDATE cases SET clock_start = received_at WHERE clock_start IS NULL")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column('status')
        for name, columns in _INDEXES:
            batch_op.create_index(name, columns, unique=False)

    # Steps get a sequence key (a step sent back is assigned again): a new table, copied,
    # since SQLite cannot change a primary key in place.
    op.create_table(
        'steps_v2',
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('step_no', sa.Integer(), nullable=False),
        sa.Column('step_code', sa.String(length=32), nullable=False),
        sa.Column('department', sa.String(length=200), nullable=False),
        sa.Column('assignee', sa.String(length=200), nullable=True),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('dossier_code', 'seq', name='pk_steps_seq'))
    op.execute("INSERT INTO steps_v2 (dossier_code, seq, step_no, step_code, department, "
               "assigned_at, due_at, completed_at) SELECT dossier_code, step_no, step_no, "
               "step_code, department, assigned_at, due_at, completed_at FROM steps")
    op.drop_table('steps')
    op.rename_table('steps_v2', 'steps')

    op.create_table(
        'case_history',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('officer', sa.String(length=200), nullable=True),
        sa.Column('from_state', sa.String(length=32), nullable=False),
        sa.Column('to_state', sa.String(length=32), nullable=False),
        sa.Column('step', sa.Integer(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_history_dossier_code'), ['dossier_code'],
                              unique=False)
    op.create_table(
        'idempotency_keys',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('request', sa.String(length=300), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'))


def downgrade() -> None:
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_history_dossier_code'))
    op.drop_table('case_history')

    op.create_table(
        'steps_v1',
        sa.Column('dossier_code', sa.String(length=64), nullable=False),
        sa.Column('step_no', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('step_code', sa.String(length=32), nullable=False),
        sa.Column('department', sa.String(length=200), nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('dossier_code', 'step_no', name='pk_steps_step_no'))
    # A step assigned more than once keeps its latest assignment.
    op.execute("INSERT INTO steps_v1 SELECT s.dossier_code, s.step_no, s.step_code, "
               "s.department, s.assigned_at, s.due_at, s.completed_at FROM steps s "
               "WHERE s.seq = (SELECT MAX(t.seq) FROM steps t WHERE t.dossier_code = "
               "s.dossier_code AND t.step_no = s.step_no)")
    op.drop_table('steps')
    op.rename_table('steps_v1', 'steps')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=32), nullable=True))
    op.execute("UPDATE cases SET status = CASE state WHEN 'waiting' THEN 'waiting' "
               "ELSE 'processing' END")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=32), nullable=False)
        for name, _columns in _INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column('state')
        for name in reversed(_COUNTERS):
            batch_op.drop_column(name)
        for name, _type in reversed(_CASE_COLUMNS):
            batch_op.drop_column(name)
