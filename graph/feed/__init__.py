"""The feed: access changes derived from every commit and from the passing of time.

DOMAIN.md, "Changes of access"; DESIGN.md, "The feed"; docs/feed.md.

- `outbox`: the row each store writes in the same transaction as a commit (what it touched).
- `lapses`: the instants at which a pair's decision may change with no write.
- `events`: the access-change record, its stable id and its wire shape.
- `tables`: what the feed keeps (events, last announced access, cursors, lease, webhooks), as a protocol;
- `store` / `store_neo4j`: those tables in SQLite (embedded) or in Neo4j (shared by every instance);
- `registry`: the one a process uses, by backend.
- `deriver`: turns outbox rows and lapsed instants into events, exactly once per cause.
- `forecast`: what will lapse within a window, and who loses access.
- `audience`: which events a subscriber may receive.
"""
