"""Build the demo store from real public sample data plus the labelled demo bundle.

Order matters only for readability: rosters first (students, guardians, schools, staff),
then the human-services directory (partners, programs, service areas), then the FHIR
consent examples that fit (mapped onto a Grand Bend student), then our bundle
(api/demo/README.md says what it adds and why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from graph.decision import CheckRequest
from graph.stores.base import GraphStore
from loaders import bundle, edfi, fhir_consent, hsds, oneroster
from loaders.base import LoadResult
from loaders.importer import ImportSummary, import_result

__all__ = ["DEMO_AT", "EXAMPLES", "SOURCES", "build", "default_samples_dir"]

DEMO_AT: Final = datetime(2026, 3, 16, 16, 0, tzinfo=UTC)
"""The instant the demo's example decisions are asked about (16 March 2026, 10:00 in Grand Bend)."""

START: Final = datetime(2025, 8, 15, 6, 0, tzinfo=UTC)
BUNDLE: Final = Path(__file__).parent / "bundle"

# FHIR examples that fit: their patient becomes Grand Bend student 604974; those naming
# only resources absent from the set (a Practitioner f204, say) are left out.
FHIR_FILES: Final = ("consent-example-notOrg.json", "consent-example.json", "organization-example-f001-burgers.json")
FHIR_IDS: Final = {"Patient/f001": "604974"}


@dataclass(frozen=True, slots=True)
class Source:
    """One step of the demo load: a name, a loader, and the paths under the samples folder."""

    name: str
    read: Callable[[list[Path]], LoadResult]
    paths: tuple[str, ...]


def _reader(fn: Callable[..., LoadResult], **options: object) -> Callable[[list[Path]], LoadResult]:
    return lambda paths: fn(paths, default_valid_from=START, recorded_at=START, **options)


SOURCES: Final = (
    Source("OneRoster 1.1, Grand Bend", _reader(oneroster.read), ("oneroster-v1p1-grandbend",)),
    Source("Ed-Fi, Grand Bend", _reader(edfi.read), ("edfi-grandbend/Samples/Sample XML",)),
    Source("HSDS (Ohana), San Mateo", _reader(hsds.read), ("hsds-ohana-sanmateo",)),
    Source("HL7 FHIR R4 Consent examples", _reader(fhir_consent.read, id_map=FHIR_IDS), tuple(f"fhir-r4-consent/{f}" for f in FHIR_FILES)),
)

EXAMPLES: Final = (
    CheckRequest("demo-prv-rosa", "604938", DEMO_AT, "academic_support"),
    CheckRequest("demo-prv-rosa", "604938", DEMO_AT, "academic_support", frozenset({"grades", "health"})),
    CheckRequest("demo-prv-rosa", "604918", DEMO_AT, "academic_support"),
    CheckRequest("demo-prv-marcus", "605015", DEMO_AT, "case_management"),
    CheckRequest("demo-prv-marcus", "604918", DEMO_AT, "case_management"),
    CheckRequest("demo-prv-marcus", "604969", DEMO_AT, "academic_support"),
    CheckRequest("demo-prv-rosa", "604874", DEMO_AT, "academic_support"),
    CheckRequest("demo-prv-jordan", "604938", DEMO_AT, "academic_support"),
    CheckRequest("demo-prv-lee", "604938", DEMO_AT, "academic_support"),
)
"""Example questions: allows (a parent's consent; an eligible student's own consent; through a
care team), a partial allow, and denies: a parent's consent for an eligible student, a revoked
consent, an unverified guardian, an expired training outside the community, an outdated
agreement."""


def default_samples_dir() -> Path:
    """The copies of ../shared/data the tests use (tests/fixtures), found from the repository root."""
    return Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def build(store: GraphStore, samples: Path, progress: Callable[[str, ImportSummary], None] | None = None) -> list[ImportSummary]:
    """Load every source then the demo bundle into `store`; return one summary per step.

    Raises
    ------
    LoadError
        A source did not load (nothing of that step was written).
    """
    summaries = []
    steps = [(s.name, s.read, [samples / p for p in s.paths]) for s in SOURCES]
    steps.append(("needtoknow demo bundle (invented, labelled)", _reader(bundle.read), [BUNDLE]))
    for name, read, paths in steps:
        summary = import_result(store, read(paths))
        summaries.append(summary)
        if progress is not None:
            progress(name, summary)
    return summaries
