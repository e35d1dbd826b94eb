"""Reading a log of past requests for the simulator: CSV or JSONL, one request per row or line.

Columns (docs/architecture.md, "API contract"): ``task_type`` and/or ``text`` (at least one), ``input_tokens`` (all
input, including any cacheable prefix), ``output_tokens``; optional ``model`` (what the request ran on
before; the policy's baseline model when absent), ``cached_prefix_tokens`` (the stable part of the
input: system prompt, brand rules, knowledge snippets), ``urgent`` (``false`` means the request can
wait for the batch API), and ``timestamp`` (ISO 8601; lets the simulator expire the prompt cache).
Any other column is ignored. Every problem names the file and line.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from app.errors import TiergateError

TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


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


def _bool(value: Any, where: str) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise LogError(f"{where}: urgent must be true or false, got {value!r}")


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
    prefix = _int(data.get("cached_prefix_tokens"), "cached_prefix_tokens", where, required=False)
    if prefix > input_tokens:
        raise LogError(f"{where}: cached_prefix_tokens ({prefix}) is part of the input and cannot exceed "
                       f"input_tokens ({input_tokens})")
    return LogRow(line=line, input_tokens=input_tokens,
                  output_tokens=_int(data.get("output_tokens"), "output_tokens", where, required=True),
                  task_type=task_type, text=text,
                  model=None if _blank(data.get("model")) else str(data["model"]).strip(),
                  cached_prefix_tokens=prefix, urgent=_bool(data.get("urgent"), where),
                  timestamp=_time(data.get("timestamp"), where))


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


def _jsonl_rows(path: Path, text: str) -> Iterator[LogRow]:
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
