"""Replay a recorded decision from the journal, as known at its consistency token.

DOMAIN.md ("Graph model"): any recorded decision can be replayed from the journal as known
at its consistency token and gives the same answer, bit for bit. `replay` rebuilds the
embedded graph from the journal up to the record's token, gathers the evidence again, judges
it with `decide` under the current policy, and compares every field the record holds of the
answer: outcome, every reason, released categories, the path (edge ids) and the policy
version. A difference means the journal, the decision function or the policy changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from graph.decide import decide
from graph.decision import CheckRequest
from graph.errors import InputError
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from graph.timeutil import parse_datetime

__all__ = ["COMPARED", "ReplayReport", "replay"]

COMPARED: Final = (
    "provider_id",
    "student_id",
    "at",
    "purpose",
    "categories_asked",
    "outcome",
    "allowed",
    "released_categories",
    "reasons",
    "path",
    "policy_version",
)
"""The fields of a record that a replay must reproduce exactly."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The outcome of a replay: identical, or each field that differs (recorded vs replayed)."""

    decision_id: str
    consistency_token: str
    identical: bool
    differences: tuple[str, ...] = ()
    replayed: dict[str, Any] = field(default_factory=dict)


def replay(journal: Path, record: dict[str, Any], policy: Policy) -> ReplayReport:
    """Re-derive a recorded decision (a record body from `SqliteAuditLog.get`).

    Parameters
    ----------
    journal : Path
        The SQLite file holding the journal (the embedded store).
    record : dict
        The record of decisions' JSON body; its ``consistency_token`` names the state.
    policy : Policy
        The policy to judge with; a record made under another version reports it as a difference.

    Raises
    ------
    InputError
        The record carries no consistency token (written before replay existed) or the token
        is not one of the embedded store's.
    """
    token = record.get("consistency_token")
    if not isinstance(token, str) or not token.isdigit():
        raise InputError(f"record {record.get('id')!r} carries no consistency token of the embedded store; it cannot be replayed")
    store = MemoryStore(journal, until=int(token))
    try:
        categories = record.get("categories_asked")
        req = CheckRequest(
            str(record["provider_id"]),
            str(record["student_id"]),
            parse_datetime(str(record["at"])),
            record.get("purpose"),
            frozenset(categories) if categories is not None else None,
        )
        evidence = store.gather_evidence(req.provider_id, req.student_id)
    finally:
        store.close()
    again = decide(evidence, req, policy).to_dict(path_ids_only=True)
    differences = tuple(
        f"{name}: recorded {record.get(name)!r}, replayed {again.get(name)!r}" for name in COMPARED if record.get(name) != again.get(name)
    )
    return ReplayReport(str(record.get("id")), token, not differences, differences, again)
