"""Bearer tokens, stored hashed in the ``tokens`` table of the SQLite database.

A token's secret is ``ntk_`` + 43 random URL-safe characters (256 bits), shown once when
created. Only its SHA-256 is stored, so the table cannot be used to call the API; a
lookup hashes the presented secret and finds the row by that hash.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Union

from api.roles import NEEDS_SUBJECT, Principal, Role
from graph.errors import InputError, StoreUnavailable
from graph.settings import Settings
from graph.stores.base import GraphStore
from graph.timeutil import to_iso, utcnow

if TYPE_CHECKING:
    from api.tokens_neo4j import Neo4jTokenStore

__all__ = ["AnyTokenStore", "TokenInfo", "TokenStore", "hash_secret", "new_token", "open_tokens"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    subject     TEXT,
    partners    TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
"""


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a token secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: str
    role: Role
    subject: str | None
    partner_ids: tuple[str, ...]
    label: str | None
    created_at: str
    revoked_at: str | None

    def principal(self) -> Principal:
        """The caller this token authenticates."""
        return Principal(self.id, self.role, self.subject, self.partner_ids)


def new_token(
    role: Role | str, subject: str | None, partner_ids: tuple[str, ...], label: str | None
) -> tuple[TokenInfo, str]:
    """A new token's record and secret (``ntk_`` + 256 random bits), checked; nothing stored.

    Raises
    ------
    InputError
        Unknown role, a role that needs a subject without one, or an app without partners.
    """
    try:
        role = Role(role)
    except ValueError as err:
        raise InputError(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from err
    if role in NEEDS_SUBJECT and not subject:
        raise InputError(f"a {role} token needs --subject")
    if role is Role.APP and not partner_ids:
        raise InputError("an app token needs at least one --partner")
    secret = "ntk_" + secrets.token_urlsafe(32)
    return TokenInfo("tok_" + secrets.token_hex(8), role, subject, tuple(partner_ids), label, to_iso(utcnow()) or "", None), secret


class TokenStore:
    """Create, look up, list and revoke tokens in a SQLite file (shared by every worker)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open the token table in {self.path}: {err}") from err

    def create(
        self, role: Role | str, subject: str | None = None, partner_ids: tuple[str, ...] = (), label: str | None = None
    ) -> tuple[TokenInfo, str]:
        """Store a new token; return it and its secret (shown once, never stored).

        Raises
        ------
        InputError
            Unknown role, a role that needs a subject without one, or an app without partners.
        """
        info, secret = new_token(role, subject, partner_ids, label)
        with self._lock:
            self.conn.execute(
                "INSERT INTO tokens (id, hash, role, subject, partners, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.id, hash_secret(secret), str(info.role), subject, json.dumps(list(partner_ids)), label, info.created_at),
            )
        return info, secret

    def lookup(self, secret: str) -> Principal | None:
        """The caller a secret authenticates, or None (unknown, malformed or revoked)."""
        if not secret.startswith("ntk_") or len(secret) > 200:
            return None
        with self._lock:
            row = self.conn.execute(
                "SELECT id, role, subject, partners, label, created_at, revoked_at FROM tokens WHERE hash = ?", (hash_secret(secret),)
            ).fetchone()
        if row is None or row[6] is not None:
            return None
        return _info(row).principal()

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, role, subject, partners, label, created_at, revoked_at FROM tokens ORDER BY created_at, id"
            ).fetchall()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token; False when no unrevoked token has this id."""
        with self._lock:
            cur = self.conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (to_iso(utcnow()), token_id))
        return cur.rowcount == 1

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _info(row: tuple[str, str, str | None, str, str | None, str, str | None]) -> TokenInfo:
    return TokenInfo(row[0], Role(row[1]), row[2], tuple(json.loads(row[3])), row[4], row[5], row[6])


AnyTokenStore = Union["TokenStore", "Neo4jTokenStore"]
"""Where a deployment keeps its tokens (both have create, lookup, list, revoke, close)."""


def open_tokens(settings: Settings, store: GraphStore | None = None) -> AnyTokenStore:
    """Where this deployment keeps tokens: the SQLite file (embedded), or Neo4j (shared by
    every instance), through `store` when given (its driver), else a store opened here.

    Raises StoreUnavailable.
    """
    if settings.backend != "neo4j":
        return TokenStore(settings.db)
    from api.tokens_neo4j import Neo4jTokenStore
    from graph.open import open_store
    from graph.stores.neo4j import Neo4jStore

    graph_store = store if store is not None else open_store(settings)
    assert isinstance(graph_store, Neo4jStore)
    return Neo4jTokenStore(graph_store, owns_store=store is None)
