"""A small synthetic partnership for engine tests: a store loaded from `loaders.synthetic`, and pairs to ask about."""

from __future__ import annotations

import random
from pathlib import Path

from graph.model import NodeKind
from graph.stores.memory import MemoryStore
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_START, generate


def synthetic_store(directory: Path, students: int, seed: int) -> MemoryStore:
    """A store in `directory` loaded with a generated partnership of `students` students (teams, transfers, lapses)."""
    generate(directory / "b", students=students, seed=seed)
    store = MemoryStore(directory / "s.db")
    import_result(store, read([directory / "b"], default_valid_from=DEFAULT_START))
    return store


def served_and_random_pairs(store: MemoryStore, rng: random.Random) -> list[tuple[str, str]]:
    """Every (provider, student) a provider serves, then as many random pairs (mostly denies)."""
    providers = sorted(n.id for n in store.nodes(NodeKind.PROVIDER))
    students = sorted(n.id for n in store.nodes(NodeKind.STUDENT))
    served = [(p, s) for p in providers for s in sorted(store.students_served_by(p))]
    return served + [(rng.choice(providers), rng.choice(students)) for _ in range(len(served))]
