"""The store contract: every test runs against the embedded store and Neo4j.

A store fetches facts and never judges (STYLE.md, items 2 and 3), so two stores that hold
the same changes must give equal evidence, candidates, records and token behaviour. The
reference for evidence is a MemoryStore built from the same world in `tmp_path`.

Neo4j tests use the server of the ``neo4j_uri`` fixture (tests/conftest.py) and empty its
database first: they run serially.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import neo4j
import pytest

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.errors import ChangeRejected, InputError
from graph.evidence import Evidence
from graph.model import (
    About,
    Agreement,
    Attends,
    Community,
    Consent,
    ConsentKind,
    ConsentStatus,
    Course,
    District,
    Edge,
    EdgeKind,
    EmployedBy,
    FerpaRights,
    GivenBy,
    Guardian,
    GuardianOf,
    GuardianRelationship,
    LegalOrder,
    LivesIn,
    LocatedIn,
    MemberOf,
    Node,
    NodeKind,
    Offers,
    Partner,
    PartOf,
    Permits,
    Program,
    Provider,
    Restricts,
    School,
    Serves,
    ServesArea,
    ServiceStatus,
    Signed,
    Student,
    Team,
    Trained,
    WorksIn,
)
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.neo4j import Neo4jStore
from tests.world import T0, World, t

BACKENDS = ["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)]


@dataclass
class Backend:
    """Opens store instances on one backend (the same journal file, or the same database)."""

    name: str
    opener: Callable[[], GraphStore]
    opened: list[GraphStore] = field(default_factory=list)

    def open(self) -> GraphStore:
        store = self.opener()
        self.opened.append(store)
        return store


def clear_neo4j(uri: str) -> None:
    """Empty the test database (every node, relationship and the journal node)."""
    with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "networkx":
        b = Backend("networkx", lambda: MemoryStore(tmp_path / "graph.db"))
    else:
        uri: str = request.getfixturevalue("neo4j_uri")
        clear_neo4j(uri)
        b = Backend("neo4j", lambda: Neo4jStore(uri))
    yield b
    for s in b.opened:
        s.close()


@pytest.fixture
def store(backend: Backend) -> GraphStore:
    return backend.open()


def reference(world: World, tmp_path: Path) -> MemoryStore:
    """The embedded store holding `world`: the evidence every store must match."""
    (tmp_path / "ref").mkdir(exist_ok=True)
    return world.store(tmp_path / "ref")


# ---------------------------------------------------------------------------- worlds

WORLDS = [
    pytest.param(World.base(), id="base"),
    pytest.param(World.base().via_team("t1"), id="via-one-team"),
    pytest.param(World.base().via_team("t1", "t2", "t3"), id="nested-teams"),
    pytest.param(World.base().via_team("t1", "t2", "t3", cycle=True), id="cyclic-teams"),
    pytest.param(World.base().revoke_consent(t("2025-12-01T09:00:00Z")), id="revoked-consent"),
    pytest.param(World.base().consent(consent_kind=ConsentKind.DENY, status=ConsentStatus.DRAFT), id="deny-draft-consent"),
    pytest.param(World.base().without("cns-1"), id="no-consent"),
    pytest.param(  # a document's provision tree: a deny nested in the permit (Consent.exception_to)
        World.base()
        .node(Consent(id="cns-1#1", consent_kind=ConsentKind.DENY, signed_at=T0, exception_to="cns-1"))
        .edge(About(id="ab1-1", from_id="cns-1#1", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb1-1", from_id="cns-1#1", to_id="gia", valid_from=T0)),
        id="nested-provision",
    ),
    pytest.param(World.base().close("sv1", t("2025-10-01T00:00:00Z")), id="service-ended"),
    pytest.param(World.base().order("gia", T0, t("2026-02-01T00:00:00Z")), id="legal-order"),
    pytest.param(
        World.base()
        .close("at1", t("2025-11-01T00:00:00Z"))
        .node(School(id="roosevelt"))
        .node(Community(id="westside"))
        .edge(Attends(id="at2", from_id="sam", to_id="roosevelt", valid_from=t("2025-11-01T00:00:00Z")))
        .edge(LocatedIn(id="loc2", from_id="roosevelt", to_id="westside", valid_from=T0))
        .edge(LivesIn(id="li1", from_id="sam", to_id="westside", valid_from=T0)),
        id="transfer-and-lives-in",
    ),
    pytest.param(
        World.base()
        .node(Consent(id="cns-2", signed_at=T0, purposes=frozenset({"health"}), categories=frozenset({"health"})))
        .edge(About(id="ab2", from_id="cns-2", to_id="sam", valid_from=T0))
        .edge(About(id="ab2b", from_id="cns-2", to_id="sam", valid_from=T0 + timedelta(days=1)))
        .edge(GivenBy(id="gb2", from_id="cns-2", to_id="sam", valid_from=T0))
        .edge(Permits(id="pm2", from_id="cns-2", to_id="ana", valid_from=T0))
        .edge(Permits(id="pm3", from_id="cns-2", to_id="prg-tutor", valid_from=T0)),
        id="two-consents-two-abouts",
    ),
    pytest.param(
        World.base()
        .node(Partner(id="ptn-2"))
        .edge(EmployedBy(id="emp2", from_id="ana", to_id="ptn-2", valid_from=T0, valid_to=t("2025-09-01T00:00:00Z")))
        .edge(Signed(id="sg-p2", from_id="ptn-2", to_id="agr-share", valid_from=T0))
        .edge(Signed(id="sg-old", from_id="ana", to_id="agr-conf-v1", valid_from=T0, version=1))
        .edge(Trained(id="tr-old", from_id="ana", to_id="crs-ferpa_basics", valid_from=T0, valid_to=T0 + timedelta(days=30))),
        id="two-partners-old-agreements",
    ),
]

PAIRS = [("ana", "sam"), ("ana", "nobody"), ("nobody", "sam"), ("sam", "ana"), ("gia", "sam"), ("t1", "sam")]


@pytest.mark.parametrize("world", WORLDS)
def test_evidence_equals_reference(store: GraphStore, world: World, tmp_path: Path) -> None:
    store.apply(world.changes())
    ref = reference(world, tmp_path)
    for provider, student in PAIRS:
        got = store.gather_evidence(provider, student).canonical()
        assert got == ref.gather_evidence(provider, student).canonical(), (provider, student)


@pytest.mark.parametrize("world", WORLDS)
def test_evidence_many_equals_single(store: GraphStore, world: World, tmp_path: Path) -> None:
    store.apply(world.changes())
    ref = reference(world, tmp_path)
    by_student = store.gather_evidence_many("ana", None, ["sam", "nobody", "gia", "sam"])
    assert set(by_student) == {"sam", "nobody", "gia"}
    for sid, ev in by_student.items():
        assert ev.canonical() == ref.gather_evidence("ana", sid).canonical(), sid
    by_provider = store.gather_evidence_many(None, "sam", ["ana", "nobody", "t1"])
    assert set(by_provider) == {"ana", "nobody", "t1"}
    for pid, ev in by_provider.items():
        assert ev.canonical() == ref.gather_evidence(pid, "sam").canonical(), pid
    assert store.gather_evidence_many("ana", None, []) == {}


def test_evidence_many_needs_one_side(store: GraphStore) -> None:
    with pytest.raises(InputError):
        store.gather_evidence_many(None, None, ["sam"])


def test_expired_and_revoked_facts_are_still_evidence(store: GraphStore) -> None:
    """Stores never filter by time or status (STYLE.md, item 2)."""
    world = World.base().revoke_consent(T0 + timedelta(days=1)).close("sv1", T0 + timedelta(days=2)).service(status=ServiceStatus.ENDED)
    store.apply(world.changes())
    ev = store.gather_evidence("ana", "sam")
    assert [c.consent.id for c in ev.consents] == ["cns-1"]
    assert [s.id for s in ev.services] == ["sv1"]
    assert ev.services[0].valid_to == T0 + timedelta(days=2)


def test_unknown_ids_give_empty_evidence(store: GraphStore) -> None:
    store.apply(World.base().changes())
    assert store.gather_evidence("nobody", "nobody") == Evidence(provider=None, student=None)
    # An id of another kind is not a provider / student: that side is empty, as if unknown.
    ev = store.gather_evidence("sam", "ana")
    assert ev.provider is None and ev.student is None and ev.employments == () and ev.consents == ()


# ---------------------------------------------------------------------------- round trips

WHEN = datetime(2025, 9, 1, 8, 30, 15, 123456, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 0, 0, tzinfo=timezone(timedelta(hours=-7)))  # stored as UTC

EVERY_NODE: list[Node] = [
    Student(
        id="stu-full",
        birth_date=date(2008, 2, 29),
        postsecondary_enrolled=True,
        emancipated=True,
        unaccompanied_youth=True,
        time_zone="America/Denver",
        name="Sam Q",
    ),
    Student(id="stu-min"),
    Guardian(id="gdn-full", name="Gia"),
    Guardian(id="gdn-min"),
    Provider(id="prv", name="Ana"),
    Partner(id="ptn", name="Hope"),
    Program(id="prg", name="Tutoring"),
    Team(id="team", name="Care team"),
    School(id="sch", name="Lincoln"),
    District(id="dst", name="Granite"),
    Community(id="com", name="Eastside"),
    Consent(
        id="cns-full",
        status=ConsentStatus.ENTERED_IN_ERROR,
        consent_kind=ConsentKind.DENY,
        signed_at=WHEN,
        effective_from=WHEN + timedelta(days=1),
        expires_at=LATER,
        revoked_at=WHEN + timedelta(days=2),
        purposes=frozenset({"academic_support", "health"}),
        categories=frozenset({"attendance", "grades", "health"}),
        signature_method="wet_ink",
    ),
    Consent(id="cns-min"),
    Agreement(id="agr", agreement_kind="data_sharing", version=3, name="DSA"),
    Course(id="crs", name="FERPA"),
    LegalOrder(id="ord-full", description="restraining order"),
    LegalOrder(id="ord-min"),
]


EVERY_EDGE: list[Edge] = [
    GuardianOf(
        id="go-full",
        from_id="gdn-full",
        to_id="stu-full",
        valid_from=WHEN,
        valid_to=LATER,
        recorded_at=WHEN,
        source="roster.csv",
        relationship=GuardianRelationship.AUTHORIZED_AGENT,
        ferpa_rights=FerpaRights.UNVERIFIED,
        lives_with=False,
    ),
    GuardianOf(id="go-min", from_id="gdn-min", to_id="stu-min", valid_from=WHEN),
    Attends(id="at", from_id="stu-full", to_id="sch", valid_from=WHEN, valid_to=LATER),
    LocatedIn(id="loc", from_id="sch", to_id="com", valid_from=WHEN),
    PartOf(id="po", from_id="sch", to_id="dst", valid_from=WHEN),
    LivesIn(id="li", from_id="stu-full", to_id="com", valid_from=WHEN),
    EmployedBy(id="emp", from_id="prv", to_id="ptn", valid_from=WHEN),
    WorksIn(id="wi", from_id="prv", to_id="com", valid_from=WHEN),
    MemberOf(id="mo-p", from_id="prv", to_id="team", valid_from=WHEN),
    MemberOf(id="mo-t", from_id="team", to_id="team", valid_from=WHEN),
    Trained(id="tr", from_id="prv", to_id="crs", valid_from=WHEN, valid_to=LATER),
    Signed(id="sg-v", from_id="prv", to_id="agr", valid_from=WHEN, version=2),
    Signed(id="sg", from_id="ptn", to_id="agr", valid_from=WHEN),
    Offers(id="off", from_id="ptn", to_id="prg", valid_from=WHEN),
    ServesArea(id="sa", from_id="prg", to_id="com", valid_from=WHEN),
    Serves(
        id="sv-full",
        from_id="team",
        to_id="stu-full",
        valid_from=WHEN,
        valid_to=LATER,
        status=ServiceStatus.PAUSED,
        program="prg",
        categories_needed=frozenset({"attendance", "health"}),
        source="referrals",
    ),
    Serves(id="sv-min", from_id="prv", to_id="stu-min", valid_from=WHEN),
    GivenBy(id="gb", from_id="cns-full", to_id="gdn-full", valid_from=WHEN),
    GivenBy(id="gb-s", from_id="cns-min", to_id="stu-min", valid_from=WHEN),
    About(id="ab", from_id="cns-full", to_id="stu-full", valid_from=WHEN),
    About(id="ab-o", from_id="ord-full", to_id="stu-full", valid_from=WHEN),
    Permits(id="pm-ptn", from_id="cns-full", to_id="ptn", valid_from=WHEN),
    Permits(id="pm-prg", from_id="cns-full", to_id="prg", valid_from=WHEN),
    Permits(id="pm-prv", from_id="cns-full", to_id="prv", valid_from=WHEN),
    Restricts(id="rs", from_id="ord-full", to_id="gdn-full", valid_from=WHEN, valid_to=LATER),
]


def test_every_kind_is_covered() -> None:
    assert {n.kind for n in EVERY_NODE} == set(NodeKind)
    assert {e.kind for e in EVERY_EDGE} == set(EdgeKind)


def _load_every_kind(store: GraphStore) -> None:
    store.apply([PutNode(n) for n in EVERY_NODE] + [PutEdge(e) for e in EVERY_EDGE])


@pytest.mark.parametrize("node", EVERY_NODE, ids=lambda n: n.id)
def test_node_round_trip(store: GraphStore, node: Node) -> None:
    _load_every_kind(store)
    got = store.node(node.id)
    assert got == node
    assert type(got) is type(node)
    assert node in list(store.nodes(node.kind))


@pytest.mark.parametrize("edge", EVERY_EDGE, ids=lambda e: e.id)
def test_edge_round_trip(store: GraphStore, edge: Edge) -> None:
    _load_every_kind(store)
    got = store.edge(edge.id)
    assert got == edge
    assert type(got) is type(edge)
    assert got is not None and got.valid_from.tzinfo is not None and got.valid_from.utcoffset() == timedelta(0)
    assert edge in list(store.edges(edge.kind))


def test_counts(store: GraphStore) -> None:
    _load_every_kind(store)
    for kind in NodeKind:
        assert store.count(kind) == sum(n.kind is kind for n in EVERY_NODE), kind
    for ekind in EdgeKind:
        assert store.count(ekind) == sum(e.kind is ekind for e in EVERY_EDGE), ekind
    assert store.node("nobody") is None and store.edge("nobody") is None


def test_new_versions_replace_old(store: GraphStore) -> None:
    _load_every_kind(store)
    full_consent, full_serves = EVERY_NODE[11], EVERY_EDGE[15]
    assert isinstance(full_consent, Consent) and isinstance(full_serves, Serves)
    consent = replace(full_consent, revoked_at=None, purposes=frozenset())
    serves = replace(full_serves, status=ServiceStatus.ACTIVE, valid_to=None, categories_needed=frozenset())
    store.apply([PutNode(consent), PutEdge(serves)])
    assert store.node(consent.id) == consent
    assert store.edge(serves.id) == serves
    assert store.count(NodeKind.CONSENT) == 2 and store.count(EdgeKind.SERVES) == 2


def test_earlier_versions_lists_every_version_of_records_with_several(store: GraphStore) -> None:
    _load_every_kind(store)
    assert list(store.earlier_versions()) == []  # one version each
    full_consent, full_serves = EVERY_NODE[11], EVERY_EDGE[15]
    assert isinstance(full_consent, Consent) and isinstance(full_serves, Serves)
    later = T0 + timedelta(days=40)
    consent = replace(full_consent, revoked_at=later)  # a change of state: a new version (graph.versions)
    serves = replace(full_serves, categories_needed=frozenset({"grades"}))
    store.apply([PutNode(consent, effective_at=later), PutEdge(serves, effective_at=later)])
    order: Callable[[tuple[datetime | None, Node | Edge]], tuple[str, bool]] = lambda v: (v[1].id, v[0] is not None)  # noqa: E731
    expected = [(None, full_consent), (later, consent), (None, full_serves), (later, serves)]
    assert sorted(store.earlier_versions(), key=order) == sorted(expected, key=order)


# ---------------------------------------------------------------------------- writes


def test_apply_is_atomic(store: GraphStore) -> None:
    """A batch whose last change dangles writes nothing, not even its first changes."""
    base = World.base()
    token = store.apply(base.changes())
    cns = base.nodes["cns-1"]
    assert isinstance(cns, Consent)
    batch: list[Change] = [
        PutNode(Student(id="new-student")),
        PutNode(replace(cns, revoked_at=T0 + timedelta(days=3))),
        PutEdge(Serves(id="sv-new", from_id="ana", to_id="new-student", valid_from=T0)),
        CloseEdge("sv1", T0 + timedelta(days=5)),
        PutEdge(Attends(id="at-dangling", from_id="new-student", to_id="no-such-school", valid_from=T0)),
    ]
    with pytest.raises(ChangeRejected) as err:
        store.apply(batch)
    assert err.value.index == 4 and err.value.field == "to_id"
    assert store.node("new-student") is None
    assert store.edge("sv-new") is None
    assert store.node("cns-1") == base.nodes["cns-1"]
    sv1 = store.edge("sv1")
    assert sv1 is not None and sv1.valid_to is None
    assert store.count(NodeKind.STUDENT) == 1 and store.count(EdgeKind.SERVES) == 1
    assert store.token() == token


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(PutNode(Guardian(id="sam")), id="id-of-another-kind"),
        pytest.param(PutEdge(Attends(id="sv1", from_id="sam", to_id="lincoln", valid_from=T0)), id="edge-id-reused"),
        pytest.param(PutEdge(Serves(id="sv-x", from_id="gia", to_id="sam", valid_from=T0)), id="wrong-endpoint-kind"),
        pytest.param(PutEdge(Serves(id="sv-x", from_id="ana", to_id="sam", valid_from=T0, program="lincoln")), id="bad-program"),
        pytest.param(CloseEdge("nope", T0), id="close-unknown"),
        pytest.param(CloseEdge("sv1", T0 - timedelta(days=1)), id="close-before-start"),
    ],
)
def test_rejections(store: GraphStore, change: Change) -> None:
    store.apply(World.base().changes())
    with pytest.raises(ChangeRejected):
        store.apply([change])


def test_reapply_is_idempotent(store: GraphStore) -> None:
    world = World.base().via_team("t1", "t2", cycle=True).order("gia", T0, T0 + timedelta(days=9))
    first = store.apply(world.changes())
    counts = {k: store.count(k) for k in (*NodeKind, *EdgeKind)}
    assert store.apply(world.changes()) == first
    assert store.apply([]) == first
    assert {k: store.count(k) for k in (*NodeKind, *EdgeKind)} == counts


def test_close_edge(store: GraphStore) -> None:
    store.apply(World.base().changes())
    at = t("2025-12-24T17:00:00-05:00")
    store.apply([CloseEdge("sv1", at)])
    closed = store.edge("sv1")
    assert closed is not None and closed.valid_to == at and closed.valid_to.utcoffset() == timedelta(0)
    assert [e.valid_to for e in store.gather_evidence("ana", "sam").services] == [at]
    token = store.token()
    assert store.apply([CloseEdge("sv1", at)]) == token  # same close again: a no-op
    with pytest.raises(ChangeRejected):
        store.apply([CloseEdge("sv1", at + timedelta(hours=1))])  # already closed
    # A service paused and resumed: close, then a new interval under a new id.
    resumed = Serves(id="sv1-b", from_id="ana", to_id="sam", valid_from=at + timedelta(days=7), program="prg-tutor")
    store.apply([PutEdge(resumed)])
    assert sorted(e.id for e in store.gather_evidence("ana", "sam").services) == ["sv1", "sv1-b"]


def test_put_then_close_in_one_batch(store: GraphStore) -> None:
    store.apply(World.base().changes())
    edge = Attends(id="at-x", from_id="sam", to_id="lincoln", valid_from=T0 + timedelta(days=1))
    store.apply([PutEdge(edge), CloseEdge("at-x", T0 + timedelta(days=2))])
    assert store.edge("at-x") == replace(edge, valid_to=T0 + timedelta(days=2))


# ---------------------------------------------------------------------------- tokens


def test_token_from_one_instance_is_seen_by_another(backend: Backend) -> None:
    writer = backend.open()
    reader = backend.open()
    writer.apply(World.base().changes())
    token = writer.apply([PutNode(Student(id="stu-late"))])
    assert token == writer.token()
    reader.sync(token)
    assert reader.node("stu-late") == Student(id="stu-late")
    assert reader.gather_evidence("ana", "stu-late").student == Student(id="stu-late")
    reader.sync(reader.token())  # its own token: nothing to do
    reader.sync(None)


def test_latest_token_sees_another_instances_write(backend: Backend) -> None:
    """Caches key on latest_token: a write through another instance must move it (no stale hit)."""
    writer, reader = backend.open(), backend.open()
    writer.apply(World.base().changes())
    before = reader.latest_token()
    assert reader.latest_token() == before  # no write: the same key
    after = writer.apply([PutNode(Student(id="stu-late"))])
    moved = reader.latest_token()
    assert moved != before
    reader.sync(after)  # at least as fresh as the writer's own token
    assert reader.node("stu-late") == Student(id="stu-late")
    assert writer.latest_token() == writer.token() == after


def test_concurrent_writers_from_two_instances(backend: Backend) -> None:
    """Writers are serialised (journal lock): every batch lands, none is lost or doubled."""
    import threading

    stores = [backend.open(), backend.open()]
    stores[0].apply(World.base().changes())
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(8):
                stores[k].apply(
                    [
                        PutNode(Student(id=f"stu-{k}-{i}")),
                        PutEdge(Serves(id=f"sv-{k}-{i}", from_id="ana", to_id=f"stu-{k}-{i}", valid_from=T0)),
                    ]
                )
        except BaseException as err:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for s in stores:
        s.sync(stores[0].token())
        s.sync(stores[1].token())
        assert s.count(NodeKind.STUDENT) == 17 and s.count(EdgeKind.SERVES) == 17
        assert len(s.students_served_by("ana")) == 17


def test_a_write_moves_the_token(store: GraphStore) -> None:
    before = store.token()
    after = store.apply(World.base().changes())
    assert after != before
    assert store.apply([PutNode(Student(id="stu-2"))]) not in (before, after)


@pytest.mark.parametrize("bad", ["not-a-token", "-1", "n4j1.!!!", "n4j1.e30="])
def test_foreign_tokens_are_input_errors(store: GraphStore, bad: str) -> None:
    with pytest.raises(InputError):
        store.sync(bad)


# ---------------------------------------------------------------------------- odd ids

ODD_IDS = [
    "o'brien",
    'say "hi"',
    "back`tick`",
    "brace}",
    "{id: 'x'}",
    "MATCH (n) DETACH DELETE n",
    "x'}) MATCH (n) DETACH DELETE n //",
    "\\u0027; DROP",
    "ünïcødé ✓",
]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_are_stored_and_found_literally(store: GraphStore, odd: str) -> None:
    world = World.base()
    store.apply(world.changes())
    provider, student, edge_id = f"p {odd}", f"s {odd}", f"e {odd}"
    store.apply(
        [
            PutNode(Provider(id=provider, name=odd)),
            PutNode(Student(id=student, name=odd)),
            PutNode(Team(id=odd, name=odd)),
            PutEdge(MemberOf(id=f"m {odd}", from_id=provider, to_id=odd, valid_from=T0)),
            PutEdge(Serves(id=edge_id, from_id=odd, to_id=student, valid_from=T0, source=odd)),
        ]
    )
    assert store.node(provider) == Provider(id=provider, name=odd)
    assert store.node(odd) == Team(id=odd, name=odd)
    served = store.edge(edge_id)
    assert served is not None and served.source == odd and served.from_id == odd
    assert store.students_served_by(provider) == {student}
    assert store.providers_serving(student) == {provider}
    ev = store.gather_evidence(provider, student)
    assert [s.id for s in ev.services] == [edge_id]
    assert [m.id for m in ev.memberships] == [f"m {odd}"]
    assert set(store.gather_evidence_many(provider, None, [student, odd])) == {student, odd}
    store.apply([CloseEdge(edge_id, T0 + timedelta(days=1))])
    closed = store.edge(edge_id)
    assert closed is not None and closed.valid_to == T0 + timedelta(days=1)
    # Nothing else was touched.
    assert store.node("sam") == world.nodes["sam"] and store.count(NodeKind.PROVIDER) == 2


# ---------------------------------------------------------------------------- lookup candidates


def test_lookup_candidates(store: GraphStore) -> None:
    """Candidates follow teams to any depth, through cycles, at any time and status."""
    world = (
        World.base()
        .via_team("t1", "t2", "t3", cycle=True)
        .node(Provider(id="bo"))
        .node(Student(id="kim"))
        .node(Student(id="lee"))
        .edge(MemberOf(id="m-bo-t2", from_id="bo", to_id="t2", valid_from=T0, valid_to=T0 + timedelta(days=1)))
        .edge(Serves(id="sv-kim", from_id="t1", to_id="kim", valid_from=T0, status=ServiceStatus.ENDED))
        .edge(Serves(id="sv-lee", from_id="bo", to_id="lee", valid_from=T0, status=ServiceStatus.REFERRED))
    )
    store.apply(world.changes())
    assert store.students_served_by("ana") == {"sam", "kim"}  # t1 reached through the cycle
    assert store.students_served_by("bo") == {"sam", "kim", "lee"}  # t2 -> t3 -> t1
    assert store.providers_serving("sam") == {"ana", "bo"}
    assert store.providers_serving("kim") == {"ana", "bo"}
    assert store.providers_serving("lee") == {"bo"}
    assert store.students_served_by("t1") == set()  # a team is not a provider
    assert store.students_served_by("nobody") == set() and store.providers_serving("nobody") == set()


# ---------------------------------------------------------------------------- Neo4j only: bulk mode


@pytest.mark.neo4j
def test_neo4j_bulk_mode_commits_in_pieces_with_the_same_result(neo4j_uri: str, tmp_path: Path) -> None:
    """`max_tx_rows`: validated whole, written in several transactions, same state and token seq."""
    clear_neo4j(neo4j_uri)
    world = World.base().via_team("t1", "t2", cycle=True).close("sv1", T0 + timedelta(days=3))
    bulk = Neo4jStore(neo4j_uri, batch_size=4, max_tx_rows=8)
    try:
        with pytest.raises(ChangeRejected):
            bulk.apply([*world.changes(), PutEdge(Attends(id="x", from_id="sam", to_id="nowhere", valid_from=T0))])
        assert bulk.count(NodeKind.STUDENT) == 0  # rejected before any piece was written
        bulk.apply(world.changes())
        ref = reference(world, tmp_path)
        assert bulk.gather_evidence("ana", "sam").canonical() == ref.gather_evidence("ana", "sam").canonical()
        assert bulk.token().startswith("n4j1.") and bulk.apply(world.changes()) == bulk.token()
        assert {k: bulk.count(k) for k in (*NodeKind, *EdgeKind)} == {k: ref.count(k) for k in (*NodeKind, *EdgeKind)}
    finally:
        bulk.close()
