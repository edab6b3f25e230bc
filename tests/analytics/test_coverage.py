"""Coverage counts on small worlds: exact counts before suppression, then what is published."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from graph.analytics.coverage import NONE_ID, GroupBy, consent_in_force, count_coverage, coverage
from graph.analytics.table import TOTAL_ID, CountTable
from graph.model import FerpaRights, LivesIn
from graph.policy import Policy
from tests.analytics.worlds import two_communities
from tests.world import NOON, T0, World


def tables(world: World, tmp_path: Path, by: str = "community", policy: Policy | None = None) -> dict[str, CountTable]:
    store = world.store(tmp_path)
    try:
        return {t.name: t for t in count_coverage(store, NOON, by, policy or Policy(), expiring_days=30)}
    finally:
        store.close()


def test_base_world_one_student_with_full_access(tmp_path: Path) -> None:
    t = tables(World.base(), tmp_path)["students"].as_dict()
    assert t["eastside"] == {
        "students": 1, "consented": 1, "served": 1, "full_access": 1, "served_blocked": 0, "consented_unserved": 0,
        "unconsented": 0, "unserved": 0, "consented_served": 1, "unconsented_served": 0, "unconsented_unserved": 0,
    }
    assert t[NONE_ID]["students"] == 0


@pytest.mark.parametrize("by", ["community", "school"])
def test_two_communities_students(tmp_path: Path, by: str) -> None:
    east, west = ("eastside", "westside") if by == "community" else ("lincoln", "roosevelt")
    t = tables(two_communities(), tmp_path, by)["students"]
    assert {c: t.value(east, c) for c in ("students", "consented", "served", "full_access", "served_blocked", "consented_unserved")} == {
        "students": 31, "consented": 21, "served": 16, "full_access": 16, "served_blocked": 0, "consented_unserved": 5,
    }
    assert {c: t.value(west, c) for c in ("students", "consented", "served", "full_access", "served_blocked", "consented_unserved")} == {
        "students": 12, "consented": 12, "served": 5, "full_access": 0, "served_blocked": 5, "consented_unserved": 7,
    }
    assert t.value(TOTAL_ID, "students") == 43 and t.value(TOTAL_ID, "full_access") == 16
    assert [r.id for r in t.rows][-1] == NONE_ID


def test_blocking_reasons(tmp_path: Path) -> None:
    t = tables(two_communities(), tmp_path)["blocking_reasons"]
    assert t.value("westside", "served_blocked") == 5
    assert t.value("westside", "training_expired") == 5
    assert t.value("westside", "consent_missing") == 0
    assert t.value("eastside", "served_blocked") == 0


def test_providers_and_caseload(tmp_path: Path) -> None:
    t = tables(two_communities(), tmp_path)["providers"]
    assert t.as_dict()["eastside"]["providers"] == 1 and t.as_dict()["eastside"]["trained"] == 1
    assert t.value("eastside", "caseload_1_19") == 1  # ana: sam + e0..e14 = 16
    assert t.value("westside", "trained") == 0 and t.value("westside", "caseload_1_19") == 1
    assert t.value(TOTAL_ID, "providers") == 2


def test_expiring(tmp_path: Path) -> None:
    t = tables(two_communities(), tmp_path)["expiring"]
    assert t.value("eastside", "consents_expiring") == 1  # e0
    assert t.value("eastside", "trainings_expiring") == 1  # ana, NOON + 5 days
    assert t.value("westside", "trainings_expiring") == 0  # ben's already expired
    assert t.value(TOTAL_ID, "agreements_expiring") == 0


def test_program_and_partner_groupings(tmp_path: Path) -> None:
    for by, gid in (("program", "prg-tutor"), ("partner", "ptn-hope")):
        t = tables(two_communities(), tmp_path / by, by)["students"]
        got = [t.value(gid, c) for c in ("students", "served", "full_access", "served_blocked")]
        assert got == [21, 21, 16, 5]
        assert t.value(NONE_ID, "students") == 22


def test_need_gaps(tmp_path: Path) -> None:
    t = tables(two_communities(), tmp_path)["need_gaps"].as_dict()
    assert t["eastside"]["programs"] == 1 and t["eastside"]["attendance"] == 1 and t["eastside"]["discipline"] == 0
    assert t["westside"]["programs"] == 0 and t["westside"]["attendance"] == 0


def test_lives_in_counts_in_both_communities_and_once_in_total(tmp_path: Path) -> None:
    w = two_communities().edge(LivesIn(id="lv-e20", from_id="e20", to_id="westside", valid_from=T0))
    t = tables(w, tmp_path)["students"]
    assert t.value("westside", "students") == 13 and t.value("eastside", "students") == 31
    assert t.value(TOTAL_ID, "students") == 43


def test_revoked_and_unverified_consents_do_not_count(tmp_path: Path) -> None:
    w = two_communities().change("c-e19", revoked_at=NOON - timedelta(days=1)).change("go-e18", ferpa_rights=FerpaRights.UNVERIFIED)
    assert tables(w, tmp_path)["students"].value("eastside", "consented") == 19


def test_later_time_moves_counts(tmp_path: Path) -> None:
    """After ana's training lapses, her students are served but blocked."""
    store = two_communities().store(tmp_path)
    try:
        t = {x.name: x for x in count_coverage(store, NOON + timedelta(days=6), "community", Policy())}
    finally:
        store.close()
    assert t["students"].value("eastside", "full_access") == 0
    assert t["students"].value("eastside", "served_blocked") == 16
    assert t["blocking_reasons"].value("eastside", "training_expired") == 16


def test_published_report_suppresses_small_cells_and_shows_zero(tmp_path: Path) -> None:
    store = two_communities().store(tmp_path)
    try:
        report = coverage(store, NOON, GroupBy.COMMUNITY, Policy())
    finally:
        store.close()
    s = report.table("students")
    assert s.cell("eastside", "students").value == 31
    assert s.cell("westside", "served").suppressed  # 5
    assert s.cell("westside", "served_blocked").suppressed  # 5
    assert s.cell("eastside", "served_blocked").value == 0  # zero is shown
    assert s.cell(NONE_ID, "students").value == 0
    assert [c.name for c in s.columns] == ["students", "consented", "served", "full_access", "served_blocked", "consented_unserved"]
    for row in s.all_rows():
        for cell in row.cells:
            assert cell.value is None or not 1 <= cell.value < 10
    assert ("westside", "attendance") in report.gaps()
    assert [r.id for r in s.rows] == ["eastside", "westside", NONE_ID]  # by name, never by value
    assert report.to_dict()["tables"][0]["rows"][1]["cells"]["served"] == {"value": None, "suppressed": True}


def test_consent_in_force_ignores_recipient(tmp_path: Path) -> None:
    w = World.base().change("pm1", to_id="prg-tutor")
    store = w.store(tmp_path)
    try:
        ev = store.gather_evidence("nobody", "sam")
    finally:
        store.close()
    assert consent_in_force(ev.consents[0], ev, NOON, Policy())
    assert not consent_in_force(ev.consents[0], ev, T0 - timedelta(days=1), Policy())


def test_service_through_a_team_cycle(tmp_path: Path) -> None:
    t = tables(World.base().via_team("team-a", "team-b", cycle=True), tmp_path)["students"]
    assert (t.value("eastside", "served"), t.value("eastside", "full_access")) == (1, 1)
    providers = tables(World.base().via_team("team-a"), tmp_path / "2", "community", Policy())["providers"]
    assert providers.value("eastside", "caseload_1_19") == 1


def test_served_and_full_access_agree_with_decide_on_synthetic_data(tmp_path: Path) -> None:
    """Cross-check against the lookup path: providers_serving + decide for every student."""
    from graph.decide import decide
    from graph.decision import CheckRequest
    from graph.reasons import Reason
    from graph.stores.memory import MemoryStore
    from loaders.bundle import read
    from loaders.importer import import_result
    from loaders.synthetic import DEFAULT_NOW, DEFAULT_START, generate

    generate(tmp_path / "b", students=1500, seed=7)
    store = MemoryStore(tmp_path / "s.db")
    try:
        import_result(store, read([tmp_path / "b"], default_valid_from=DEFAULT_START))
        from graph.analytics.coverage import gather_coverage_facts

        facts = gather_coverage_facts(store, DEFAULT_NOW, Policy())
        served, full = set(), set()
        for sid in facts.students:
            for pid in store.providers_serving(sid):
                d = decide(store.gather_evidence(pid, sid), CheckRequest(pid, sid, DEFAULT_NOW), Policy())
                if not {Reason.NO_SERVICE_RELATIONSHIP, Reason.SERVICE_NOT_ACTIVE} & set(d.codes):
                    served.add(sid)
                    if d.allowed:
                        full.add(sid)
    finally:
        store.close()
    assert served and full
    assert facts.served == served and facts.full_access == full
