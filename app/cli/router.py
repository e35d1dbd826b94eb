"""``tiergate router train|calibrate``: rebuild the learned router's weights, fit premium_share to a log."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import click

from app.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_PREVIEW = (0.05, 0.1, 0.2, 0.3, 0.5)


@cli.group()
def router() -> None:
    """The learned router's model."""


@router.command("train")
@click.option("--git-dir", type=click.Path(file_okay=False), help="refresh the RouteLLM data from this git directory")
@click.option("--refresh-data", is_flag=True, help="refresh the RouteLLM data from GitHub (pinned commit)")
def train(git_dir: str | None, refresh_data: bool) -> None:
    """Train both heads from the repository's data; writes the weight file and its model card."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    if importlib.util.find_spec("training") is None or importlib.util.find_spec("sklearn") is None:
        raise click.ClickException("training needs a source checkout (training/) and the training extra: "
                                   "pip install -e '.[training]'")
    from training import routellm_data, train_router

    if git_dir or refresh_data:
        sys.argv = ["routellm_data"] + (["--git-dir", git_dir] if git_dir else [])
        routellm_data.main()
    click.echo(json.dumps(train_router.train(), indent=2))


@router.command("calibrate")
@click.argument("logfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--share", type=click.FloatRange(0, 1), default=None, help="premium share to fit (default: the policy's)")
def calibrate(logfile: str, share: float | None) -> None:
    """Fit the "premium needed" threshold to the requests in LOGFILE (JSON lines with text/messages, or plain lines)."""
    from app.policy import load_policy
    from app.routing.learned.calibration import calibration_table, log_texts, threshold_for
    from app.routing.learned.model import shipped_model

    texts = log_texts(logfile)
    if not texts:
        raise click.ClickException(f"{logfile}: no request texts found")
    share = load_policy().router.premium_share if share is None else share
    model = shipped_model()
    scores = [model.score(text)[1] for text in texts]
    table = calibration_table(scores)
    click.echo(f"{len(texts)} requests from {logfile}")
    click.echo(f"  {'set share':>9}  {'realised with the shipped table':>31}  {'off by':>7}  fitted threshold")
    for preview in sorted({*CALIBRATION_PREVIEW, share}):
        shipped = model.premium_threshold(preview)
        realised = sum(score >= shipped for score in scores) / len(scores)
        click.echo(f"  {preview:>9.2f}  {realised:>31.3f}  {realised - preview:>+7.3f}  "
                   f"{threshold_for(table, preview):.4f} (shipped {shipped:.4f})")
    shipped = model.premium_threshold(share)
    realised = sum(score >= shipped for score in scores) / len(scores)
    click.echo(f"\nThe default table sends {realised:.1%} of this traffic up for premium_share {share:g}: off by "
               f"{100 * (realised - share):+.1f} points.")
    click.echo(f"For premium_share {share:g} on this traffic, put in the policy file:\n\n"
               f"router:\n  premium_threshold: {threshold_for(table, share):.4f}")
