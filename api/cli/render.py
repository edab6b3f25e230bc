"""Rendering of decisions and lookups for people (rich) and programs (--json)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graph.decision import Decision, Outcome, ReasonDetail
from graph.explanation import explain_decision
from graph.lookups import Access, Page
from graph.timeutil import to_iso

__all__ = ["console", "decision", "error", "explanation", "page", "print_json"]

# soft_wrap: messages and ids are never broken across lines (output is often piped or grepped).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def error(message: str, *, as_json: bool = False, code: str = "bad_input") -> None:
    """An error line on stderr; the message is printed literally (ids and lists may hold brackets).

    With `as_json`, ``{"error": {"code": ..., "message": ...}}`` on stdout instead (programs read stdout).
    """
    if as_json:
        print_json({"error": {"code": code, "message": message}})
        return
    err_console.print("[red]error:[/] " + escape(message))


def print_json(data: Any) -> None:
    """Write JSON to stdout (no colour, no wrapping)."""
    print(json.dumps(data, indent=2, sort_keys=False))


def decision(d: Decision, *, as_json: bool) -> None:
    """One line per decision, with every reason."""
    if as_json:
        print_json(d.to_dict())
        return
    colour = {Outcome.ALLOW: "green", Outcome.PARTIAL: "yellow", Outcome.DENY: "red"}[d.outcome]
    released = ", ".join(sorted(d.released)) or "nothing"
    purpose = f" for {d.request.purpose}" if d.request.purpose else ""
    asked = f" (asked: {', '.join(sorted(d.request.categories))})" if d.request.categories is not None else ""
    console.print(
        f"[bold {colour}]{d.outcome.upper()}[/] "
        + escape(f"{d.request.provider_id} -> {d.request.student_id}{purpose} at {to_iso(d.request.at)}{asked}; released: {released}")
    )
    for r in d.reasons:
        extra = f" ({r.category})" if r.category else (f" [{r.ref}]" if r.ref else "")
        console.print(escape(f"  - {r.code}{extra}: {r.message}"))


def explanation(d: Decision, *, as_json: bool) -> None:
    """The decision for a person: outcome, then each condition, met (with the relationships that
    satisfied it) or not (with what it requires and every reason it was missing)."""
    explained = explain_decision(d)
    if as_json:
        print_json(explained.to_dict())
        return
    decision(d, as_json=False)
    console.print("Conditions:")
    for c in explained.conditions:
        state = "[green]met[/]" if c.met else "[red]not met[/]"
        console.print(f"  {c.condition}: {state}")
        for e in c.edges:
            until = to_iso(e.valid_to) or "open"
            console.print(escape(f"    satisfied by {e.kind} {e.id}: {e.from_id} -> {e.to_id}, valid {to_iso(e.valid_from)} until {until}"))
        if not c.met:
            console.print(escape(f"    requires {c.requires}"))
        for r in c.reasons:
            console.print(escape(f"    missing: {_reason_line(r)}"))
    for r in explained.other_reasons:
        console.print(escape(f"  {_reason_line(r)}"))


def _reason_line(r: ReasonDetail) -> str:
    about = [f"category {r.category}"] if r.category else []
    about += [f"record {r.ref}"] if r.ref else []
    return f"{r.code}" + (f" ({', '.join(about)})" if about else "") + f": {r.message}"


def page(p: Page[Access], *, other: str, as_json: bool) -> None:
    """A lookup page: one row per access, then the cursor."""
    rows: list[dict[str, Any]] = [
        {
            "provider_id": a.provider_id,
            "student_id": a.student_id,
            "released_categories": sorted(a.released),
            "outcome": str(a.decision.outcome),
            "until": to_iso(a.until),
            "via": [e.id for s in a.decision.path for e in s.edges if e.kind in ("SERVES", "PERMITS")],
        }
        for a in p.items
    ]
    if as_json:
        print_json({"items": rows, "end_cursor": p.end_cursor, "has_next_page": p.has_next_page})
        return
    table = Table()
    for col in (other, "released", "until", "via"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r[other], ", ".join(r["released_categories"]), r["until"] or "open", ", ".join(r["via"]))
    console.print(table)
    console.print(f"{len(rows)} shown; next page: {'--after ' + p.end_cursor if p.has_next_page and p.end_cursor else 'none'}")
