"""Operation limits as one extension: tokens before parsing, depth and aliases after validation.

The limit rules (strawberry's depth and alias limiters) walk fragments without checking
that they exist, so they can raise on a document that the standard rules refuse (a spread
of an undefined fragment, an empty selection set). They therefore run only on documents
that passed every standard rule, in a `validate` call of their own: whatever that call
reports is a limit by construction, and is raised as `LimitExceeded` (classified by type,
never by its text). The token limit counts with graphql-core's own lexer before parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from graphql import DocumentNode, GraphQLError, GraphQLSchema, GraphQLSyntaxError, SelectionSetNode, Source, TokenKind, validate
from graphql.language import Lexer
from graphql.validation import ASTValidationRule, ValidationRule
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.schema import validate_document

from api.errors import LimitExceeded

__all__ = ["CodedMaskErrors", "NonEmptySelectionSets", "OperationLimits"]


class NonEmptySelectionSets(ValidationRule):
    """A selection set must select something (the GraphQL grammar's ``Selection+``).

    graphql-core's parser accepts ``{ }``; the standard rules then pass it, and code that
    assumes at least one field (the depth limiter takes a ``max`` of none) would raise.
    """

    def enter_selection_set(self, node: SelectionSetNode, *_args: object) -> None:
        """Report an empty selection set."""
        if not node.selections:
            self.report_error(GraphQLError("A selection set must select at least one field.", node))


def _too_many_tokens(query: str, max_tokens: int) -> bool:
    """True when `query` holds more than `max_tokens` tokens (a lexing error is left to the parser)."""
    lexer = Lexer(Source(query))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
            if count > max_tokens:
                return True
    except GraphQLSyntaxError:
        return False
    return False


class OperationLimits(SchemaExtension):
    """Refuse operations over the token, depth or alias limits with `LimitExceeded` (code LIMIT_EXCEEDED).

    Parameters
    ----------
    max_tokens : int
        Largest number of lexical tokens in a document.
    rules : tuple of validation rule classes
        The limit rules (built once, so results can be cached per document text).
    """

    def __init__(self, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.max_tokens = max_tokens
        self.rules = rules

    def on_parse(self) -> Iterator[None]:
        """Before parsing: count tokens."""
        query = self.execution_context.query
        if query is not None and self.execution_context.graphql_document is None and _too_many_tokens(query, self.max_tokens):
            raise LimitExceeded(f"the document has more than {self.max_tokens} tokens")
        yield

    def on_validate(self) -> Iterator[None]:
        """Validate here: the standard rules, then the limit rules only if the standard ones passed.

        Both results are cached per document text (this replaces strawberry's ValidationCache).
        """
        ctx = self.execution_context
        if ctx.pre_execution_errors is None and ctx.graphql_document is not None and ctx.query is not None:
            rules = tuple(ctx.validation_rules)
            ctx.pre_execution_errors = list(_validate(ctx.schema._schema, ctx.query, ctx.graphql_document, rules, self.rules))
        yield


_CACHE: dict[tuple[int, str, tuple[type[ASTValidationRule], ...]], tuple[GraphQLError, ...]] = {}
_CACHE_SIZE: Final = 256


def _validate(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    standard: tuple[type[ASTValidationRule], ...],
    limits: tuple[type[ASTValidationRule], ...],
) -> tuple[GraphQLError, ...]:
    key = (id(schema), query, standard)
    hit = _CACHE.get(key)
    if hit is None:
        found: tuple[GraphQLError, ...] = tuple(validate_document(schema, document, standard))
        if not found:
            found = tuple(LimitExceeded(e.message, e.nodes) for e in validate(schema, document, limits))
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = found
        hit = found
    return hit


class CodedMaskErrors(MaskErrors):
    """strawberry's MaskErrors, with ``extensions.code = INTERNAL`` on the masked error (so it is known by a field, not its text)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """The masked error, coded."""
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL"}
        return masked
