"""What the record stores is the lean record of the decision, exactly (`graph.record_codec.lean`).

The SQLite record encodes each decision in one pass (`graph.audit._encode_decision`) rather
than building the lean tuple and then numbering its strings; decoded, every stored record must
equal ``lean(decision, caller, requested, decided)`` field for field, for every kind of
decision (allow, partial, every deny, unknown ids, categories asked or not, any caller), and
the chain over them must verify.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.audit import Caller, SqliteAuditLog
from graph.changes import Change
from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.evidence import Evidence
from graph.model import NodeKind
from graph.policy import DEFAULT_POLICY
from graph.record_codec import lean, unpack
from graph.stores.memory import MemoryStore
from tests.strategies import CATS, instants, partnerships

CALLERS = [
    Caller(),
    Caller("provider", "p0"),
    Caller("app", "case-tool", "case-tool", ("org-b", "org-a")),
    Caller("guardian", "g0"),
]


def _stored(audit: SqliteAuditLog) -> list[tuple[int, tuple[object, ...]]]:
    rows = audit.conn.execute("SELECT n, body FROM decisions ORDER BY n").fetchall()
    return audit._decode(audit.conn, [(int(n), bytes(b)) for n, b in rows])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships(), st.data())
def test_every_stored_record_is_the_lean_record_of_its_decision(changes: list[Change], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "j.db"
        store = MemoryStore(db)
        store.apply(changes)
        audit = SqliteAuditLog(db)
        engine = Engine(store, audit=audit)
        providers = sorted(n.id for n in store.nodes(NodeKind.PROVIDER))
        students = [*sorted(n.id for n in store.nodes(NodeKind.STUDENT)), "no-such-student"]
        expected: list[tuple[Decision, Caller]] = []
        for at in instants()[::4]:
            reqs = [
                CheckRequest(
                    p,
                    s,
                    at,
                    data.draw(st.sampled_from([None, "academic_support"])),
                    data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(CATS), min_size=1))),
                )
                for p in providers
                for s in students
            ]
            caller = data.draw(st.sampled_from(CALLERS))
            # One batch per instant (checkMany), unknown student ids judged like any other.
            expected += [(dec, caller) for dec in engine.check_many(reqs, caller=caller, strict_ids=False)]
        stored = _stored(audit)
        assert len(stored) == len(expected)
        for (_, record), (dec, caller) in zip(stored, expected, strict=True):
            who = (caller.role, caller.subject, caller.application, tuple(caller.partner_ids))
            decided = record[5]
            assert isinstance(decided, int)
            want = lean(dec, who, dec.request.at, dec.request.at)  # [4], [5]: when asked and recorded (clock)
            assert record[:4] == want[:4] and record[6:] == want[6:], (record, want)
        decided_times = [int(r[5]) for _, r in stored]  # type: ignore[call-overload]
        assert decided_times == sorted(decided_times)  # decision time never decreases
        assert list(audit.verify()) == []


def test_a_store_token_that_is_not_a_number_is_kept_as_a_string(tmp_path: Path) -> None:
    """Another store's consistency token (a Neo4j bookmark) is a dictionary string; a number stays a number."""
    audit = SqliteAuditLog(tmp_path / "j.db")
    at = instants()[0]
    dec = decide(Evidence(provider=None, student=None), CheckRequest("p", "s", at), DEFAULT_POLICY)
    for token in ("FB:kcwQ", "007", "0", "42"):
        audit.record([replace(dec, consistency_token=token)], Caller(), at + timedelta(seconds=1))
    assert [record[-1] for _, record in _stored(audit)] == ["FB:kcwQ", "007", "0", "42"]
    stored = audit.conn.execute("SELECT body FROM decisions ORDER BY n").fetchall()
    assert [type(unpack(bytes(b))[-1]).__name__ for (b,) in stored] == ["tuple", "tuple", "int", "int"]
    assert list(audit.verify()) == []
