"""Build the demo store from real public sample data plus the labelled demo bundle.

Order matters only for readability: rosters first (students, guardians, schools, staff),
then the human-services directory (partners, programs, service areas), then the FHIR
consent examples that fit (mapped onto a Grand Bend student), then our bundle
(api/demo/README.md says what it adds and why).

The bundle lives in the present: its undated records are in ``api/demo/bundle/``, its
dated ones are written by `api.demo.story` relative to the instant the demo is built
(`DemoCalendar`), so the example decisions hold on the day it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from api.demo.story import DemoCalendar, write_bundle
from graph.decision import CheckRequest
from graph.stores.base import GraphStore
from loaders import bundle, edfi, fhir_consent, hsds, oneroster
from loaders.base import LoadResult
from loaders.importer import ImportSummary, import_result

__all__ = ["BUNDLE", "DemoCalendar", "SOURCES", "build", "default_samples_dir", "examples"]

BUNDLE: Final = Path(__file__).parent / "bundle"
"""The demo bundle's undated records (names of the communities, programs, providers ...)."""

# FHIR examples that fit: their patient becomes Grand Bend student 604974; those naming
# only resources absent from the set (a Practitioner f204, say) are left out.
FHIR_FILES: Final = ("consent-example-notOrg.json", "consent-example.json", "organization-example-f001-burgers.json")
FHIR_IDS: Final = {"Patient/f001": "604974"}


@dataclass(frozen=True, slots=True)
class Source:
    """One step of the demo load: a name, a loader, and the paths under the samples folder."""

    name: str
    read: Callable[[list[Path], datetime], LoadResult]
    paths: tuple[str, ...]


def _reader(fn: Callable[..., LoadResult], **options: object) -> Callable[[list[Path], datetime], LoadResult]:
    return lambda paths, start: fn(paths, default_valid_from=start, recorded_at=start, **options)


SOURCES: Final = (
    Source("OneRoster 1.1, Grand Bend", _reader(oneroster.read), ("oneroster-v1p1-grandbend",)),
    Source("Ed-Fi, Grand Bend", _reader(edfi.read), ("edfi-grandbend/Samples/Sample XML",)),
    Source("HSDS (Ohana), San Mateo", _reader(hsds.read), ("hsds-ohana-sanmateo",)),
    Source("HL7 FHIR R4 Consent examples", _reader(fhir_consent.read, id_map=FHIR_IDS), tuple(f"fhir-r4-consent/{f}" for f in FHIR_FILES)),
)


def examples(at: datetime) -> tuple[CheckRequest, ...]:
    """The example questions, asked at `at` (the demo's build instant).

    Allows (a parent's consent; an eligible student's own consent; through a care team), a
    partial allow, and denies: a parent's consent for an eligible student, a revoked
    consent, an unverified guardian, an expired training outside the community, an
    outdated agreement.
    """
    return (
        CheckRequest("demo-prv-rosa", "604938", at, "academic_support"),
        CheckRequest("demo-prv-rosa", "604938", at, "academic_support", frozenset({"grades", "health"})),
        CheckRequest("demo-prv-rosa", "604918", at, "academic_support"),
        CheckRequest("demo-prv-marcus", "605015", at, "case_management"),
        CheckRequest("demo-prv-marcus", "604918", at, "case_management"),
        CheckRequest("demo-prv-marcus", "604969", at, "academic_support"),
        CheckRequest("demo-prv-rosa", "604874", at, "academic_support"),
        CheckRequest("demo-prv-jordan", "604938", at, "academic_support"),
        CheckRequest("demo-prv-lee", "604938", at, "academic_support"),
        CheckRequest("demo-prv-marcus", "604938", at, "academic_support"),
    )


def default_samples_dir() -> Path:
    """The copies of ../shared/data the tests use (tests/fixtures), found from the repository root."""
    return Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def build(
    store: GraphStore,
    samples: Path,
    progress: Callable[[str, ImportSummary], None] | None = None,
    *,
    calendar: DemoCalendar,
    bundle_dir: Path,
) -> list[ImportSummary]:
    """Load every source then the demo bundle into `store`; return one summary per step.

    Parameters
    ----------
    calendar : DemoCalendar
        Dates of the story (`DemoCalendar.of(now)`); the samples' records hold from the
        story's opening day.
    bundle_dir : Path
        Directory the dated part of the bundle is written to (its ``*.jsonl`` replaced).

    Raises
    ------
    LoadError
        A source did not load (nothing of that step was written).
    """
    summaries = []
    start = calendar.day(calendar.opened)
    dated = write_bundle(calendar, bundle_dir)
    steps = [(s.name, s.read, [samples / p for p in s.paths]) for s in SOURCES]
    steps.append(("needtoknow demo bundle (invented, labelled)", _reader(bundle.read), [BUNDLE, dated]))
    for name, read, paths in steps:
        summary = import_result(store, read(paths, start))
        summaries.append(summary)
        if progress is not None:
            progress(name, summary)
    return summaries
