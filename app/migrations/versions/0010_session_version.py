"""logout ends the session: a per-reviewer session version

Revision ID: 0010_session_version
Revises: 0009_cache_markers
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_session_version'
down_revision = '0009_cache_markers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reviewers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('reviewers', schema=None) as batch_op:
        batch_op.drop_column('session_version')
