"""Mutations, one module per concern, merged into one Mutation type (admins only)."""

from __future__ import annotations

import strawberry

from api.schema.mutations.consents import ConsentMutations
from api.schema.mutations.family import FamilyMutations
from api.schema.mutations.providers import ProviderMutations
from api.schema.mutations.services import ServiceMutations
from api.schema.mutations.students import StudentMutations

__all__ = ["Mutation"]


@strawberry.type(
    description="Changes to the graph (admins only, but giveConsent and revokeMyConsent: a family's own). Each returns the object "
    "and a consistencyToken, or a ValidationError."
)
class Mutation(ConsentMutations, ServiceMutations, ProviderMutations, StudentMutations, FamilyMutations):
    pass
