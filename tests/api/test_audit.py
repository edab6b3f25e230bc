"""Every decision is recorded before it is answered; when the record cannot be written, the
answer is deny(audit_unavailable). Drilled over HTTP with the admin-only test hook, which
exists only when the `test_hooks` setting is on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
from typer.testing import CliRunner

from api.cli import app
from tests.api.conftest import Api, build_db

CHECK = '{ check(request: {providerId: "ana", studentId: "sam"}) { allowed outcome reasons { code } } }'


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])


def test_each_answer_is_recorded_first(api: Api) -> None:
    before = count(api.db)
    api.gql(CHECK, role="provider")
    api.gql("query($r: [CheckInput!]!) { checkMany(requests: $r) { allowed } }", {"r": [{"providerId": "ana", "studentId": "sam"}] * 7})
    assert count(api.db) == before + 8


def test_audit_unavailable_denies_over_http(api: Api) -> None:
    hook = f"{api.url}/_test/audit"
    admin = {"Authorization": f"Bearer {api.tokens['admin']}"}
    assert (
        api.client.post(hook, json={"available": False}, headers={"Authorization": f"Bearer {api.tokens['provider']}"}).status_code == 403
    )
    assert api.client.post(hook, json={"available": False}).status_code == 401
    assert api.client.post(hook, json={"available": False}, headers=admin).status_code == 200
    try:
        for role in ("provider", "admin", "app"):
            d = api.gql(CHECK, role=role)["check"]
            assert d["allowed"] is False and d["outcome"] == "DENY"
            assert "AUDIT_UNAVAILABLE" in [r["code"] for r in d["reasons"]]
        assert api.client.get(f"{api.url}/readyz").status_code == 503
        page = api.gql('{ accessibleStudents(providerId: "ana") { edges { cursor } } }')
        assert page["accessibleStudents"]["edges"] == []
    finally:
        api.client.post(hook, json={"available": True}, headers=admin)
    assert api.gql(CHECK, role="provider")["check"]["allowed"] is True
    assert api.client.get(f"{api.url}/readyz").status_code == 200


def test_hook_is_absent_unless_enabled(fresh_api: Api) -> None:
    r = fresh_api.client.post(
        f"{fresh_api.url}/_test/audit", json={"available": False}, headers={"Authorization": f"Bearer {fresh_api.tokens['admin']}"}
    )
    assert r.status_code == 404


def test_read_only_database_denies(tmp_path: Path) -> None:
    # the record of decisions really cannot be written: a read-only connection is swapped in
    from graph.audit import SqliteAuditLog
    from graph.decision import CheckRequest
    from tests.api.conftest import build_db
    from tests.world import NOON

    db = tmp_path / "ro.db"
    build_db(db)
    audit = SqliteAuditLog(db)
    audit.conn.close()
    audit.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    from graph.engine import Engine
    from graph.stores.memory import MemoryStore

    engine = Engine(MemoryStore(db), audit=audit)
    from graph.audit import Caller

    [d] = engine.check_many([CheckRequest("ana", "sam", NOON)], caller=Caller(), token=None, strict_ids=False)
    assert not d.allowed and "audit_unavailable" in [str(c) for c in d.codes]


def test_healthz_and_readyz(api: Api) -> None:
    assert api.client.get(f"{api.url}/healthz").json() == {"status": "ok"}
    assert api.client.get(f"{api.url}/readyz").json()["status"] == "ready"


def test_token_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    build_db(db)
    runner = CliRunner()
    # Subjects and partners must exist, with the right kind.
    for args in (
        ["--role", "app", "--subject", "x", "--partner", "ptn-nowhere"],
        ["--role", "provider", "--subject", "sam"],
        ["--role", "guardian", "--subject", "ana"],
    ):
        refused = runner.invoke(app, ["token", "create", *args, "--db", str(db)])
        assert refused.exit_code == 2 and "no " in refused.output, refused.output
    r = runner.invoke(app, ["token", "create", "--role", "app", "--subject", "hope-app", "--partner", "ptn-hope", "--db", str(db)])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[-1]
    assert secret.startswith("ntk_")
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT hash FROM tokens").fetchone()[0]
    assert secret not in stored and len(stored) == 64
    listed = runner.invoke(app, ["token", "list", "--db", str(db)])
    assert "hope-app" in listed.output and secret not in listed.output
    token_id = next(line.split()[0] for line in listed.output.splitlines() if "hope-app" in line)
    assert runner.invoke(app, ["token", "revoke", token_id, "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["token", "revoke", token_id, "--db", str(db)]).exit_code == 2
    assert runner.invoke(app, ["token", "create", "--role", "wizard", "--db", str(db)]).exit_code == 2
    assert runner.invoke(app, ["token", "create", "--role", "provider", "--db", str(db)]).exit_code == 2


def test_schema_export_check(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["schema", "export", "--check"]).exit_code == 0
    out = tmp_path / "s.graphql"
    assert runner.invoke(app, ["schema", "export", "--out", str(out)]).exit_code == 0
    out.write_text("type Query { stale: Int }\n")
    assert runner.invoke(app, ["schema", "export", "--out", str(out), "--check"]).exit_code == 1


def test_asgi_transport_smoke(tmp_path: Path) -> None:
    # a smaller part through httpx's ASGI transport (lifespan run by hand)
    import asyncio

    from api.app import create_app
    from api.config import ApiSettings
    from tests.api.conftest import build_db, make_tokens

    db = tmp_path / "asgi.db"
    build_db(db)
    tokens = make_tokens(db)
    application = create_app(ApiSettings(db=db))

    async def run() -> httpx.Response:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.post("/graphql", json={"query": CHECK}, headers={"Authorization": f"Bearer {tokens['provider']}"})

    r = asyncio.run(run())
    assert r.status_code == 200 and r.json()["data"]["check"]["allowed"] is True
