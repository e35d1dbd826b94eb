"""Money: budgets (limits, holds, settlement) and the overhead a request's ledger carries."""
