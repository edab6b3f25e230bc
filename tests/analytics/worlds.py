"""Small partnerships for the analytics tests, built on tests.world.World.

    eastside <-LOCATED_IN- lincoln <-ATTENDS- sam, e0..e29
    westside <-LOCATED_IN- roosevelt <-ATTENDS- w0..w11
    ana  -WORKS_IN-> eastside; serves sam (base) and e0..e14 (active, prg-tutor, attendance)
    ben  -WORKS_IN-> westside; serves w0..w4 (active, prg-tutor); training expired 2025-12-01
    consents (permit, ptn-hope, attendance): sam (base), e0..e19, w0..w11
    e0's consent expires NOON + 10 days; ana's training ends NOON + 5 days
    prg-tutor -SERVES_AREA-> eastside

At NOON (2026-01-15): eastside 31 students, 21 consented, 16 served, 16 full access;
westside 12 students, 12 consented, 5 served, 0 full access (training_expired).
"""

from __future__ import annotations

from datetime import timedelta

from graph.model import (
    About,
    Attends,
    Community,
    Consent,
    EmployedBy,
    GivenBy,
    Guardian,
    GuardianOf,
    LocatedIn,
    Permits,
    Provider,
    School,
    Serves,
    ServesArea,
    Signed,
    Student,
    Trained,
    WorksIn,
)
from tests.world import NOON, T0, World, t

__all__ = ["NOON", "two_communities"]


def _student(w: World, sid: str, school: str, *, consent: bool) -> World:
    w = w.node(Student(id=sid)).node(Guardian(id=f"g-{sid}"))
    w = w.edge(Attends(id=f"at-{sid}", from_id=sid, to_id=school, valid_from=T0))
    w = w.edge(GuardianOf(id=f"go-{sid}", from_id=f"g-{sid}", to_id=sid, valid_from=T0))
    if consent:
        w = w.node(Consent(id=f"c-{sid}", signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"})))
        w = w.edge(About(id=f"ab-{sid}", from_id=f"c-{sid}", to_id=sid, valid_from=T0))
        w = w.edge(GivenBy(id=f"gb-{sid}", from_id=f"c-{sid}", to_id=f"g-{sid}", valid_from=T0))
        w = w.edge(Permits(id=f"pm-{sid}", from_id=f"c-{sid}", to_id="ptn-hope", valid_from=T0))
    return w


def _serve(w: World, provider: str, sid: str) -> World:
    return w.edge(
        Serves(id=f"sv-{provider}-{sid}", from_id=provider, to_id=sid, valid_from=T0, program="prg-tutor",
               categories_needed=frozenset({"attendance"}))
    )


def two_communities() -> World:
    """The world sketched in the module docstring."""
    w = World.base()
    w = w.node(Community(id="westside", name="Westside")).node(School(id="roosevelt", name="Roosevelt High"))
    w = w.edge(LocatedIn(id="loc2", from_id="roosevelt", to_id="westside", valid_from=T0))
    w = w.edge(ServesArea(id="sa1", from_id="prg-tutor", to_id="eastside", valid_from=T0))
    w = w.change("tr1", valid_to=NOON + timedelta(days=5))
    w = w.node(Provider(id="ben", name="Ben"))
    w = w.edge(WorksIn(id="w-ben", from_id="ben", to_id="westside", valid_from=T0))
    w = w.edge(EmployedBy(id="emp-ben", from_id="ben", to_id="ptn-hope", valid_from=T0))
    w = w.edge(Trained(id="tr-ben", from_id="ben", to_id="crs-ferpa_basics", valid_from=T0, valid_to=t("2025-12-01T00:00:00+00:00")))
    w = w.edge(Signed(id="sg-ben", from_id="ben", to_id="agr-conf-v2", valid_from=T0))
    for i in range(30):
        w = _student(w, f"e{i}", "lincoln", consent=i < 20)
        if i < 15:
            w = _serve(w, "ana", f"e{i}")
    w = w.change("c-e0", expires_at=NOON + timedelta(days=10))
    for i in range(12):
        w = _student(w, f"w{i}", "roosevelt", consent=True)
        if i < 5:
            w = _serve(w, "ben", f"w{i}")
    return w
