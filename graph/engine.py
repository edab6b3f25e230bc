"""The engine: one object holding store, policy, record of decisions and clock.

GraphQL and the CLI reach every verb through it (STYLE.md, item 1): check, check_many,
accessible_students, providers_with_access, apply. Each verb gathers evidence from the
store, judges it with the pure `decide`, records the decision, and only then answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Final, TypeVar

import structlog

from graph.audit import AuditLog, Caller
from graph.changes import Change
from graph.decide import BatchMemo, LastingMemo, decide
from graph.decision import CheckRequest, Decision, Outcome, ReasonDetail
from graph.errors import AuditUnavailable, InputError, UnknownProvider, UnknownStudent
from graph.ids import check_id
from graph.lookups import Access, Page, access_until, decode_cursor, encode_cursor
from graph.model import NodeKind
from graph.policy import DEFAULT_POLICY, Policy
from graph.reasons import Reason
from graph.stores.base import GraphStore
from graph.timeutil import check_instant, utcnow

__all__ = ["Engine", "check_categories"]

log = structlog.get_logger("needtoknow.engine")
_PURPOSE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_G = TypeVar("_G")

MAX_PAGE = 1000


class Engine:
    """Answers need-to-know questions over a store.

    Parameters
    ----------
    store : GraphStore
    policy : Policy
    audit : AuditLog | None
        None only for offline tools (bench of the pure path); every API and CLI engine has one.
    clock : callable returning an aware datetime
    """

    def __init__(
        self,
        store: GraphStore,
        policy: Policy = DEFAULT_POLICY,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock
        self._sides = LastingMemo()  # each provider's own half, judged again only when it may read differently

    # ------------------------------------------------------------------ validation

    def _validate(self, req: CheckRequest, strict_ids: bool = True) -> None:
        # The id rule first: a malformed id is refused for every caller and never reaches the record.
        check_id(req.provider_id, "providerId")
        check_id(req.student_id, "studentId")
        _check_purpose(req.purpose)
        provider = self.store.node(req.provider_id)
        if provider is None or provider.kind is not NodeKind.PROVIDER:
            raise UnknownProvider(req.provider_id)
        if strict_ids:
            student = self.store.node(req.student_id)
            if student is None or student.kind is not NodeKind.STUDENT:
                raise UnknownStudent(req.student_id)
        check_categories(req.categories, self.policy)

    def _record(self, decisions: list[Decision], caller: Caller, request_time: datetime) -> list[Decision]:
        """Record decisions before they are answered; if that fails every one becomes deny(audit_unavailable)."""
        if self.audit is None:
            return decisions
        try:
            self.audit.record(decisions, caller, request_time)
        except AuditUnavailable as err:
            log.error("audit_unavailable", decisions=len(decisions), cause=str(err))
            return [
                d._replace(
                    outcome=Outcome.DENY,
                    reasons=(*d.reasons, ReasonDetail(Reason.AUDIT_UNAVAILABLE)),
                    released=frozenset(),
                    path=(),
                )
                for d in decisions
            ]
        return decisions

    # ------------------------------------------------------------------ verbs

    def check(self, req: CheckRequest, *, caller: Caller | None = None, token: str | None = None) -> Decision:
        """Decide and record one request.

        Raises
        ------
        UnknownProvider, UnknownStudent, InputError
            Bad question: an error, never a deny.
        DepthLimitExceeded
            Team nesting passes the configured limit.
        StaleRead
            `token` not reachable.
        """
        return self.check_many([req], caller=caller, token=token)[0]

    def check_many(
        self, reqs: Sequence[CheckRequest], *, caller: Caller | None = None, token: str | None = None, strict_ids: bool = True
    ) -> list[Decision]:
        """Decide many requests; every decision is recorded (in one transaction) before any is returned.

        Parameters
        ----------
        strict_ids : bool
            True (admins, the operator's CLI): an unknown student id raises UnknownStudent.
            False (everyone else, DOMAIN.md "Who may see which reasons"): an unknown student
            is judged like any other — same work, empty evidence, a recorded deny — so the
            answer says nothing about which ids exist. An unknown provider always raises.
        """
        request_time = self.clock()
        self.store.sync(token)
        for req in reqs:
            self._validate(req, strict_ids)
        state, evidence = self._gather_at_one_state(lambda: [self.store.gather_evidence(r.provider_id, r.student_id) for r in reqs])
        decisions = [decide(ev, r, self.policy, state, memo=self._sides) for ev, r in zip(evidence, reqs, strict=True)]
        return self._record(decisions, caller or Caller(), request_time)

    def _gather_at_one_state(self, gather: Callable[[], _G]) -> tuple[str, _G]:
        """Gather evidence, and the consistency token of the state it was read at.

        Another thread of this process may apply a write meanwhile; then gather again, so
        the recorded token names exactly the state the decision read (`replay` relies on it).
        """
        while True:
            before = self.store.token()
            found = gather()
            if self.store.token() == before:
                return before, found

    def decide_only(self, req: CheckRequest) -> Decision:
        """Gather and judge without recording: for benchmarks and replay tools only, never for answers."""
        self._validate(req)
        return decide(self.store.gather_evidence(req.provider_id, req.student_id), req, self.policy, memo=self._sides)

    def accessible_students(
        self,
        provider_id: str,
        at: datetime | None = None,
        *,
        purpose: str | None = None,
        categories: frozenset[str] | None = None,
        first: int = 100,
        after: str | None = None,
        caller: Caller | None = None,
        token: str | None = None,
    ) -> Page[Access]:
        """Students `provider_id` may see at `at`, ordered by student id.

        S is listed iff check(provider, S, at) allows (DOMAIN.md, "Lookups and their
        invariant"): candidates are anchored on SERVES edges, and an allow needs one.

        Raises
        ------
        UnknownProvider, InvalidCursor, InputError
        """
        return self._lookup(provider_id, None, at, purpose, categories, first, after, caller, token)

    def providers_with_access(
        self,
        student_id: str,
        at: datetime | None = None,
        *,
        purpose: str | None = None,
        categories: frozenset[str] | None = None,
        first: int = 100,
        after: str | None = None,
        caller: Caller | None = None,
        token: str | None = None,
    ) -> Page[Access]:
        """Providers who may see `student_id`'s record at `at`, with why; ordered by provider id.

        The guardian-facing transparency report. P is listed iff check(P, student, at) allows.

        Raises
        ------
        UnknownStudent, InvalidCursor, InputError
        """
        return self._lookup(None, student_id, at, purpose, categories, first, after, caller, token)

    def _lookup(
        self,
        provider_id: str | None,
        student_id: str | None,
        at: datetime | None,
        purpose: str | None,
        categories: frozenset[str] | None,
        first: int,
        after: str | None,
        caller: Caller | None,
        token: str | None,
    ) -> Page[Access]:
        """One lookup with one side fixed: candidates anchored on SERVES edges, judged in id order
        in chunks until a page and one more allow are found (the one more says a next page exists)."""
        request_time = self.clock()
        self.store.sync(token)
        state = self.store.token()
        at = check_instant(at) if at is not None else request_time
        anchor = provider_id if provider_id is not None else student_id
        assert anchor is not None
        check_id(anchor, "providerId" if provider_id is not None else "studentId")
        _check_purpose(purpose)
        node = self.store.node(anchor)
        if provider_id is not None and (node is None or node.kind is not NodeKind.PROVIDER):
            raise UnknownProvider(provider_id)
        if student_id is not None and (node is None or node.kind is not NodeKind.STUDENT):
            raise UnknownStudent(student_id)
        check_categories(categories, self.policy)
        first = _page_size(first)
        start = decode_cursor(after)
        found = self.store.students_served_by(anchor) if provider_id is not None else self.store.providers_serving(anchor)
        candidates = sorted(c for c in found if start is None or c > start)
        items: list[Access] = []
        decided: list[Decision] = []
        i = 0
        memo = BatchMemo()
        while i < len(candidates) and len(items) <= first:
            # Gather about as many as the allows still wanted need at the allow rate seen so far
            # (evidence gathered and not judged is wasted: a fixed chunk of `first` wasted a quarter).
            wanted = first + 1 - len(items)
            size = math.ceil(wanted * len(decided) / len(items)) if items else (first + 1) * (2 if decided else 1)
            chunk = candidates[i : i + max(size, 16)]
            i += len(chunk)
            evidence = self.store.gather_evidence_many(provider_id, student_id, chunk)
            for other in chunk:
                pid, sid = (provider_id, other) if provider_id is not None else (other, student_id)
                assert pid is not None and sid is not None
                d = decide(evidence[other], CheckRequest(pid, sid, at, purpose, categories), self.policy, state, memo=memo)
                decided.append(d)
                if d.allowed:
                    items.append(Access(pid, sid, d, None))
                    if len(items) > first:
                        break
        if self.store.token() != state:
            # A write was applied meanwhile: judge again at one state, so each recorded token is exact.
            return self._lookup(provider_id, student_id, at, purpose, categories, first, after, caller, None)
        key = (lambda a: a.student_id) if provider_id is not None else (lambda a: a.provider_id)
        return self._page(items, decided, first, caller, request_time, key=key)

    def _page(
        self,
        items: list[Access],
        decided: list[Decision],
        first: int,
        caller: Caller | None,
        request_time: datetime,
        key: Callable[[Access], str],
    ) -> Page[Access]:
        recorded = self._record(decided, caller or Caller(), request_time)
        by_pair = {(d.request.provider_id, d.request.student_id): d for d in recorded}
        final: list[Access] = []
        for a in items[:first]:
            d = by_pair[(a.provider_id, a.student_id)]
            if d.allowed:
                final.append(Access(a.provider_id, a.student_id, d, access_until(d)))
        has_next = len(items) > first
        end = encode_cursor(key(items[first - 1])) if has_next else (encode_cursor(key(final[-1])) if final else None)
        return Page(final, end, has_next)

    def apply(self, changes: Sequence[Change]) -> str:
        """Validate, journal and apply a batch; return its consistency token.

        Raises ChangeRejected (nothing applied) or StoreUnavailable.
        """
        return self.store.apply(changes)


def check_categories(categories: Iterable[str] | None, policy: Policy) -> None:
    """Refuse data categories a question cannot ask about: None asks about every category.

    Raises
    ------
    InputError
        An empty list (it would ask about nothing, and nothing could be released or refused
        for a reason), or a category ``policy.categories`` does not know.
    """
    if categories is None:
        return
    asked = set(categories)
    if not asked:
        raise InputError("name at least one data category (or leave the categories out to ask about all of them)")
    unknown = sorted(asked - policy.categories)
    if unknown:
        raise InputError(f"unknown data categories {unknown}; known: {sorted(policy.categories)}")


def _check_purpose(purpose: str | None) -> None:
    """A purpose is a code (lowercase letters, digits, underscores; at most 64): InputError otherwise."""
    if purpose is not None and not _PURPOSE.match(purpose):
        raise InputError("purpose: a code of lowercase letters, digits and underscores (at most 64), e.g. academic_support")


def _page_size(first: int) -> int:
    if first < 1 or first > MAX_PAGE:
        raise InputError(f"first must be between 1 and {MAX_PAGE}")
    return first
