"""Bearer tokens, stored hashed in the ``tokens`` table of the SQLite database.

A token's secret is ``ntk_`` + 43 random URL-safe characters (256 bits), shown once when
created. Only its SHA-256 is stored, so the table cannot be used to call the API; a
lookup hashes the presented secret and finds the row by that hash.

A token stops working when it is revoked or at its ``expires_at`` (aware UTC; None: never,
which only code can ask for: `graph.commands.create_token` always sets one). Rotating a
token stores a new one with the same grants and revokes the old one in the same
transaction, or lets it work on until a grace instant; a token is rotated at most once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Union

from api.roles import NEEDS_SUBJECT, Principal, Role
from graph.errors import InputError, StoreUnavailable
from graph.settings import Settings
from graph.stores.base import GraphStore
from graph.timeutil import parse_datetime, to_iso, utcnow

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
    revoked_at  TEXT,
    expires_at  TEXT,
    replaced_by TEXT
);
CREATE TABLE IF NOT EXISTS token_generation (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO token_generation (id, n) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS tokens_inserted AFTER INSERT ON tokens BEGIN UPDATE token_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS tokens_updated AFTER UPDATE ON tokens BEGIN UPDATE token_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS tokens_deleted AFTER DELETE ON tokens BEGIN UPDATE token_generation SET n = n + 1 WHERE id = 1; END;
"""
"""``token_generation.n`` moves with every change to ``tokens`` (triggers, so a change made by any
connection or tool counts): `TokenStore.lookup` keeps what it read until it moves."""
MIGRATIONS: Final = (
    ("expires_at", "ALTER TABLE tokens ADD COLUMN expires_at TEXT"),
    ("replaced_by", "ALTER TABLE tokens ADD COLUMN replaced_by TEXT"),
)
"""Columns added after the first release: a token table of an older store gains them on open."""
_COLUMNS: Final = "id, role, subject, partners, label, created_at, revoked_at, expires_at, replaced_by"
_CACHED_LOOKUPS: Final = 4096
"""Secrets (hashed) whose answers a `TokenStore` keeps between changes; past it, it starts afresh."""


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
    expires_at: str | None = None
    replaced_by: str | None = None

    def principal(self) -> Principal:
        """The caller this token authenticates."""
        return Principal(self.id, self.role, self.subject, self.partner_ids)

    def active(self, at: datetime) -> bool:
        """Neither revoked nor expired at `at` (aware)."""
        return self.revoked_at is None and (self.expires_at is None or at < parse_datetime(self.expires_at))


def new_token(
    role: Role | str, subject: str | None, partner_ids: tuple[str, ...], label: str | None, expires_at: datetime | None = None
) -> tuple[TokenInfo, str]:
    """A new token's record and secret (``ntk_`` + 256 random bits), checked; nothing stored.

    Raises
    ------
    InputError
        Unknown role, a role that needs a subject without one, an app without partners, or
        an expiry that is not in the future.
    """
    try:
        role = Role(role)
    except ValueError as err:
        raise InputError(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from err
    if role in NEEDS_SUBJECT and not subject:
        raise InputError(f"a {role} token needs --subject")
    if role is Role.APP and not partner_ids:
        raise InputError("an app token needs at least one --partner")
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise InputError(f"--expires {to_iso(expires_at)} is not in the future")
    secret = "ntk_" + secrets.token_urlsafe(32)
    info = TokenInfo("tok_" + secrets.token_hex(8), role, subject, tuple(partner_ids), label, to_iso(now) or "", None, to_iso(expires_at))
    return info, secret


class TokenStore:
    """Create, look up, list and revoke tokens in a SQLite file (shared by every worker).

    `lookup` runs for every request: it remembers each secret's row (or its absence) until
    ``token_generation`` moves, which any change to the table does at once, in any process.
    So a revocation takes effect on the next request everywhere, and a request whose token is
    unchanged reads one row of a one-row table instead of the token index (measured: ~36 ->
    ~8 µs after another connection's commit, as every check's record is).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._known: dict[str, TokenInfo | None] = {}
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)
            present = {row[1] for row in self.conn.execute("PRAGMA table_info(tokens)")}
            for column, ddl in MIGRATIONS:
                if column not in present:
                    self.conn.execute(ddl)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open the token table in {self.path}: {err}") from err

    def _insert(self, info: TokenInfo, secret: str) -> None:
        self.conn.execute(
            "INSERT INTO tokens (id, hash, role, subject, partners, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (info.id, hash_secret(secret), str(info.role), info.subject, json.dumps(list(info.partner_ids)), info.label,
             info.created_at, info.expires_at),
        )  # fmt: skip

    def create(
        self,
        role: Role | str,
        subject: str | None = None,
        partner_ids: tuple[str, ...] = (),
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[TokenInfo, str]:
        """Store a new token; return it and its secret (shown once, never stored).

        Raises
        ------
        InputError
            Unknown role, a role that needs a subject without one, an app without partners,
            an expiry not in the future.
        """
        info, secret = new_token(role, subject, partner_ids, label, expires_at)
        with self._lock:
            self._insert(info, secret)
        return info, secret

    def get(self, token_id: str) -> TokenInfo | None:
        """The token with this id (revoked or not), or None."""
        with self._lock:
            row = self.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if row is None else _info(row)

    def lookup(self, secret: str) -> Principal | None:
        """The caller a secret authenticates, or None (unknown, malformed, revoked or expired)."""
        if not secret.startswith("ntk_") or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        with self._lock:
            # The generation is read before the row: what is kept is never older than the generation it is kept under.
            generation = self.conn.execute("SELECT n FROM token_generation WHERE id = 1").fetchone()[0]
            if generation != self._generation or len(self._known) >= _CACHED_LOOKUPS:
                self._known.clear()
                self._generation = generation
            if digest in self._known:
                found = self._known[digest]
            else:
                row = self.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE hash = ?", (digest,)).fetchone()
                found = self._known[digest] = None if row is None else _info(row)
        if found is None:
            return None
        return found.principal() if found.active(utcnow()) else None

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        with self._lock:
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id").fetchall()
        return [_info(r) for r in rows]

    def rotate(self, token_id: str, expires_at: datetime | None, grace_until: datetime | None = None) -> tuple[TokenInfo, str] | None:
        """Replace an active token by a new one with the same grants, in one transaction.

        The old token is revoked at once, or (with `grace_until`) works on until then.
        Returns the new token and its secret; None when no active, not yet rotated token has
        this id (of concurrent rotations exactly one gets a new token: the write lock is
        taken before the old row is read).
        """
        now = utcnow()
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreUnavailable(f"the token table in {self.path} is not writable: {err}") from err
            try:
                row = self.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
                old = None if row is None else _info(row)
                if old is None or old.replaced_by is not None or not old.active(now):
                    self.conn.execute("ROLLBACK")
                    return None
                info, secret = new_token(old.role, old.subject, old.partner_ids, old.label, expires_at)
                self._insert(info, secret)
                old_expiry = parse_datetime(old.expires_at) if old.expires_at else None
                if grace_until is not None and (old_expiry is None or grace_until < old_expiry):
                    old_expiry = grace_until
                self.conn.execute(
                    "UPDATE tokens SET replaced_by = ?, revoked_at = ?, expires_at = ? WHERE id = ?",
                    (info.id, None if grace_until is not None else to_iso(now), to_iso(old_expiry), token_id),
                )
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self.conn.execute("ROLLBACK")
                raise StoreUnavailable(f"rotating {token_id} in {self.path} failed: {err}") from err
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return info, secret
    def revoke(self, token_id: str) -> bool:
        """Revoke a token; False when no unrevoked token has this id."""
        with self._lock:
            cur = self.conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (to_iso(utcnow()), token_id))
        return cur.rowcount == 1

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _info(row: tuple[str, str, str | None, str, str | None, str, str | None, str | None, str | None]) -> TokenInfo:
    return TokenInfo(row[0], Role(row[1]), row[2], tuple(json.loads(row[3])), row[4], row[5], row[6], row[7], row[8])


AnyTokenStore = Union["TokenStore", "Neo4jTokenStore"]
"""Where a deployment keeps its tokens (both have create, get, lookup, list, rotate, revoke, close)."""


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
