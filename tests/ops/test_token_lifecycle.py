"""Own tokens expire, rotate, and name only subjects and partners that exist; in both token stores.

    the tests/api/conftest.py world: ana and bo are providers, gia a guardian, ptn-hope a partner

The commands (`graph.commands.create_token`, `rotate_token`) are the one door; the CLI
(`needtoknow token create|rotate`) only parses and calls them. Concurrent rotations of one
token: exactly one gets a successor (the SQLite write lock / the Neo4j node lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.tokens import TokenStore
from graph import commands
from graph.commands.create_token import DEFAULT_LIFETIME
from graph.errors import InputError, PreconditionFailed
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.timeutil import parse_datetime, utcnow
from tests.api.conftest import build_db

ROUNDS = 10
WRITERS = 4


def _open(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Any, GraphStore, Any]:
    """(token registry, graph store, a factory of further registries on the same tokens)."""
    if kind == "sqlite":
        db = tmp_path / "tokens.db"
        build_db(db)
        return TokenStore(db), MemoryStore(db), lambda: TokenStore(db)
    from api.tokens_neo4j import Neo4jTokenStore
    from graph.stores.neo4j import Neo4jStore
    from tests.api.conftest import extra_changes
    from tests.stores.test_contract import clear_neo4j
    from tests.world import World

    uri: str = request.getfixturevalue("neo4j_uri")
    clear_neo4j(uri)
    store = Neo4jStore(uri)
    store.apply([*World.base().changes(), *extra_changes()])
    return Neo4jTokenStore(store), store, lambda: Neo4jTokenStore(Neo4jStore(uri), owns_store=True)


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def tokens(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, GraphStore, Any]]:
    registry, store, more = _open(request.param, tmp_path, request)
    yield registry, store, more
    registry.close()
    store.close()


def test_a_token_gets_the_default_lifetime_or_the_expiry_asked(tokens: tuple[Any, GraphStore, Any]) -> None:
    registry, store, _ = tokens
    before = utcnow()
    info, secret = commands.create_token(registry, store, commands.CreateToken("staff", "s1"))
    assert before + DEFAULT_LIFETIME <= parse_datetime(info.expires_at) <= utcnow() + DEFAULT_LIFETIME
    assert registry.lookup(secret) is not None
    info, _ = commands.create_token(registry, store, commands.CreateToken("staff", "s1", lifetime=timedelta(hours=2)))
    assert parse_datetime(info.expires_at) <= utcnow() + timedelta(hours=2)
    with pytest.raises(InputError, match="not in the future"):
        commands.create_token(registry, store, commands.CreateToken("staff", "s1", expires_at=utcnow() - timedelta(seconds=1)))


def test_an_expired_token_stops_working(tokens: tuple[Any, GraphStore, Any]) -> None:
    registry, store, _ = tokens
    soon = utcnow() + timedelta(seconds=1)
    info, secret = commands.create_token(registry, store, commands.CreateToken("provider", "ana", expires_at=soon))
    assert registry.lookup(secret) is not None
    while utcnow() < soon:  # wait for the expiry to pass (no duration is asserted)
        time.sleep(0.1)
    assert registry.lookup(secret) is None
    assert registry.get(info.id).expires_at == info.expires_at


@pytest.mark.parametrize(
    ("role", "subject", "partners", "field"),
    [
        pytest.param("provider", "nobody", (), "subject", id="unknown-provider"),
        pytest.param("provider", "gia", (), "subject", id="a-guardian-as-provider"),
        pytest.param("guardian", "nobody", (), "subject", id="unknown-guardian"),
        pytest.param("app", "hope-app", ("ptn-hope", "ptn-nowhere"), "partner", id="unknown-partner"),
    ],
)
def test_subjects_and_partners_must_exist(
    tokens: tuple[Any, GraphStore, Any], role: str, subject: str, partners: tuple[str, ...], field: str
) -> None:
    registry, store, _ = tokens
    with pytest.raises(PreconditionFailed) as err:
        commands.create_token(registry, store, commands.CreateToken(role, subject, partners))
    assert err.value.code == "not_found" and err.value.field == field
    assert registry.list() == []


def test_rotation_replaces_the_secret_and_keeps_the_grants(tokens: tuple[Any, GraphStore, Any]) -> None:
    registry, store, _ = tokens
    old, old_secret = commands.create_token(registry, store, commands.CreateToken("app", "hope-app", ("ptn-hope",), "crm"))
    new, new_secret = commands.rotate_token(registry, store, commands.RotateToken(old.id))
    assert (new.role, new.subject, new.partner_ids, new.label) == (old.role, old.subject, old.partner_ids, old.label)
    assert registry.lookup(old_secret) is None and registry.lookup(new_secret) is not None
    assert registry.get(old.id).replaced_by == new.id
    with pytest.raises(PreconditionFailed) as err:
        commands.rotate_token(registry, store, commands.RotateToken(old.id))
    assert err.value.code == "token_not_active"
    # With a grace period the old secret keeps working until it ends; it still rotates only once.
    _newer, newer_secret = commands.rotate_token(registry, store, commands.RotateToken(new.id, grace=timedelta(minutes=5)))
    assert registry.lookup(new_secret) is not None and registry.lookup(newer_secret) is not None
    assert parse_datetime(registry.get(new.id).expires_at) <= utcnow() + timedelta(minutes=5)
    with pytest.raises(PreconditionFailed):
        commands.rotate_token(registry, store, commands.RotateToken(new.id))
    with pytest.raises(PreconditionFailed) as missing:
        commands.rotate_token(registry, store, commands.RotateToken("tok_nope"))
    assert missing.value.code == "not_found"


def test_concurrent_rotations_of_one_token_exactly_one_succeeds(tokens: tuple[Any, GraphStore, Any]) -> None:
    registry, store, more = tokens
    ids = [commands.create_token(registry, store, commands.CreateToken("admin", f"root-{i}"))[0].id for i in range(ROUNDS)]
    barrier = threading.Barrier(WRITERS)
    outcomes: dict[int, list[str]] = {n: [] for n in range(ROUNDS)}
    lock = threading.Lock()

    def writer() -> None:
        mine = more()  # its own connection / driver
        try:
            for n, token_id in enumerate(ids):
                barrier.wait()
                try:
                    commands.rotate_token(mine, store, commands.RotateToken(token_id))
                    outcome = "ok"
                except PreconditionFailed as err:
                    outcome = err.code
                with lock:
                    outcomes[n].append(outcome)
        finally:
            mine.close()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for n in range(ROUNDS):
        assert sorted(outcomes[n]) == ["ok", *["token_not_active"] * (WRITERS - 1)], outcomes[n]
    listed = registry.list()
    assert len(listed) == 2 * ROUNDS  # each token and exactly one successor
    assert all(registry.get(i).replaced_by is not None for i in ids)


def test_the_cli_creates_with_an_expiry_rotates_and_refuses_unknown_subjects(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    build_db(db)
    runner = CliRunner()
    made = runner.invoke(app, ["token", "create", "--role", "provider", "--subject", "ana", "--expires", "12h", "--db", str(db)])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    registry = TokenStore(db)
    try:
        (info,) = registry.list()
        assert parse_datetime(info.expires_at) <= utcnow() + timedelta(hours=12)
        rotated = runner.invoke(app, ["token", "rotate", info.id, "--expires", "2030-01-01T00:00:00Z", "--db", str(db)])
        assert rotated.exit_code == 0, rotated.output
        new_secret = rotated.stdout.strip().splitlines()[-1]
        assert registry.lookup(secret) is None and registry.lookup(new_secret) is not None
        assert registry.get(info.id).replaced_by is not None
    finally:
        registry.close()
    refused = runner.invoke(app, ["token", "create", "--role", "provider", "--subject", "nobody", "--db", str(db)])
    assert refused.exit_code == 2 and "no Provider with id 'nobody'" in refused.output
    bad = runner.invoke(app, ["token", "create", "--role", "staff", "--expires", "soon", "--db", str(db)])
    assert bad.exit_code == 2 and "--expires" in bad.output and "Traceback" not in bad.output


def test_an_older_token_table_gains_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, subject TEXT, "
        "partners TEXT NOT NULL, label TEXT, created_at TEXT NOT NULL, revoked_at TEXT)"
    )
    conn.execute("INSERT INTO tokens VALUES ('tok_old', 'h', 'admin', 'root', '[]', NULL, '2026-01-01T00:00:00Z', NULL)")
    conn.commit()
    conn.close()
    registry = TokenStore(db)
    try:
        (old,) = registry.list()
        assert old.id == "tok_old" and old.expires_at is None and old.replaced_by is None
    finally:
        registry.close()


def test_a_change_by_another_connection_takes_effect_at_the_next_lookup(tmp_path: Path) -> None:
    """`TokenStore.lookup` remembers rows between requests; any change to the table, by any
    connection (the CLI, another worker, plain SQL), is seen by the very next lookup."""
    import sqlite3

    from api.tokens import hash_secret

    db = tmp_path / "tokens.db"
    build_db(db)
    server, store = TokenStore(db), MemoryStore(db)
    try:
        info, secret = commands.create_token(server, store, commands.CreateToken("staff", "s1"))
        assert server.lookup(secret) is not None
        assert server.lookup(secret) is not None  # now remembered
        assert runner_revoke(db, info.id) == 0  # the operator's CLI: its own connection
        assert server.lookup(secret) is None

        chosen = "ntk_" + "x" * 43
        assert server.lookup(chosen) is None  # an absence is remembered too
        conn = sqlite3.connect(db)
        conn.execute(
            "INSERT INTO tokens (id, hash, role, subject, partners, created_at) VALUES ('tok_sql', ?, 'admin', NULL, '[]', ?)",
            (hash_secret(chosen), "2026-01-01T00:00:00Z"),
        )
        conn.commit()
        assert server.lookup(chosen) is not None  # inserted by plain SQL: seen at once
        conn.execute("UPDATE tokens SET revoked_at = '2026-01-02T00:00:00Z' WHERE id = 'tok_sql'")
        conn.commit()
        conn.close()
        assert server.lookup(chosen) is None

        other = TokenStore(db)  # another worker rotates a token with a grace period
        try:
            old, old_secret = commands.create_token(server, store, commands.CreateToken("staff", "s2"))
            assert server.lookup(old_secret) is not None
            rotated = other.rotate(old.id, None, grace_until=utcnow() + timedelta(hours=1))
            assert rotated is not None
            assert server.lookup(rotated[1]) is not None and server.lookup(old_secret) is not None
            assert other.revoke(old.id)
            assert server.lookup(old_secret) is None and server.lookup(rotated[1]) is not None
        finally:
            other.close()
    finally:
        server.close()
        store.close()


def runner_revoke(db: Path, token_id: str) -> int:
    return CliRunner().invoke(app, ["token", "revoke", token_id, "--db", str(db)]).exit_code
