"""Mapping files (`needtoknow load --map FILE`): a partner's codes and ids onto ours.

A mapping file is CSV with the header ``kind,source,target``, one mapping per row:

| kind | source | target |
| --- | --- | --- |
| ``purpose`` | ``<code system>|<code>`` (or a bare code) | our purpose code (``academic_support``) |
| ``category`` | ``<code system>|<code>`` (or a bare code) | our data category (``attendance``) |
| ``id`` | a source reference (``Patient/stu-1001``, ``RelatedPerson/gdn-1``,
  ``Organization/org-1``, ``Patient?identifier=<system>|<value>``) | an existing node id |

Read by the FHIR Consent loader (the loader that reads code systems and foreign
references; docs/loaders/fhir_consent.md). Several files may be given; a later row for the
same source replaces an earlier one only if it agrees, otherwise it is a Problem.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from graph.errors import Problem

__all__ = ["KINDS", "Mappings", "read_mappings"]

KINDS: Final = ("purpose", "category", "id")
_CODE: Final = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(slots=True)
class Mappings:
    """What mapping files say, by kind, plus the Problems found reading them."""

    purpose: dict[str, str] = field(default_factory=dict)
    category: dict[str, str] = field(default_factory=dict)
    id: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_mappings(paths: Sequence[Path], categories: frozenset[str] | None = None) -> Mappings:
    """Read mapping files; every bad row is a Problem naming file, line and field (never raises).

    `categories`, when given, is the known data category list: a ``category`` target
    outside it is a Problem.
    """
    out = Mappings()
    for path in paths:
        name = path.name
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            out.problems.append(Problem(name, None, None, f"cannot read mapping file: {err}"))
            continue
        rows = csv.reader(text.splitlines())
        header = [h.strip() for h in next(rows, [])]
        if header != ["kind", "source", "target"]:
            out.problems.append(Problem(name, 1, None, f"header must be kind,source,target (found {','.join(header) or 'nothing'})"))
            continue
        for line, cells in enumerate(rows, start=2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != 3:
                out.problems.append(Problem(name, line, None, f"expected 3 cells (kind,source,target), found {len(cells)}"))
                continue
            kind, source, target = (c.strip() for c in cells)
            if kind not in KINDS:
                out.problems.append(Problem(name, line, "kind", f"unknown kind {kind!r} (one of: {', '.join(KINDS)})", value=kind))
                continue
            if not source or not target:
                out.problems.append(Problem(name, line, "source" if not source else "target", "empty"))
                continue
            if kind != "id" and not _CODE.match(target):
                out.problems.append(Problem(name, line, "target", f"{target!r} is not a code of ours ([a-z][a-z0-9_]*)", value=target))
                continue
            if kind == "category" and categories is not None and target not in categories:
                out.problems.append(Problem(name, line, "target", f"{target!r} is not a data category of ours", value=target))
                continue
            table: dict[str, str] = getattr(out, kind)
            before = table.get(source)
            if before is not None and before != target:
                out.problems.append(
                    Problem(name, line, "target", f"{kind} {source} is mapped twice: to {before!r} and to {target!r}", value=target)
                )
                continue
            table[source] = target
    return out
