"""Bearer tokens in Neo4j: with the Neo4j backend every API instance shares them.

Same contract as `api.tokens.TokenStore` (SQLite): only a secret's SHA-256 is stored;
``(:NtkToken {id, hash, role, subject, partners, label, created_at, revoked_at, expires_at,
replaced_by})`` with unique ``id`` and ``hash``. A token created through one instance works on every other, and
a revocation through any is honoured by all on their next request (lookups read Neo4j).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import neo4j
import neo4j.exceptions as ne

from api.roles import Principal, Role
from api.tokens import TokenInfo, hash_secret, new_token
from graph.errors import StoreUnavailable
from graph.timeutil import to_iso, utcnow

if TYPE_CHECKING:
    from graph.stores.neo4j import Neo4jStore

__all__ = ["Neo4jTokenStore"]

SCHEMA: Final = (
    "CREATE CONSTRAINT ntk_token_id IF NOT EXISTS FOR (t:NtkToken) REQUIRE t.id IS UNIQUE",
    "CREATE CONSTRAINT ntk_token_hash IF NOT EXISTS FOR (t:NtkToken) REQUIRE t.hash IS UNIQUE",
)
_FIELDS: Final = "t.id AS id, t.role AS role, t.subject AS subject, t.partners AS partners, t.label AS label, "
_FIELDS2: Final = "t.created_at AS created_at, t.revoked_at AS revoked_at, t.expires_at AS expires_at, t.replaced_by AS replaced_by"

REVOKE: Final = """
MATCH (t:NtkToken {id: $id})
SET t.locked_by = $id
WITH t WHERE t.revoked_at IS NULL
SET t.revoked_at = $now
RETURN count(t) AS n
"""
"""The first SET takes the node's write lock, so of concurrent revocations exactly one sees it unrevoked."""

ROTATE: Final = """
MATCH (t:NtkToken {id: $id})
SET t.locked_by = $id
WITH t WHERE t.revoked_at IS NULL AND t.replaced_by IS NULL AND (t.expires_at IS NULL OR datetime(t.expires_at) > datetime($now))
CREATE (n:NtkToken) SET n = $props
SET t.replaced_by = n.id,
    t.revoked_at = CASE WHEN $grace IS NULL THEN $now ELSE null END,
    t.expires_at = CASE WHEN $grace IS NOT NULL AND (t.expires_at IS NULL OR datetime($grace) < datetime(t.expires_at))
                        THEN $grace ELSE t.expires_at END
RETURN t.role AS role, t.subject AS subject, t.partners AS partners, t.label AS label
"""
"""Locked as REVOKE: of concurrent rotations of one token exactly one creates a successor."""


class Neo4jTokenStore:
    """Create, look up, list and revoke tokens in Neo4j (the store's driver and database)."""

    def __init__(self, store: Neo4jStore, *, owns_store: bool = False) -> None:
        self._store = store
        self._owns_store = owns_store
        self._run_write(lambda tx: [tx.run(s).consume() for s in SCHEMA])

    def _session(self) -> neo4j.Session:
        return self._store._driver.session(database=self._store.database)

    def _run_write(self, fn: Any) -> Any:
        try:
            with self._session() as session:
                return session.execute_write(fn)
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"tokens in Neo4j: {err}") from err

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
        StoreUnavailable
        """
        info, secret = new_token(role, subject, partner_ids, label, expires_at)
        props = _props(info, secret)
        self._run_write(lambda tx: tx.run("CREATE (t:NtkToken) SET t = $props", props=props).consume())
        return info, secret

    def get(self, token_id: str) -> TokenInfo | None:
        """The token with this id (revoked or not), or None."""
        try:
            with self._session() as session:
                rec = session.run(f"MATCH (t:NtkToken {{id: $id}}) RETURN {_FIELDS}{_FIELDS2}", id=token_id).single()
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"tokens in Neo4j: {err}") from err
        return None if rec is None else _info(rec)

    def rotate(self, token_id: str, expires_at: datetime | None, grace_until: datetime | None = None) -> tuple[TokenInfo, str] | None:
        """Replace an active token by a new one with the same grants, in one transaction
        (`api.tokens.TokenStore.rotate`); None when no active, not yet rotated token has this id."""
        old = self.get(token_id)
        if old is None:
            return None
        info, secret = new_token(old.role, old.subject, old.partner_ids, old.label, expires_at)
        props = _props(info, secret)
        params = {"id": token_id, "props": props, "now": to_iso(utcnow()), "grace": to_iso(grace_until)}
        done = self._run_write(lambda tx: tx.run(ROTATE, **params).single())
        return (info, secret) if done is not None else None

    def lookup(self, secret: str) -> Principal | None:
        """The caller a secret authenticates, or None (unknown, malformed, revoked or expired)."""
        if not secret.startswith("ntk_") or len(secret) > 200:
            return None
        try:
            with self._session() as session:
                rec = session.run(f"MATCH (t:NtkToken {{hash: $hash}}) RETURN {_FIELDS}{_FIELDS2}", hash=hash_secret(secret)).single()
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"tokens in Neo4j: {err}") from err
        if rec is None:
            return None
        info = _info(rec)
        return info.principal() if info.active(utcnow()) else None

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        try:
            with self._session() as session:
                rows = list(session.run(f"MATCH (t:NtkToken) RETURN {_FIELDS}{_FIELDS2} ORDER BY t.created_at, t.id"))
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"tokens in Neo4j: {err}") from err
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token; False when no unrevoked token has this id."""
        n = self._run_write(lambda tx: tx.run(REVOKE, id=token_id, now=to_iso(utcnow())).single(strict=True)["n"])
        return int(n) == 1

    def close(self) -> None:
        """Close the store's driver if this token store opened it (`api.tokens.open_tokens`)."""
        if self._owns_store:
            self._store.close()


def _props(info: TokenInfo, secret: str) -> dict[str, Any]:
    return {
        "id": info.id,
        "hash": hash_secret(secret),
        "role": str(info.role),
        "subject": info.subject,
        "partners": json.dumps(list(info.partner_ids)),
        "label": info.label,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
    }


def _info(r: neo4j.Record) -> TokenInfo:
    return TokenInfo(
        r["id"], Role(r["role"]), r["subject"], tuple(json.loads(r["partners"])), r["label"], r["created_at"], r["revoked_at"],
        r["expires_at"], r["replaced_by"],
    )  # fmt: skip
