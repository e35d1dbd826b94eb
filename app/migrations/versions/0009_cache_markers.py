"""attempts.cache_markers: whose prompt-cache markers a call carried (the client's or Tiergate's)

Revision ID: 0009_cache_markers
Revises: 0008_money_exact
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_cache_markers'
down_revision = '0008_money_exact'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("cache_markers", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("cache_markers")
