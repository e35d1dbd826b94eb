"""``tiergate export [--from] [--to] [--format csv|json] [--out FILE]``: the per-request ledger.

The same rows as ``GET /v1/reports/requests``; the CSV is what ``tiergate simulate`` replays.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli import cli
from app.cli.common import cli_store
from app.errors import InvalidField
from app.reports import parse_period, request_lines, requests_csv, requests_json


@cli.command("export")
@click.option("--from", "start", help="Start, inclusive: YYYY-MM, YYYY-MM-DD or an ISO date-time (UTC).")
@click.option("--to", "end", help="End: a date-only value includes that day or month; a date-time is exclusive.")
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of standard output.")
def export_command(start: str | None, end: str | None, fmt: str, out: str | None) -> None:
    """Write one row per request of the ledger: task, tiers, recorded baseline, tokens, cost, overhead, batch."""
    try:
        period = parse_period(start, end)
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    with cli_store().session() as session:
        lines = request_lines(session, period)
        text = requests_csv(lines) if fmt == "csv" else json.dumps(requests_json(lines, period), indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(lines)} requests to {out}", err=True)
    else:
        click.echo(text, nl=False)
