"""money stored exactly on SQLite; each request's baseline model and prices recorded

Revision ID: 0008_money_exact
Revises: 0007

SQLite has no exact decimal column: NUMERIC(18, 8) kept floats there, so sums carried binary noise.
``app.store.models.Money`` now stores an integer count of 1e-8 dollars on SQLite; this converts the
rows written before (rounded to the 8 places PostgreSQL's NUMERIC(18, 8) keeps). PostgreSQL's money
columns were exact already and are left as they are.

``requests`` gains the baseline the request was measured against when it was accepted (model and its
USD-per-million-token prices), so a later policy or price change does not relabel the past.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_money_exact'
down_revision = '0007'
branch_labels = None
depends_on = None

MONEY_COLUMNS = {
    "budgets": ("limit_usd", "spent_usd", "reserved_usd"),
    "budget_holds": ("amount_usd",),
    "decisions": ("estimated_cost_usd", "baseline_cost_usd"),
    "requests": ("cost_usd", "baseline_cost_usd"),
    "attempts": ("cost_usd", "baseline_cost_usd"),
    "shadow_comparisons": ("estimated_cost_usd", "shadow_cost_usd", "judge_cost_usd"),
}
UNITS_PER_USD = 100_000_000
BASELINE_PRICES = ("baseline_input_price", "baseline_output_price")


def _convert(to_units: bool) -> None:
    for table, columns in MONEY_COLUMNS.items():
        for column in columns:
            value = (f"CAST(ROUND({column} * {UNITS_PER_USD}) AS INTEGER)" if to_units
                     else f"CAST({column} AS REAL) / {UNITS_PER_USD}")
            op.execute(f"UPDATE {table} SET {column} = {value} WHERE {column} IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('requests') as batch:
        batch.add_column(sa.Column('baseline_model', sa.String(100), nullable=True))
        for name in BASELINE_PRICES:
            batch.add_column(sa.Column(name, sa.Numeric(18, 8), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _convert(to_units=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _convert(to_units=False)
    with op.batch_alter_table('requests') as batch:
        for name in ('baseline_model', *BASELINE_PRICES):
            batch.drop_column(name)
