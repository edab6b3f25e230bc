"""Open a store and an engine from settings: the one place that picks a backend."""

from __future__ import annotations

from graph.audit import SqliteAuditLog
from graph.engine import Engine
from graph.settings import Settings
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore

__all__ = ["open_engine", "open_store"]


def open_store(settings: Settings) -> GraphStore:
    """The store named by ``settings.backend``.

    Raises StoreUnavailable when it cannot be opened or reached.
    """
    if settings.backend == "neo4j":
        from graph.stores.neo4j import Neo4jStore  # imported lazily: the driver is only needed here

        return Neo4jStore(
            settings.neo4j_uri,
            user=settings.neo4j_user,
            password=settings.password(),
            database=settings.neo4j_database,
            max_tx_rows=settings.neo4j_max_tx_rows,
        )
    return MemoryStore(settings.db)


def open_engine(settings: Settings, store: GraphStore | None = None) -> Engine:
    """An engine over the configured store (or `store`, already open: a forked worker's
    preloaded graph, `api.prefork`) and its record of decisions.

    Embedded: the record is in ``settings.db`` (the journal's SQLite file). Neo4j: the record
    is in Neo4j, one hash chain per engine (DESIGN.md, "What lives where"), so every API
    instance over one database shares it and the local disk holds nothing another needs.
    """
    store = store if store is not None else open_store(settings)
    if settings.backend == "neo4j":
        from graph.audit_neo4j import Neo4jAuditLog
        from graph.stores.neo4j import Neo4jStore

        assert isinstance(store, Neo4jStore)
        return Engine(store, settings.policy(), Neo4jAuditLog(store))
    return Engine(store, settings.policy(), SqliteAuditLog(settings.db))
