"""The README's settings table tells the truth about app/config.py: every setting is listed, nothing
else is, and every number the table gives as a default is the default in the code."""
from __future__ import annotations

import re
from pathlib import Path

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
UNITS = {"MiB": 1024 * 1024, "KiB": 1024}


def _table() -> dict[str, str]:
    """variable -> default cell, from the rows of the table under "Settings come from the environment"."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Settings come from the environment"):]
    section = section[:section.index("\n## ")]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
            defaults = [part.strip() for part in cells[1].split(",")] if len(names) > 1 else [cells[1]]
            for index, name in enumerate(names):
                # "unset, 25" gives each variable of a shared row its own default
                rows[name] = defaults[index] if len(defaults) == len(names) else cells[1]
    return rows


def _number(cell: str) -> float | None:
    """The figure a default cell states: ``5 MiB``, ``86400 (24 h)``, ``50,000``, ``25``; None for words."""
    match = re.match(r"^\s*([\d,]+(?:\.\d+)?)\s*(MiB|KiB)?", cell.replace("`", ""))
    if not match:
        return None
    return float(match.group(1).replace(",", "")) * UNITS.get(match.group(2) or "", 1)


def test_every_setting_is_in_the_table_and_nothing_else():
    variables = {field.alias or name.upper() for name, field in Settings.model_fields.items()}
    table = _table()
    assert sorted(variables - set(table)) == [], "settings missing from the README table"
    assert sorted(set(table) - variables) == [], "README lists variables app/config.py does not read"


def test_numeric_defaults_match_the_code():
    table = _table()
    wrong = {}
    for name, field in Settings.model_fields.items():
        variable = field.alias or name.upper()
        stated = _number(table[variable])
        default = field.default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        if stated is None or stated != float(default):
            wrong[variable] = (table[variable], default)
    assert wrong == {}, "README default vs app/config.py"
