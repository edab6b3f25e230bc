"""Journal rows (`graph.journal_json`): the generated encoders and orjson write the JSON value
`record_to_dict` + `json.dumps` wrote, rows in the older text read back the same, and every
change survives its row, trusted (replay) or validated."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings

from graph.changes import Change, CloseEdge, PutEdge, PutNode, change_from_json, change_to_json
from graph.model import Consent, ConsentKind, Guardian, record_to_dict
from tests.strategies import partnerships


def _old_row(change: Change) -> tuple[str, str, str, str]:
    """The row as written before `graph.journal_json` (the json module, ASCII escapes)."""
    if isinstance(change, (PutNode, PutEdge)):
        record = change.node if isinstance(change, PutNode) else change.edge
        data = record_to_dict(record)
        if change.effective_at is not None:
            data["@effective_at"] = change.effective_at.isoformat()
        if change.correction:
            data["@correction"] = True
        op = "put_node" if isinstance(change, PutNode) else "put_edge"
        return op, str(record.kind), record.id, json.dumps(data)
    assert isinstance(change, CloseEdge)
    return "close_edge", "", change.edge_id, json.dumps({"at": change.at.isoformat()})


def _agrees(change: Change) -> None:
    row = change_to_json(change)
    old = _old_row(change)
    assert row[:3] == old[:3]
    assert json.loads(row[3]) == json.loads(old[3]), (row, old)
    for r in (row, old):
        assert change_from_json(*r) == change
        assert change_from_json(*r, trusted=True) == change


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships())
def test_rows_hold_the_same_json_value_and_give_back_the_change(changes: list[Change]) -> None:
    for change in changes:
        _agrees(change)


def test_text_outside_ascii_microseconds_sets_and_version_metadata() -> None:
    at = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)
    consent = Consent(
        id="c-\u00e9\u4e2d",
        consent_kind=ConsentKind.DENY,
        signed_at=at,
        purposes=frozenset({"health_services", "academic_support"}),
        categories=frozenset({"grades", "attendance"}),
    )
    _agrees(PutNode(consent, effective_at=at, correction=True))
    _agrees(PutNode(Guardian(id="g-1", name="Jos\u00e9 N\u00fa\u00f1ez \U0001f600")))
    _agrees(CloseEdge("e-1", at))
    row = change_to_json(PutNode(consent))[3]
    assert '"categories":["attendance","grades"]' in row and '"signed_at":"2026-03-01T08:30:00.123456+00:00"' in row
