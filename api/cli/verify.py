"""``needtoknow verify``: re-validate the stored graph and check every hash chain of the record.

Embedded: every journal row is re-validated (full pydantic validation, unlike replay on
start) and the record of decisions' chain in the same SQLite file is checked. Neo4j: every
node and relationship is read back and validated, and every writer's chain of the record of
decisions in Neo4j is checked (`graph.audit_neo4j`): what lives in Neo4j, not a local file.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import BackendOption, DbOption, Neo4jDatabaseOption, Neo4jUriOption, Neo4jUserOption, app, settings_for
from graph.errors import ChangeRejected, NeedToKnowError, StoreUnavailable
from graph.settings import Settings

__all__ = ["verify"]


@app.command()
def verify(
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Re-validate every stored record and check the record of decisions' hash chains. Exit 0 intact, 1 not, 2 unreachable."""
    settings = settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database)
    try:
        bad, broken = _verify_neo4j(settings) if settings.backend == "neo4j" else _verify_embedded(settings)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    raise typer.Exit(1 if bad or broken else 0)


def _report(broken: list[str]) -> None:
    for line in broken[:20]:
        render.err_console.print("[red]record of decisions:[/] " + escape(line))
    if len(broken) > 20:
        render.err_console.print(f"  ... and {len(broken) - 20} more")


def _verify_embedded(settings: Settings) -> tuple[int, list[str]]:
    from graph.audit import SqliteAuditLog
    from graph.stores.journal import Journal

    path = settings.db
    if not path.exists():
        raise StoreUnavailable(f"{path}: no such file")
    journal = Journal(path)
    rows, bad = 0, 0
    try:
        for _seq, _change in journal.read_since(0, trusted=False):
            rows += 1
    except ChangeRejected as err:
        bad += 1
        render.err_console.print(f"[red]journal row {rows + 1} does not validate:[/] " + escape(str(err)))
    finally:
        journal.close()
    audit = SqliteAuditLog(path)
    broken = list(audit.verify())
    records = audit.count()
    audit.close()
    _report(broken)
    chain = "intact" if not broken else "BROKEN"
    render.console.print(f"journal: {rows:,} rows validated; record of decisions: {records:,} records, chain {chain}")
    return bad, broken


def _verify_neo4j(settings: Settings) -> tuple[int, list[str]]:
    from graph.audit_neo4j import Neo4jAuditLog
    from graph.model import EdgeKind, NodeKind
    from graph.open import open_store
    from graph.stores.neo4j import Neo4jStore

    store = open_store(settings)
    assert isinstance(store, Neo4jStore)
    try:
        records = 0
        # Every node and relationship decodes only if it validates (graph.model).
        for kind in NodeKind:
            records += sum(1 for _ in store.nodes(kind))
        for edge_kind in EdgeKind:
            records += sum(1 for _ in store.edges(edge_kind))
        audit = Neo4jAuditLog(store, chain="chain-verify")
        broken = list(audit.verify())
        chains = [c for c in audit.chains() if c["n"]]
        decisions = audit.count()
    finally:
        store.close()
    _report(broken)
    state = "intact" if not broken else "BROKEN"
    render.console.print(
        f"neo4j: {records:,} nodes and relationships validated; record of decisions: {decisions:,} records in "
        f"{len(chains)} chains, {state}"
    )
    for c in chains:
        render.console.print(f"  {c['id']}: {c['n']:,} records, head {str(c['head'])[:16]}")
    return 0, broken
