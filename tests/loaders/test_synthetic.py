"""The synthetic generator (loaders.synthetic): proportions, determinism, benchmark anchors."""

from __future__ import annotations

import filecmp
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from graph.model import (
    Attends,
    Consent,
    ConsentKind,
    ConsentStatus,
    EdgeKind,
    FerpaRights,
    GuardianOf,
    GuardianRelationship,
    NodeKind,
    Serves,
    ServiceStatus,
    Signed,
    Student,
)
from graph.timeutil import age_on
from loaders import bundle
from loaders.bundle import BundleResult, check_references
from loaders.synthetic import CONFIDENTIALITY_IDS, COURSE_ID, DATA_SHARING_ID, DEFAULT_NOW, DEFAULT_START, generate

N = 2000
SEED = 11


Generated = tuple[Path, dict[str, int | str], BundleResult]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    out = tmp_path_factory.mktemp("synthetic") / "bundle"
    stats = generate(out, students=N, seed=SEED)
    result = bundle.read([out], default_valid_from=DEFAULT_START)
    return out, stats, result


def _by_kind(r: BundleResult) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for n in r.nodes:
        out[str(n.kind)].append(n)
    for e in r.edges:
        out[str(e.kind)].append(e)
    return out


def test_reads_back_without_problems_and_every_reference_resolves(generated: Generated) -> None:
    _, stats, r = generated
    assert r.problems == []
    assert check_references(r, lambda _id: None) == []
    counts = r.counts()
    assert counts == {k: v for k, v in stats.items() if k in counts}
    assert set(counts) == {str(k) for k in NodeKind} | {str(k) for k in EdgeKind}
    assert all(e.source == "synthetic" for e in r.edges)


def test_world_sizes(generated: Generated) -> None:
    _, stats, r = generated
    assert stats["Student"] == N
    assert stats["Community"] == 25
    assert stats["Partner"] == 150
    assert stats["School"] == round(N / 600)
    assert stats["District"] == 1
    assert stats["LOCATED_IN"] == stats["PART_OF"] == stats["School"]
    assert isinstance(stats["Provider"], int) and isinstance(stats["Team"], int)
    assert stats["Provider"] >= 150 and stats["EMPLOYED_BY"] == stats["Provider"]
    assert stats["Team"] >= 3
    assert stats["Course"] == 1 and stats["Agreement"] == 3
    k = _by_kind(r)
    programs_per_partner = Counter(e.from_id for e in k["OFFERS"])
    assert len(programs_per_partner) == 150 and set(programs_per_partner.values()) <= {1, 2, 3, 4}
    areas = Counter(e.from_id for e in k["SERVES_AREA"])
    assert set(areas.values()) <= {1, 2, 3, 4, 5} and len(areas) == stats["Program"]  # 1-3 (+2 for partner 0's first)
    works = Counter(e.from_id for e in k["WORKS_IN"])
    assert len(works) == stats["Provider"] and set(works.values()) <= {1, 2}
    ids = [n.id for n in r.nodes]
    assert len(ids) == len(set(ids))
    assert {i.split("-")[0] for i in ids if "-" in i} >= {"stu", "gdn", "prv", "ptn", "prg", "team", "sch", "dst", "com", "cns"}
    assert COURSE_ID in ids and DATA_SHARING_ID in ids and set(CONFIDENTIALITY_IDS) <= set(ids)
    names = [getattr(n, "name", "") for n in r.nodes if n.kind in (NodeKind.PARTNER, NodeKind.PROGRAM, NodeKind.SCHOOL)]
    assert all(names)


def test_guardians(generated: Generated) -> None:
    _, _, r = generated
    links = [e for e in r.edges if isinstance(e, GuardianOf)]
    per_student = len(links) / N
    assert 1.55 <= per_student <= 1.85
    assert {e.to_id for e in links} == {n.id for n in r.nodes if isinstance(n, Student)}  # every student has one
    rel = Counter(e.relationship for e in links)
    assert rel[GuardianRelationship.PARENT] / len(links) > 0.7
    assert rel[GuardianRelationship.LEGAL_GUARDIAN] > 0
    assert sum(rel[x] for x in (GuardianRelationship.RELATIVE, GuardianRelationship.EMERGENCY_CONTACT,
                                GuardianRelationship.AUTHORIZED_AGENT)) > 0
    unverified = sum(e.ferpa_rights is FerpaRights.UNVERIFIED for e in links) / len(links)
    assert 0.025 <= unverified <= 0.08
    # Court orders restrict a guardian of the very student they are about.
    k = _by_kind(r)
    about = {e.from_id: e.to_id for e in k["ABOUT"]}
    guardians_of = defaultdict(set)
    for e in links:
        guardians_of[e.to_id].add(e.from_id)
    assert k["RESTRICTS"], "at least one legal order"
    for e in k["RESTRICTS"]:
        assert e.to_id in guardians_of[about[e.from_id]]


def test_students_ages_flags_and_transfers(generated: Generated) -> None:
    _, stats, r = generated
    students = [n for n in r.nodes if isinstance(n, Student)]
    ages = [age_on(s.birth_date, DEFAULT_NOW.date()) for s in students if s.birth_date is not None]
    assert len(ages) == N and min(ages) == 5 and max(ages) == 19
    assert 0.08 <= sum(a >= 18 for a in ages) / N <= 0.18
    assert 0.002 <= sum(s.postsecondary_enrolled for s in students) / N <= 0.025
    assert sum(s.emancipated for s in students) / N <= 0.01
    attends: dict[str, list[Attends]] = defaultdict(list)
    for e in r.edges:
        if isinstance(e, Attends):
            attends[e.from_id].append(e)
    assert len(attends) == N
    moved = {s: sorted(es, key=lambda e: e.valid_from) for s, es in attends.items() if len(es) > 1}
    assert len(moved) == stats["transfers"]
    assert 0.015 <= len(moved) / N <= 0.045
    for old, new in moved.values():
        assert old.valid_to == new.valid_from and new.valid_to is None and old.to_id != new.to_id
        assert DEFAULT_START < old.valid_to < DEFAULT_NOW  # type: ignore[operator]


def test_services_consents_and_their_match(generated: Generated) -> None:
    _, stats, r = generated
    k = _by_kind(r)
    serves = [e for e in r.edges if isinstance(e, Serves)]
    served = {e.to_id for e in serves}
    assert len(served) == stats["served_students"]
    assert 0.09 <= len(served) / N <= 0.15
    status = Counter(e.status for e in serves)
    assert status[ServiceStatus.ACTIVE] / len(serves) > 0.6 and all(status[s] > 0 for s in ServiceStatus)
    assert all(1 <= len(e.categories_needed) <= 4 for e in serves)
    assert any(e.from_id.startswith("team-") for e in serves)
    # A provider serves in one of its own partner's programs.
    employer = {e.from_id: e.to_id for e in k["EMPLOYED_BY"]}
    offered_by = {e.to_id: e.from_id for e in k["OFFERS"]}
    assert all(offered_by[e.program] == employer[e.from_id] for e in serves if e.from_id.startswith("prv-"))  # type: ignore[index]

    consents = [n for n in r.nodes if isinstance(n, Consent)]
    assert 0.25 <= len(consents) / N <= 0.35
    assert all(len(c.categories) >= 2 and c.purposes for c in consents)
    # 2-5 categories, more only when the services consented to need more
    assert sum(len(c.categories) <= 5 for c in consents) / len(consents) > 0.97
    revoked = sum(c.revoked_at is not None for c in consents) / len(consents)
    assert 0.01 <= revoked <= 0.06
    assert any(c.consent_kind is ConsentKind.DENY for c in consents)
    assert {ConsentStatus.DRAFT, ConsentStatus.INACTIVE} & {c.status for c in consents}
    assert any(c.expires_at is not None and c.expires_at < DEFAULT_NOW for c in consents)
    # Most served students have a consent naming the partner or program that serves them.
    about = {e.from_id: e.to_id for e in k["ABOUT"]}
    permits = defaultdict(set)
    for e in k["PERMITS"]:
        permits[about[e.from_id]].add(e.to_id)
    matched = sum(
        any(e.program in permits[e.to_id] or offered_by[e.program] in permits[e.to_id] for e in serves if e.to_id == s)  # type: ignore[index]
        for s in served
    )
    assert matched / len(served) >= 0.75
    # Signers: the student once 18 at signing, else one of the student's guardians.
    given_by = {e.from_id: e.to_id for e in k["GIVEN_BY"]}
    guardians_of = defaultdict(set)
    for e in k["GUARDIAN_OF"]:
        guardians_of[e.to_id].add(e.from_id)
    birth = {n.id: n.birth_date for n in r.nodes if isinstance(n, Student)}
    for c in consents:
        student, signer = about[c.id], given_by[c.id]
        assert c.signed_at is not None
        adult = age_on(birth[student], c.signed_at.date()) >= 18  # type: ignore[arg-type]
        assert signer == student if adult else signer in guardians_of[student]


def test_providers_training_and_agreements(generated: Generated) -> None:
    _, stats, r = generated
    k = _by_kind(r)
    providers = stats["Provider"]
    assert isinstance(providers, int)
    trained = {e.from_id: e for e in k["TRAINED"]}
    assert all(e.to_id == COURSE_ID for e in trained.values())
    assert 0.0 < 1 - len(trained) / providers <= 0.04  # ~1% never trained
    expired = sum(e.valid_to is not None and e.valid_to <= DEFAULT_NOW for e in trained.values())
    assert 0 < expired / providers <= 0.06
    signed = [e for e in r.edges if isinstance(e, Signed)]
    conf = [e for e in signed if e.to_id in CONFIDENTIALITY_IDS]
    assert any(e.version == 1 for e in conf) and sum(e.version == 2 for e in conf) / len(conf) > 0.85
    assert any(e.valid_to is not None and e.valid_to <= DEFAULT_NOW for e in conf)
    sharing = [e for e in signed if e.to_id == DATA_SHARING_ID]
    assert all(e.from_id.startswith("ptn-") for e in sharing) and 130 <= len(sharing) < 150


def test_team_nesting_has_a_cycle(generated: Generated) -> None:
    _, _, r = generated
    g = nx.DiGraph((e.from_id, e.to_id) for e in _by_kind(r)["MEMBER_OF"] if e.from_id.startswith("team-"))
    cycles = list(nx.simple_cycles(g))
    assert cycles and all(all(t.startswith("team-") for t in c) for c in cycles)


def _reach(r: BundleResult) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Students per provider and providers per student, directly or through (nested) teams."""
    k = _by_kind(r)
    members = nx.DiGraph((e.from_id, e.to_id) for e in k["MEMBER_OF"])
    students_of: dict[str, set[str]] = defaultdict(set)
    for e in k["SERVES"]:
        who = [e.from_id] if e.from_id.startswith("prv-") else [
            p for p in nx.ancestors(members, e.from_id) if p.startswith("prv-")
        ]
        for p in who:
            students_of[p].add(e.to_id)
    providers_of: dict[str, set[str]] = defaultdict(set)
    for p, ss in students_of.items():
        for s in ss:
            providers_of[s].add(p)
    return students_of, providers_of


def test_big_provider_and_big_student(generated: Generated) -> None:
    _, stats, r = generated
    students_of, providers_of = _reach(r)
    big_p, big_s = stats["big_provider"], stats["big_student"]
    assert isinstance(big_p, str) and isinstance(big_s, str)
    assert len(students_of[big_p]) == max(len(v) for v in students_of.values())
    assert len(students_of[big_p]) >= 100  # ~200 from 170,000 students up; 2,000 students have fewer to give
    assert 10 <= len(providers_of[big_s]) <= 12
    # The benchmark's anchors are allowed somewhere: current training, current agreement, active service.
    k = _by_kind(r)
    assert any(e.from_id == big_p and e.to_id == CONFIDENTIALITY_IDS[1] for e in k["SIGNED"])
    assert all(e.status is ServiceStatus.ACTIVE for e in k["SERVES"] if e.to_id == big_s)


def test_deterministic_for_a_seed_and_validated_build_is_identical(
    generated: Generated, tmp_path: Path
) -> None:
    out, stats, _ = generated
    again = generate(tmp_path / "again", students=N, seed=SEED, validate=True)
    assert again == stats
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(p.name for p in (tmp_path / "again").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(out, tmp_path / "again", files, shallow=False)
    assert (mismatch, errors) == ([], [])
    two = generate(tmp_path / "two", students=N, seed=SEED, workers=2)
    assert two == stats
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == files
    assert filecmp.cmpfiles(out, tmp_path / "two", files, shallow=False)[1:] == ([], [])
    other = generate(tmp_path / "other", students=N, seed=SEED + 1)
    assert other != stats or not filecmp.cmp(out / "Student.jsonl", tmp_path / "other" / "Student.jsonl", shallow=False)


def test_csv_bundle_and_small_sizes(tmp_path: Path) -> None:
    stats = generate(tmp_path / "csv", students=50, seed=3, fmt="csv")
    assert (tmp_path / "csv" / "Student.csv").exists()
    r = bundle.read([tmp_path / "csv"], default_valid_from=DEFAULT_START)
    assert r.problems == [] and check_references(r, lambda _id: None) == []
    assert r.counts()["Student"] == 50 and stats["big_student"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path / "a", students=0, seed=1)
    with pytest.raises(ValueError, match="after start"):
        generate(tmp_path / "b", students=10, seed=1, now=DEFAULT_START)
    from graph.errors import NaiveDatetimeError

    with pytest.raises(NaiveDatetimeError):
        generate(tmp_path / "c", students=10, seed=1, start=datetime(2025, 8, 15))
    assert datetime(2025, 8, 15, 6, tzinfo=UTC) == DEFAULT_START
