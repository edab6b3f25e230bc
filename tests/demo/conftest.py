"""Demo stores built at chosen instants (the demo's clock injected)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from api.demo.build import DemoCalendar, build, default_samples_dir
from graph.stores.memory import MemoryStore


def build_demo(db: Path, now: datetime) -> DemoCalendar:
    """Build the demo store into `db` as if the demo ran at `now`; return its calendar."""
    calendar = DemoCalendar.of(now)
    store = MemoryStore(db)
    try:
        build(store, default_samples_dir(), calendar=calendar, bundle_dir=db.parent / "demo-bundle")
    finally:
        store.close()
    return calendar
