"""Reading a log of past requests for the simulator: CSV or JSONL, one request per row or line.

Columns (docs/architecture.md, "API contract"): ``task_type`` and/or ``text`` (at least one), ``input_tokens`` (all
input, including any cacheable prefix), ``output_tokens``; optional ``model`` (what the request ran on
before; the policy's baseline model when absent), ``cached_prefix_tokens`` (the stable part of the
input: system prompt, brand rules, knowledge snippets), ``urgent`` (``false`` means the request can
wait for the batch API), and ``timestamp`` (ISO 8601; lets the simulator expire the prompt cache).

A per-request ledger export (``tiergate export``, ``GET /v1/reports/requests``) is such a log with
what the ledger recorded besides: ``tier`` (the tier that answered; the row is then replayed on it
instead of being routed), ``batch``, the cache reads and writes by TTL (``cache_read_tokens``,
``cache_write_5m_tokens``, ``cache_write_1h_tokens``, parts of ``input_tokens``, priced as recorded
instead of guessed from ``cached_prefix_tokens``), the baseline as recorded (``baseline_model``,
``baseline_input_price``, ``baseline_output_price`` in USD per million tokens), ``overhead_usd``
(router calls, retries, escalations, self-checks, re-runs), ``dry_run`` and ``kind`` (``route`` and
``rerun`` rows are overhead only, not requests). Any other column is ignored. Every problem names
the file and line.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator

from app.errors import TiergateError

TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
OVERHEAD_KINDS = ("route", "rerun")
CACHE_PARTS = ("cached_prefix_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")


class LogError(TiergateError):
    """A log row the simulator cannot use; the message names the file and line."""


@dataclass(frozen=True)
class LogRow:
    line: int
    input_tokens: int
    output_tokens: int
    task_type: str | None = None
    text: str | None = None
    model: str | None = None
    cached_prefix_tokens: int = 0
    urgent: bool | None = None
    timestamp: datetime | None = None
    # What a ledger export recorded (see the module docstring).
    kind: str | None = None
    tier: str | None = None
    batch: bool | None = None
    dry_run: bool = False
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    baseline_model: str | None = None
    baseline_input_price: Decimal | None = None
    baseline_output_price: Decimal | None = None
    overhead_usd: Decimal = Decimal(0)

    @property
    def recorded_cache(self) -> bool:
        return bool(self.cache_read_tokens or self.cache_write_5m_tokens or self.cache_write_1h_tokens)

    @property
    def is_task(self) -> bool:
        """Router calls and re-runs with no task in the export are overhead, never a request."""
        return self.kind not in OVERHEAD_KINDS


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _int(value: Any, name: str, where: str, *, required: bool) -> int:
    if _blank(value):
        if required:
            raise LogError(f"{where}: {name} is required")
        return 0
    try:
        number = int(str(value).strip().replace("_", "").replace(",", "")) if not isinstance(value, int) else value
    except ValueError:
        raise LogError(f"{where}: {name} must be a whole number of tokens, got {value!r}") from None
    if isinstance(value, bool) or number < 0:
        raise LogError(f"{where}: {name} must be a whole number >= 0, got {value!r}")
    return number


def _decimal(value: Any, name: str, where: str) -> Decimal | None:
    if _blank(value):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise LogError(f"{where}: {name} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise LogError(f"{where}: {name} must be a number >= 0, got {value!r}")
    return number


def _text(value: Any) -> str | None:
    return None if _blank(value) else str(value).strip()


def _bool(value: Any, where: str, name: str = "urgent") -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise LogError(f"{where}: {name} must be true or false, got {value!r}")


def _time(value: Any, where: str) -> datetime | None:
    if _blank(value):
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise LogError(f"{where}: timestamp must be ISO 8601, got {value!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def parse_row(data: dict[str, Any], line: int, where: str) -> LogRow:
    """One row as the simulator needs it, or LogError."""
    task_type = None if _blank(data.get("task_type")) else str(data["task_type"]).strip()
    text = None if _blank(data.get("text")) else str(data["text"])
    if task_type is None and text is None:
        raise LogError(f"{where}: give task_type or text (or both)")
    input_tokens = _int(data.get("input_tokens"), "input_tokens", where, required=True)
    parts = {name: _int(data.get(name), name, where, required=False) for name in CACHE_PARTS}
    if sum(parts.values()) > input_tokens:
        named = " + ".join(name for name, count in parts.items() if count)
        raise LogError(f"{where}: {named} ({sum(parts.values())}) is part of the input and cannot exceed "
                       f"input_tokens ({input_tokens})")
    return LogRow(line=line, input_tokens=input_tokens,
                  output_tokens=_int(data.get("output_tokens"), "output_tokens", where, required=True),
                  task_type=task_type, text=text, model=_text(data.get("model")),
                  cached_prefix_tokens=parts["cached_prefix_tokens"], urgent=_bool(data.get("urgent"), where),
                  timestamp=_time(data.get("timestamp") or data.get("created_at"), where),
                  kind=_text(data.get("kind")), tier=_text(data.get("tier")),
                  batch=_bool(data.get("batch"), where, "batch"),
                  dry_run=bool(_bool(data.get("dry_run"), where, "dry_run")),
                  cache_read_tokens=parts["cache_read_tokens"], cache_write_5m_tokens=parts["cache_write_5m_tokens"],
                  cache_write_1h_tokens=parts["cache_write_1h_tokens"], baseline_model=_text(data.get("baseline_model")),
                  baseline_input_price=_decimal(data.get("baseline_input_price"), "baseline_input_price", where),
                  baseline_output_price=_decimal(data.get("baseline_output_price"), "baseline_output_price", where),
                  overhead_usd=_decimal(data.get("overhead_usd"), "overhead_usd", where) or Decimal(0))


def _is_jsonl(path: Path, head: str) -> bool:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    return path.suffix.lower() != ".csv" and head.lstrip().startswith("{")


def read_log(path: str | Path) -> list[LogRow]:
    """All rows of a CSV or JSONL log (chosen by extension, else by the first character)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LogError(f"{path}: cannot read the log ({exc.strerror or exc})") from None
    rows = list(_jsonl_rows(path, text) if _is_jsonl(path, text[:200]) else _csv_rows(path, text))
    if not rows:
        raise LogError(f"{path}: the log has no requests")
    return rows


def _csv_rows(path: Path, text: str) -> Iterator[LogRow]:
    reader = csv.DictReader(text.splitlines())
    missing = {"input_tokens", "output_tokens"} - set(reader.fieldnames or [])
    if missing:
        raise LogError(f"{path}:1: the header lacks {', '.join(sorted(missing))}")
    for row in reader:
        if not any(not _blank(value) for value in row.values()):
            continue
        yield parse_row(row, reader.line_num, f"{path}:{reader.line_num}")


def _export_rows(path: Path, text: str) -> Iterator[LogRow] | None:
    """The rows of a JSON ledger export (``{"requests": [...]}``), or None when the file is not one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        return None
    return (parse_row(entry if isinstance(entry, dict) else {}, number, f"{path}: requests[{number - 1}]")
            for number, entry in enumerate(document["requests"], start=1))


def _jsonl_rows(path: Path, text: str) -> Iterator[LogRow]:
    exported = _export_rows(path, text)
    if exported is not None:
        yield from exported
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LogError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(data, dict):
            raise LogError(f"{path}:{number}: each line must be a JSON object")
        yield parse_row(data, number, f"{path}:{number}")
