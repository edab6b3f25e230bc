"""The GraphQL schema: queries and mutations merged here (strawberry's reddit-clone layout).

``schema`` is built with the default settings (the SDL does not depend on settings);
the server builds its own with `build_schema(settings)` so the limits and switches
apply. ``python -m api.schema`` (or ``needtoknow schema export``) writes schema.graphql.

Limits are extensions, not resolver code: expanded size (api/schema/expansion.py), depth, aliases and tokens (all of which
follow fragments), error masking (only coded errors keep their message), and, when
introspection is off, a validation rule refusing it and no field suggestions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

import strawberry
import structlog
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.config import ApiSettings
from api.errors import code_for
from api.schema.expansion import ExpansionLimiter
from api.schema.feed import FeedSubscription
from api.schema.inputs import IdRule
from api.schema.limits import CodedMaskErrors, NonEmptySelectionSets, OperationLimits
from api.schema.mutations import Mutation
from api.schema.queries import Query
from api.schema.scalars import DATETIME

__all__ = ["MASKED_MESSAGE", "SCHEMA_FILE", "Schema", "build_schema", "schema", "should_mask"]

MASKED_MESSAGE: Final = "Unexpected error."
log = structlog.get_logger("needtoknow.api")
SCHEMA_FILE: Final = Path(__file__).resolve().parents[2] / "schema.graphql"


def should_mask(error: GraphQLError) -> bool:
    """Mask an error unless it is a GraphQL-level error or carries a public code."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return code_for(original) is None


class Schema(strawberry.Schema):
    """strawberry's Schema, logging only unexpected errors (coded ones are answers, not incidents)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log errors that will be masked, with their traceback; skip coded and GraphQL-level ones."""
        for error in errors:
            if should_mask(error):
                log.error("unexpected_error", error=type(error.original_error).__name__, exc_info=error.original_error)


def build_schema(settings: ApiSettings | None = None) -> Schema:
    """The schema with the limits and switches of `settings` (defaults when None)."""
    settings = settings or ApiSettings()
    s = settings
    # The limiters' rule classes are made once: a fresh class per request would defeat
    # ValidationCache (it keys on the rules), and validation is most of a small query's cost.
    limit_rules = (
        *QueryDepthLimiter(max_depth=s.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=s.max_aliases).validation_rules,
    )
    standard: list[type[ASTValidationRule]] = [NonEmptySelectionSets]
    if not s.introspection_enabled:
        standard.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ExpansionLimiter(max_fields=s.max_fields),
        lambda: AddValidationRules(standard),
        lambda: OperationLimits(max_tokens=s.max_tokens, rules=limit_rules),
        lambda: IdRule(),
        lambda: CodedMaskErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE),
        lambda: ParserCache(maxsize=256),
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=FeedSubscription,
        extensions=extensions,
        scalar_overrides={datetime: DATETIME},
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection_enabled),
    )


schema: Final = build_schema(ApiSettings(introspection=True))
