"""``python -m app.cli`` is the ``tiergate`` command."""
from app.cli import main

main()
