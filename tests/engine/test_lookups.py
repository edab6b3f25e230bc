"""The lookup invariant (DOMAIN.md, "Lookups and their invariant"), as a property.

For every provider P, student S and time t: S is in accessible_students(P, t) exactly
when check(P, S, t) allows, and P is in providers_with_access(S, t) exactly when the same
check allows. Pages (of size 1 and 2, to exercise cursors) never repeat or skip.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from graph.audit import SqliteAuditLog
from graph.changes import Change
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.errors import InvalidCursor, UnknownProvider, UnknownStudent
from graph.lookups import Access
from graph.model import NodeKind
from graph.stores.memory import MemoryStore
from tests.strategies import instants, partnerships
from tests.world import NOON, World


def all_pages(fetch, size: int) -> list[Access]:  # type: ignore[no-untyped-def]
    out: list[Access] = []
    after = None
    for _ in range(1000):
        page = fetch(first=size, after=after)
        out.extend(page.items)
        assert len(page.items) <= size
        if not page.has_next_page:
            return out
        after = page.end_cursor
    raise AssertionError("pagination did not end")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships())
def test_lookups_agree_with_check(changes: list[Change]) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = MemoryStore(Path(d) / "j.db")
        store.apply(changes)
        engine = Engine(store, audit=SqliteAuditLog(Path(d) / "j.db"))
        providers = sorted(n.id for n in store.nodes(NodeKind.PROVIDER))
        students = sorted(n.id for n in store.nodes(NodeKind.STUDENT))
        for at in instants()[::3]:
            allowed = {
                (p, s) for p in providers for s in students if engine.check(CheckRequest(p, s, at, "academic_support")).allowed
            }
            for size in (1, 2):
                for p in providers:
                    got = all_pages(lambda **kw: engine.accessible_students(p, at, purpose="academic_support", **kw), size)  # noqa: B023
                    ids = [a.student_id for a in got]
                    assert ids == sorted(set(ids)), "a page repeated or reordered an item"
                    assert set(ids) == {s for (q, s) in allowed if q == p}
                for s in students:
                    got = all_pages(lambda **kw: engine.providers_with_access(s, at, purpose="academic_support", **kw), size)  # noqa: B023
                    ids = [a.provider_id for a in got]
                    assert ids == sorted(set(ids))
                    assert set(ids) == {q for (q, t) in allowed if t == s}
        store.close()


def test_lookup_entries_carry_why_and_until(tmp_path: Path) -> None:
    from datetime import timedelta

    w = World.base().consent(expires_at=NOON + timedelta(days=30))
    store = w.store(tmp_path)
    engine = Engine(store, audit=SqliteAuditLog(tmp_path / "world.db"))
    (entry,) = engine.providers_with_access("sam", NOON).items
    assert entry.provider_id == "ana" and entry.released == {"attendance", "grades"}
    assert entry.until == NOON + timedelta(days=30)
    assert {e.id for s in entry.decision.path for e in s.edges} >= {"sv1", "pm1", "ab1"}


def test_lookup_errors(tmp_path: Path) -> None:
    engine = Engine(World.base().store(tmp_path))
    with pytest.raises(UnknownProvider):
        engine.accessible_students("nobody", NOON)
    with pytest.raises(UnknownStudent):
        engine.providers_with_access("ana", NOON)  # a provider id is not a student id
    with pytest.raises(InvalidCursor):
        engine.accessible_students("ana", NOON, after="bm90LWEtY3Vyc29y")
