"""The premium_share knob: from a share of traffic to a threshold on "premium needed".

The training writes a table of (share, threshold) pairs computed on held-out typical requests; the
router reads the threshold for ``router.premium_share`` off it. ``tiergate router calibrate LOGFILE``
computes the same table on an operator's own requests, so the share holds for their traffic.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from app.routing.rules import input_text

SHARES = [round(step / 100, 2) for step in range(0, 101)]


def calibration_table(scores: list[float]) -> list[list[float]]:
    """For each share s in SHARES: the threshold that about s of ``scores`` reach or pass."""
    ordered = sorted(scores, reverse=True)
    table = []
    for share in SHARES:
        if share == 0 or not ordered:
            threshold = 1.0
        else:
            threshold = ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]
        table.append([share, round(threshold, 6)])
    return table


def threshold_for(table: list[tuple[float, float]] | list[list[float]], share: float) -> float:
    """The threshold for ``share``, interpolated between the table's rows (shares ascending)."""
    if share <= table[0][0]:
        return table[0][1]
    for (low_share, low_t), (high_share, high_t) in zip(table, table[1:]):
        if share <= high_share:
            fraction = (share - low_share) / (high_share - low_share) if high_share > low_share else 0.0
            return low_t + fraction * (high_t - low_t)
    return table[-1][1]


def log_texts(path: Path | str) -> list[str]:
    """Request texts from a log: JSON lines with ``text`` or ``messages`` (also under ``payload``), or plain lines."""
    texts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            texts.append(line)
            continue
        if isinstance(record, dict):
            record = record.get("payload") if isinstance(record.get("payload"), dict) else record
            text = input_text(record.get("text"), record.get("messages"))
        else:
            text = str(record)
        if text.strip():
            texts.append(text)
    return texts
