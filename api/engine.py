"""The engine as the API uses it: `graph.engine.Engine` plus a check that treats unknown
student ids like any other student (DOMAIN.md, "Who may see which reasons").

For a caller who is not an admin an unknown student id must not be an error (that would
tell the caller which ids exist), and answering it must do the same work as for a real
student: gather the evidence, judge it, record the decision. `check_many_as` does that;
for admins it is `Engine.check_many` unchanged. The smallest change to graph/engine.py
that would make this subclass unnecessary is a ``strict_ids`` flag on ``check_many``.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph.audit import Caller
from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.errors import UnknownProvider
from graph.model import NodeKind

__all__ = ["ApiEngine"]


class ApiEngine(Engine):
    """`Engine` with `check_many_as`."""

    def check_many_as(self, reqs: Sequence[CheckRequest], *, caller: Caller, token: str | None, strict_ids: bool) -> list[Decision]:
        """Decide and record every request before returning any.

        Parameters
        ----------
        strict_ids : bool
            True (admins): an unknown provider or student raises, as `Engine.check_many`.
            False: an unknown student is judged like any other (its evidence is empty, so the
            decision is a deny), and recorded; an unknown provider still raises (the role
            checks have already established who the provider is).

        Raises
        ------
        UnknownProvider, UnknownStudent, InputError, StaleRead, DepthLimitExceeded
        """
        if strict_ids:
            return self.check_many(reqs, caller=caller, token=token)
        request_time = self.clock()
        self.store.sync(token)
        for req in reqs:
            node = self.store.node(req.provider_id)
            if node is None or node.kind is not NodeKind.PROVIDER:
                raise UnknownProvider(req.provider_id)
            self._validate_categories(req.categories)
        decisions = [decide(self.store.gather_evidence(r.provider_id, r.student_id), r, self.policy) for r in reqs]
        return self._record(decisions, caller, request_time)
