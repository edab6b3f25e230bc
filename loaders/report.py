"""`needtoknow load --report FILE`: every problem and warning of a load as CSV.

The CLI prints at most a screenful; a data steward fixing a real export needs all of them,
in a form a spreadsheet opens. One row per item: ``kind`` (problem: the load was refused
because of it; warning: loaded anyway), ``file``, ``line`` (1-based; empty when the item is
about a whole file), ``field``, ``value`` (as found, when known), ``message``, ``path``
(XML element path or JSON pointer, for formats without lines).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from graph.errors import Problem

__all__ = ["COLUMNS", "write_report"]

COLUMNS: Final = ("kind", "file", "line", "field", "value", "message", "path")


def write_report(path: Path, problems: Iterable[Problem], warnings: Iterable[Problem]) -> int:
    """Write `problems` then `warnings` to `path` (UTF-8 CSV, header row); return the rows written.

    Raises
    ------
    OSError
        The file cannot be written.
    """
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for kind, items in (("problem", problems), ("warning", warnings)):
            for p in items:
                out.writerow((kind, p.file, "" if p.line is None else p.line, p.field or "", p.value or "", p.message, p.path or ""))
                n += 1
    return n
