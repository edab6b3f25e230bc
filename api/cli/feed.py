"""``needtoknow feed tail`` and ``needtoknow webhooks add|list|remove|redeliver|dead`` (docs/feed.md)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import structlog
import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import DbOption, app, settings_for
from api.webhooks.service import LEASE
from api.webhooks.signing import new_secret
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.commands.remove_webhook import redeliver_webhook, remove_webhook
from graph.errors import NeedToKnowError
from graph.feed.audience import Audience
from graph.feed.deriver import Deriver
from graph.feed.events import AccessChange
from graph.feed.outbox_read import OutboxReader
from graph.feed.registry import FEED_OFF
from graph.feed.status import feed_status
from graph.feed.store import FeedStore
from graph.feed.tables import FeedTables
from graph.open import open_store
from graph.settings import Settings
from graph.timeutil import to_iso, utcnow

__all__ = ["feed_status_cmd", "feed_tail", "webhooks_add"]

feed_app = typer.Typer(help="The access-change feed (docs/feed.md).", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook endpoints that receive the feed, signed per Standard Webhooks.", no_args_is_help=True)
app.add_typer(feed_app, name="feed")
app.add_typer(webhooks_app, name="webhooks")

_ADMIN = Audience("admin")


def _line(e: AccessChange) -> str:
    codes = ",".join(r["code"] for r in e.reasons) or "-"
    before = ",".join(e.before) or "none"
    after = ",".join(e.after) or "none"
    return (
        f"{e.position:>6}  {to_iso(e.effective_at)}  {e.kind!s:<8} {e.provider_id} -> {e.student_id}  "
        f"[{before}] -> [{after}]  {e.cause}  reasons={codes}  id={e.id}"
    )


def _open_feed(settings: Settings) -> FeedTables:
    """The feed's tables: in Neo4j with ``--backend neo4j``, else the SQLite file of
    `Settings.feed_path`; exit 2 with why when they cannot be opened."""
    if settings.backend == "neo4j":
        from graph.feed.store_neo4j import Neo4jFeedStore
        from graph.stores.neo4j import Neo4jStore

        try:
            store = open_store(settings)
            assert isinstance(store, Neo4jStore)
            try:
                return Neo4jFeedStore(store, owns_store=True)
            except BaseException:
                store.close()
                raise
        except NeedToKnowError as err:
            render.error(f"{err}")
            raise typer.Exit(2) from err
    path = settings.feed_path()
    if path is None:
        render.error(FEED_OFF)
        raise typer.Exit(2)
    if not settings.db.exists():
        render.error(f"no store at {settings.db}: give --db (or NTK_DB)")
        raise typer.Exit(2)
    try:
        return FeedStore(path)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err


def _derive_once(settings: Settings, feed: FeedTables, holder: str) -> None:
    """Derive pending changes here when no server holds the feed's lease (a CLI-only install)."""
    if not feed.lease(LEASE, holder, time.time(), 30.0):
        return
    store = open_store(settings)
    deriver = Deriver(store, feed, settings.policy(), utcnow)
    try:
        deriver.step()
        deriver.step()
    finally:
        deriver.close()
        store.close()
        feed.release(LEASE, holder)


@feed_app.command("tail")
def feed_tail(
    db: DbOption = None,
    after: Annotated[int, typer.Option("--after", help="Print changes after this cursor (default: the last --last).")] = -1,
    last: Annotated[int, typer.Option("--last", help="Without --after: how many of the newest changes to print first.")] = 20,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f", help="Keep printing changes as they are derived.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line (the webhook `data` shape).")] = False,
) -> None:
    """Print access changes (every change, every reason: the operator's view).

    When no server is running the feed, pending changes are derived first.
    """
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout carries the changes
    settings = settings_for(db)
    feed = _open_feed(settings)
    holder = f"cli-{time.time_ns()}"
    try:
        _derive_once(settings, feed, holder)
        pos = after if after >= 0 else max(0, feed.head() - last)
        while True:
            batch = feed.events_after(pos, 500)
            for e in batch:
                pos = e.position
                print(json.dumps(_ADMIN.wire(e), sort_keys=True) if as_json else escape(_line(e)), flush=True)
            if not follow:
                break
            if not batch:
                time.sleep(0.2)
                _derive_once(settings, feed, holder)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    except KeyboardInterrupt:
        pass
    finally:
        feed.close()


@feed_app.command("status")
def feed_status_cmd(
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (the `feed` field of /readyz, without the process's own fields).")
    ] = False,
) -> None:
    """How far behind the feed is: outbox rows not derived yet and the age of the oldest, who
    holds the lease, the last error a feed service recorded. Exit 0; 2 when unreadable."""
    settings = settings_for(db)
    feed = _open_feed(settings)
    store = None
    try:
        store = open_store(settings)
        reader = OutboxReader(store)
        try:
            status = feed_status(reader, feed, utcnow())
        finally:
            reader.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        feed.close()
        if store is not None:
            store.close()
    if as_json:
        print(json.dumps(status.wire(), sort_keys=True))
        return
    w = status.wire()
    print(f"outbox rows not derived: {status.lag_rows} (oldest {w['lagSeconds']} s)")
    print(f"derived up to outbox seq {status.outbox_done} of {status.outbox_head}")
    print(f"lapses processed up to: {w['clockDone'] or 'never'}; events: {status.events}")
    print(f"lease: {status.lease_holder or 'none'}" + (f" ({w['leaseSecondsLeft']} s left)" if status.lease_holder else ""))
    print(f"last error: {status.last_error or 'none'}" + (f" at {w['lastErrorAt']}" if status.last_error else ""))


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives POSTs.")],
    role: Annotated[str, typer.Option("--role", help="Whose changes: app (its partners' providers), provider, guardian, admin.")] = "app",
    subject: Annotated[str | None, typer.Option("--subject", help="The provider or guardian id; an app's name.")] = None,
    partner: Annotated[list[str] | None, typer.Option("--partner", help="Partner id an app acts for (repeatable).")] = None,
    db: DbOption = None,
) -> None:
    """Register an endpoint; print its id, then its signing secret (shown once)."""
    settings = settings_for(db)
    feed = _open_feed(settings)
    store = None
    try:
        store = open_store(settings)
        endpoint = add_webhook(feed, store, AddWebhook(url, role, subject, tuple(partner or ())), now=utcnow(), secret=new_secret())
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        feed.close()
        if store is not None:
            store.close()
    render.err_console.print(f"added {endpoint.id} -> {endpoint.url} ({endpoint.role}); the signing secret is shown once:")
    print(endpoint.id)
    print(endpoint.secret)


@webhooks_app.command("list")
def webhooks_list(
    db: DbOption = None, removed: Annotated[bool, typer.Option("--removed", help="Include removed endpoints.")] = False
) -> None:
    """List endpoints with their cursor and dead letters (never their secrets)."""
    feed = _open_feed(settings_for(db))
    try:
        head = feed.head()
        for e in feed.endpoints(include_removed=removed):
            dead = len([d for d in feed.dead_letters(e.id) if d.delivered_at is None])
            who = f"subject={e.subject or '-'} partners={','.join(e.partners) or '-'}"
            state = f"removed {to_iso(e.removed_at)}" if e.removed_at else "active"
            render.console.print(escape(f"{e.id}  {e.role:<8} {who}  {e.url}  cursor={e.cursor}/{head} dead={dead}  {state}"))
    finally:
        feed.close()


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (whk-...).")], db: DbOption = None) -> None:
    """Stop deliveries to an endpoint."""
    feed = _open_feed(settings_for(db))
    try:
        remove_webhook(feed, endpoint_id, now=utcnow())
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        feed.close()
    render.console.print(f"removed {endpoint_id}")


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id (whk-...).")],
    event: Annotated[str | None, typer.Option("--event", help="Only this dead letter (event id).")] = None,
    from_cursor: Annotated[int | None, typer.Option("--from", help="Rewind: send every change after this cursor again.")] = None,
    db: DbOption = None,
) -> None:
    """Send the endpoint's dead letters again (or one, or rewind its cursor)."""
    feed = _open_feed(settings_for(db))
    try:
        n = redeliver_webhook(feed, endpoint_id, event_id=event, from_cursor=from_cursor)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        feed.close()
    render.console.print(
        f"rewound {endpoint_id} to {from_cursor}" if from_cursor is not None else f"{n} dead letter(s) queued for {endpoint_id}"
    )


@webhooks_app.command("dead")
def webhooks_dead(
    endpoint_id: Annotated[str | None, typer.Argument(help="Endpoint id; all endpoints when omitted.")] = None, db: DbOption = None
) -> None:
    """The dead-letter list: events an endpoint did not accept after every retry."""
    feed = _open_feed(settings_for(db))
    try:
        for d in feed.dead_letters(endpoint_id):
            state = f"redelivered {to_iso(d.delivered_at)}" if d.delivered_at else ("queued" if d.redeliver else "dead")
            render.console.print(escape(f"{d.endpoint_id}  cursor={d.pos}  {d.event_id}  attempts={d.attempts}  {d.last_error}  {state}"))
    finally:
        feed.close()
