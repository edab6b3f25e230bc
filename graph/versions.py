"""Effective-dated state: how a put or a close changes a record's versions (pure).

One implementation for both stores (`graph.stores.memory`, `graph.stores.neo4j`), so they
keep the same history. A record with one version has ``versions`` None; otherwise
``versions`` lists every version, oldest effective first, ``(effective_at, record)`` with
None meaning "from the start". The newest (the one stores keep as the record itself) is
the last. Rules: `graph.changes` module docstring.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from graph.model import Consent, Edge, FerpaRights, GuardianOf, Node, Serves, Student

__all__ = ["STATE_FIELDS", "VersionList", "close_versions", "put_version"]

R = TypeVar("R", Node, Edge)
VersionList = list[tuple[datetime | None, R]]

_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


STATE_FIELDS: Final[dict[type[Any], frozenset[str]]] = {
    Consent: frozenset({"status", "revoked_at"}),
    Student: frozenset({"postsecondary_enrolled", "emancipated", "unaccompanied_youth"}),
    GuardianOf: frozenset({"ferpa_rights", "relationship", "lives_with"}),
    Serves: frozenset({"status", "categories_needed"}),
}
"""The fields that are **state** (DOMAIN.md, "Graph model": a consent's status and revocation,
a guardian's rights, a student's emancipation or enrolment, a service's status and need): a
change holds from its effective time. Every other field is a **fact** about the record (a
birth date, a name, a consent's terms, an edge's interval): a source that restates it
corrects it, in every version."""


def _diff(old: R, new: R, names: frozenset[str], inside: bool) -> dict[str, Any]:
    """Fields whose value differs, among `names` (``inside``) or outside them."""
    return {
        f.name: getattr(new, f.name)
        for f in dataclasses.fields(new)  # type: ignore[arg-type]
        if (f.name in names) is inside and getattr(old, f.name) != getattr(new, f.name)
    }


def put_version(
    current: R | None, versions: VersionList[R] | None, record: R, effective_at: datetime | None, correction: bool
) -> tuple[R, VersionList[R] | None]:
    """The newest record and the version list after a put of `record`.

    `record` states the newest state. What it changes in `STATE_FIELDS` takes effect at
    `effective_at` and **stays**: it is applied to the version in effect then, which becomes
    a new version, and to every later version (so a revocation dated before a later
    re-import still holds after it). What it changes in any other field is a correction of a
    fact and is applied to every version. A first put, or a correction, leaves one version;
    None as `effective_at` applies a state change from the start.
    """
    if current is None or correction:
        return record, None
    names = STATE_FIELDS.get(type(record), frozenset())
    if isinstance(current, GuardianOf) and current.ferpa_rights is FerpaRights.UNVERIFIED:
        # `unverified` is a roster's "not stated" (docs/identity.md): the first statement of the
        # rights is a fact about the link, not a change of state.
        names = names - {"ferpa_rights"}
    facts = _diff(current, record, names, inside=False)
    state = _diff(current, record, names, inside=True)
    out: VersionList[R] = list(versions) if versions else [(None, current)]
    if facts:
        out = [(t, dataclasses.replace(r, **facts)) for t, r in out]  # type: ignore[type-var]
    if state:
        if effective_at is None:
            out = [(t, dataclasses.replace(r, **state)) for t, r in out]  # type: ignore[type-var]
        else:
            i = len(out)
            while i > 0 and (_EARLIEST if out[i - 1][0] is None else out[i - 1][0]) > effective_at:  # type: ignore[operator]
                i -= 1
            base = out[i - 1][1] if i > 0 else out[0][1]
            out.insert(i, (effective_at, dataclasses.replace(base, **state)))  # type: ignore[type-var]
            out[i + 1 :] = [(t, dataclasses.replace(r, **state)) for t, r in out[i + 1 :]]  # type: ignore[type-var]
    if len(out) > 1 and all(r == out[0][1] for _, r in out):
        return out[0][1], None  # every version the same again: one version
    return out[-1][1], (out if len(out) > 1 else None)


def close_versions(current: Edge, versions: VersionList[Edge] | None, at: datetime) -> tuple[Edge, VersionList[Edge] | None]:
    """The newest edge and the version list after closing its interval at `at` (every version)."""
    closed = dataclasses.replace(current, valid_to=at)
    if not versions:
        return closed, None
    return closed, [(t, dataclasses.replace(r, valid_to=at)) for t, r in versions]
