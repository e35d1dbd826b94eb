"""budgets and cost truth

Revision ID: 0004
Revises: 0003

The 1-hour cache writes of each attempt, the link from overhead rows (router calls, re-runs) to the
task they were made for, budgets with their holds, and the API key's dead budget columns dropped.
Batch mode so the same revision runs on SQLite (which rebuilds the table) and PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 8)


def upgrade() -> None:
    with op.batch_alter_table('attempts') as batch:
        batch.add_column(sa.Column('cache_write_1h_tokens', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('requests') as batch:
        batch.add_column(sa.Column('parent_request_id', sa.String(40), nullable=True))
        batch.create_index('ix_requests_parent_request_id', ['parent_request_id'])
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('monthly_budget_usd')
        batch.drop_column('budget_action')
    op.create_table(
        'budgets',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('scope', sa.String(20), nullable=False),
        sa.Column('subject', sa.String(200), nullable=False),
        sa.Column('period', sa.String(10), nullable=False),
        sa.Column('limit_usd', MONEY, nullable=False),
        sa.Column('action', sa.String(20), nullable=False),
        sa.Column('alert_pct', sa.Integer(), nullable=False),
        sa.Column('alert_url', sa.Text(), nullable=True),
        sa.Column('period_key', sa.String(10), nullable=False),
        sa.Column('spent_usd', MONEY, nullable=False),
        sa.Column('reserved_usd', MONEY, nullable=False),
        sa.Column('alerted_period', sa.String(10), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('scope', 'subject', 'period', name='uq_budgets_scope_subject_period'),
    )
    op.create_table(
        'budget_holds',
        sa.Column('request_id', sa.String(40), primary_key=True),
        sa.Column('budget_id', sa.Integer(), sa.ForeignKey('budgets.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('amount_usd', MONEY, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('budget_holds')
    op.drop_table('budgets')
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('monthly_budget_usd', MONEY, nullable=True))
        batch.add_column(sa.Column('budget_action', sa.String(20), nullable=False, server_default='refuse'))
    with op.batch_alter_table('requests') as batch:
        batch.drop_index('ix_requests_parent_request_id')
        batch.drop_column('parent_request_id')
    with op.batch_alter_table('attempts') as batch:
        batch.drop_column('cache_write_1h_tokens')
