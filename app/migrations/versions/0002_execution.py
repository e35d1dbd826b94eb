"""the execution path: request leases, the callback outbox, classify chunks, idempotency in the database

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_until', WHEN, nullable=True))
        batch_op.create_index('ix_requests_status_lease', ['status', 'lease_until'], unique=False)
        batch_op.create_index('uq_requests_idempotency', ['api_key_id', 'idempotency_key'], unique=True)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('review_id', sa.String(length=40), nullable=True),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', WHEN, nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', WHEN, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_request_id'), ['request_id'], unique=False)

    op.create_table('classify_chunks',
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'start')
    )


def downgrade() -> None:
    op.drop_table('classify_chunks')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_request_id'))
        batch_op.drop_index('ix_deliveries_due')
    op.drop_table('deliveries')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('uq_requests_idempotency')
        batch_op.drop_index('ix_requests_status_lease')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('owner')
