"""shadow comparisons

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    money = sa.Numeric(precision=18, scale=8)
    op.create_table('shadow_comparisons',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('item_index', sa.Integer(), nullable=True),
    sa.Column('ledger_request_id', sa.String(length=40), nullable=True),
    sa.Column('review_id', sa.String(length=40), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('task_type', sa.String(length=100), nullable=False),
    sa.Column('comparator', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answer_tier', sa.String(length=20), nullable=True),
    sa.Column('answer_model', sa.String(length=100), nullable=False),
    sa.Column('baseline_model', sa.String(length=100), nullable=False),
    sa.Column('judge_model', sa.String(length=100), nullable=True),
    sa.Column('input_text', sa.Text(), nullable=True),
    sa.Column('answer_text', sa.Text(), nullable=True),
    sa.Column('baseline_text', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('batch', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=True),
    sa.Column('estimated_cost_usd', money, nullable=False),
    sa.Column('shadow_cost_usd', money, nullable=False),
    sa.Column('judge_cost_usd', money, nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['ledger_request_id'], ['requests.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('shadow_comparisons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shadow_comparisons_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shadow_comparisons_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_shadow_comparisons_month_task', ['month', 'task_type'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shadow_comparisons', schema=None) as batch_op:
        batch_op.drop_index('ix_shadow_comparisons_month_task')
        batch_op.drop_index(batch_op.f('ix_shadow_comparisons_request_id'))
        batch_op.drop_index(batch_op.f('ix_shadow_comparisons_created_at'))
    op.drop_table('shadow_comparisons')
