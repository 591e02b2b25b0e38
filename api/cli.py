"""sms-accounts: serve, worker, create-api-key, list-api-keys, revoke-api-key, rotate-keys,
migrate, dev-twilio.

Every command that touches the database migrates it to the latest schema first and says on
stderr which database it uses. Commands other than serve refuse a SQLite database file that does
not exist unless --init is given: run from another folder, they would otherwise create a new,
empty database there, whose keys the running server refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.allocator import limit_malloc_arenas
from api.app import create_app
from api.bootstrap import (
    ConfigurationError,
    build_services,
    cache_versions,
    check_keys_cover_secrets,
    event_bus,
    open_database,
    refuse_a_lost_key_file,
    secret_box,
    uses_postgres,
    worker_plan,
)
from api.first_key import graphql_url, hand_over_first_key
from api.logs import configure_logging
from api.response_cache import BumpingBus
from api.settings import Settings, SettingsError, load_settings
from domain.vocabulary import Role
from providers.bus import EventBus, Subscription
from providers.cache_versions import Versions, VersionsUnavailable
from providers.redis_bus import RedisBus
from providers.sms.adapters import add_dev_commands
from resolvers.api_keys import (
    KEYS_CHANNEL,
    KeyRevoked,
    UnknownPrefixError,
    UnknownWorkspaceError,
    bootstrap_first_key,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from resolvers.campaign_jobs import JobScheduler, WorkerPlan
from resolvers.key_rotation import (
    BATCH_SIZE,
    RotationReport,
    announce_failed,
    rotate_keys,
    secrets_per_key,
)
from storage.db import connection_problem, sqlite_path
from storage.migrate import migrate

T = TypeVar("T")
log = logging.getLogger("sms_accounts")


def _with_database(settings: Settings, work: Callable[..., Awaitable[T]], *args: object) -> T:
    async def run() -> T:
        database = open_database(settings)
        try:
            return await work(database.writes, *args)
        finally:
            await database.close()

    return asyncio.run(run())


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    # Before any thread starts: each would otherwise get an arena of its own (api/allocator.py).
    limit_malloc_arenas(settings.malloc_arenas)
    migrate(settings.database_url)
    # Checked here too (create_app checks at start-up) so that it stops with exit code 2 and
    # a sentence rather than uvicorn's traceback.
    _with_database(settings, refuse_a_lost_key_file, settings)
    _with_database(settings, check_keys_cover_secrets, settings, secret_box(settings))
    app = create_app(build_services(settings))
    first_use_within = timedelta(seconds=settings.first_key_ttl_seconds)
    issued = _with_database(settings, bootstrap_first_key, first_use_within)
    if issued is not None:
        hand_over_first_key(settings, issued, graphql_url(settings, args.host, args.port))
    # uvicorn refuses an oversized websocket frame (1009) before buffering it; the app checks
    # the same limit for servers started some other way.
    # Our AccessLog writes the access lines (without query strings); uvicorn's loggers keep the
    # handler configure_logging set up, so every line has one format.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        log_config=None,
        ws_max_size=settings.ws_max_message_bytes,
    )
    return 0


def _create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    issue = functools.partial(create_api_key, create_workspace=args.create_workspace)
    try:
        issued = _with_database(settings, issue, args.workspace, Role(args.role))
    except UnknownWorkspaceError as exc:
        print(f"error: {exc}; add --create-workspace to create it", file=sys.stderr)
        return 1
    if issued.existing_workspaces is not None:
        existing = ", ".join(issued.existing_workspaces) or "none"
        log.warning("New workspace %r created (existing: %s).", issued.workspace, existing)
    role = issued.role.value
    article = "an" if role[0] in "aeiou" else "a"
    print(f"Created {article} {role} key for workspace {issued.workspace!r}.")
    print(f"Prefix (for revoke-api-key): {issued.prefix}")
    print(issued.key)
    return 0


def _revoke_api_key(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    try:
        key, already = _with_database(settings, revoke_api_key, args.prefix)
    except UnknownPrefixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if already:
        # Exit 0: the wanted state holds, and a retried script must not fail on it.
        assert key.revoked_at is not None
        print(f"Key {key.prefix} was already revoked on {_when(key.revoked_at)}; nothing changed.")
        return 0
    print(f"Revoked key {key.prefix}.")

    async def tell(servers: _Servers) -> None:
        # The revocation first: a server that hears it refuses the key from then on, and the
        # bump then drops the workspace's cached answers on every replica.
        await servers.announcer.publish(KEYS_CHANNEL, KeyRevoked(key.id))
        await servers.announcer.bump(key.workspace_id)

    if not asyncio.run(_tell_servers(settings, tell)):
        print(
            "warning: could not tell the servers over Redis; the key's open websockets close at "
            "their next key re-check (SMS_KEY_RECHECK_SECONDS), and cached answers expire within "
            "SMS_RESPONSE_CACHE_TTL_SECONDS.",
            file=sys.stderr,
        )
    return 0


class _Announcer:
    """The bus of a CLI command: straight to Redis (a command does not listen), bumping cache
    versions there too; it never raises, and remembers whether anything failed to get through."""

    def __init__(self, bus: RedisBus, versions: Versions | None) -> None:
        self._bus = bus
        self._versions = versions
        self.missed = False

    async def start(self) -> None:
        """Nothing runs in the background: each event is sent as it is published."""

    async def stop(self) -> None:
        await self._bus.stop()
        if self._versions is not None:
            await self._versions.aclose()

    async def publish(self, channel: str, message: object) -> None:
        if self.missed:
            return  # Redis failed once: the rest would wait out the same timeouts, one by one
        try:
            await self._bus.announce(channel, message)
        except Exception as exc:
            self._missed("event not announced", exc)

    async def bump(self, workspace_id: str) -> None:
        if self._versions is None or self.missed:
            return  # the servers cache nothing (SMS_RESPONSE_CACHE_BYTES=0), or Redis failed
        try:
            await self._versions.bump(workspace_id)
        except VersionsUnavailable as exc:
            self._missed("cache version not bumped", exc)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._bus.subscribe(channel)

    def _missed(self, what: str, exc: Exception) -> None:
        self.missed = True
        log.warning("%s: %s", what, type(exc).__name__)


@dataclass(frozen=True, slots=True)
class _Servers:
    """The running servers as a command reaches them (a ``Publisher``): the committed state to
    read events from, and a bus that bumps the cache versions before each cached-field event."""

    reads: async_sessionmaker[AsyncSession]
    bus: EventBus
    announcer: _Announcer


async def _tell_servers(settings: Settings, tell: Callable[[_Servers], Awaitable[None]]) -> bool:
    """Tell the servers about a change this command committed: through Redis when they share
    one; otherwise nothing reaches them from here, and their cached answers expire within
    SMS_RESPONSE_CACHE_TTL_SECONDS. False when Redis did not take all of it."""
    bus = event_bus(settings)
    if not isinstance(bus, RedisBus):
        return True
    announcer = _Announcer(bus, cache_versions(settings))
    database = open_database(settings)
    try:
        await tell(_Servers(database.reads, BumpingBus(announcer, announcer.bump), announcer))
    finally:
        await announcer.stop()
        await database.close()
    return not announcer.missed


def _list_api_keys(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    try:
        keys = _with_database(settings, list_api_keys, args.workspace)
    except UnknownWorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [("PREFIX", "WORKSPACE", "ROLE", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (
            key.prefix,
            key.workspace,
            key.role,
            _when(key.created_at),
            _last_use(key.last_used_at, key.first_use_by),
            _when(key.revoked_at) if key.revoked_at else "-",
        )
        for key in keys
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _last_use(last_used: datetime | None, first_use_by: datetime | None) -> str:
    if last_used is not None:
        return _when(last_used)
    if first_use_by is None:
        return "never"
    due = "expired" if first_use_by <= datetime.now(first_use_by.tzinfo) else "expires"
    return f"never ({due} {_when(first_use_by)})"


def _announce_database(database_url: str) -> None:
    """Say which database this command uses (never its credentials), loudly when it is new.
    Through the log (stderr), so SMS_LOG_FORMAT=json keeps every line JSON."""
    path = sqlite_path(database_url)
    if path is None:
        log.info("database %s", _shown_database(database_url))
    elif path.exists():
        log.info("database %s (SQLite)", path.resolve())
    else:
        log.warning(
            "NEW DATABASE: %s did not exist and is being created, empty. If you meant an "
            "existing one, run from its folder or set SMS_DATABASE_URL.",
            path.resolve(),
        )


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    box = secret_box(settings)
    report: RotationReport = _with_database(
        settings,
        functools.partial(
            rotate_keys,
            batch_size=args.batch_size,
            forget_unreadable=args.forget_unreadable,
            public_url=settings.public_url,
        ),
        box,
    )
    print(f"Re-encrypted {report.rotated} secret(s) with key {box.primary_key_id}.")
    if report.unreadable:
        print(
            f"Skipped {len(report.unreadable)} secret(s) that no configured key opens:",
            file=sys.stderr,
        )
        for account_id, column in report.unreadable:
            print(f"  account {account_id} ({column})", file=sys.stderr)
    if report.forgotten:
        print(
            f"Dropped {report.forgotten} unreadable secret(s): their accounts are Failed until "
            "their Auth Token is entered again."
        )
    if report.failed and not asyncio.run(
        _tell_servers(settings, functools.partial(announce_failed, report=report))
    ):
        print(
            "warning: could not tell the servers over Redis; cached answers show the Failed "
            "accounts within SMS_RESPONSE_CACHE_TTL_SECONDS, open pages when they refetch.",
            file=sys.stderr,
        )
    usage = _with_database(settings, secrets_per_key)
    print("Secrets per key id:")
    for key_id, count in sorted(usage.items()):
        role = " (first key)" if key_id == box.primary_key_id else ""
        role = role or ("" if key_id in box.key_ids else " (not configured)")
        print(f"  {key_id}{role}: {count}")
    return 1 if len(report.unreadable) > report.forgotten else 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Send campaigns, ``--concurrency`` at once, until SIGTERM or SIGINT (the jobs under way end
    their batch first): more of these, on more hosts, send more campaigns at once."""
    if not uses_postgres(settings):
        raise ConfigurationError(
            "sms-accounts worker needs PostgreSQL (SMS_DATABASE_URL=postgresql+asyncpg://…): on "
            "the embedded SQLite default, serve sends the campaigns itself"
        )
    migrate(settings.database_url)
    _with_database(settings, check_keys_cover_secrets, settings, secret_box(settings))
    plan = replace(worker_plan(settings, args.concurrency), install_signal_handlers=True)
    asyncio.run(_run_worker(settings, plan))
    return 0


async def _run_worker(settings: Settings, plan: WorkerPlan) -> None:
    runtime = build_services(settings, workers=plan)
    await runtime.start()
    log.info("campaign worker started: %d campaign(s) at once", plan.concurrency)
    try:
        assert isinstance(runtime.campaigns, JobScheduler)
        await runtime.campaigns.finished()
    finally:
        await runtime.stop()


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    print("Database is at the latest schema.")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(text)


_LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]


def _options(*, init: bool) -> argparse.ArgumentParser:
    """Options every command takes: the log level (debug shows a failure's traceback) and,
    except for serve, which creates its database, --init."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--log-level",
        default="info",
        choices=_LOG_LEVELS,
        help="debug also logs the traceback behind a one-line failure (default %(default)s)",
    )
    if init:
        options.add_argument(
            "--init",
            action="store_true",
            help="create the SQLite database when its file does not exist (without it the "
            "command refuses, naming the path it looked at)",
        )
    return options


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="sms-accounts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)
    common = [_options(init=True)]

    serve = commands.add_parser(
        "serve", parents=[_options(init=False)], help="run the GraphQL API server"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    serve.set_defaults(run=_serve, init=True)

    create = commands.add_parser(
        "create-api-key", parents=common, help="issue an API key for a workspace"
    )
    create.add_argument("--workspace", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--create-workspace",
        action="store_true",
        help="create the workspace when it does not exist (without it, an unknown workspace is "
        "refused and the existing ones listed)",
    )
    create.set_defaults(run=_create_api_key)

    listing = commands.add_parser(
        "list-api-keys",
        parents=common,
        help="list keys: prefix, role, created, last used (never the keys)",
    )
    listing.add_argument("--workspace", help="only this workspace's keys")
    listing.set_defaults(run=_list_api_keys)

    revoke = commands.add_parser(
        "revoke-api-key", parents=common, help="revoke the key with this prefix"
    )
    revoke.add_argument("prefix", metavar="KEY_PREFIX")
    revoke.set_defaults(run=_revoke_api_key)

    rotate = commands.add_parser(
        "rotate-keys",
        parents=common,
        help="re-encrypt every stored secret with the first SMS_ENCRYPTION_KEYS key",
    )
    rotate.add_argument(
        "--batch-size",
        type=_positive,
        default=BATCH_SIZE,
        help="accounts re-encrypted per transaction (default %(default)s)",
    )
    rotate.add_argument(
        "--forget-unreadable",
        action="store_true",
        help="drop secrets no configured key opens (a lost key): their accounts turn Failed "
        "until the Auth Token is entered again",
    )
    rotate.set_defaults(run=_rotate_keys)

    commands.add_parser(
        "migrate", parents=common, help="migrate the database to the latest schema"
    ).set_defaults(run=_migrate)

    worker = commands.add_parser(
        "worker",
        parents=[_options(init=False)],
        help="send campaigns (PostgreSQL): add these to send more campaigns at once",
    )
    worker.add_argument(
        "--concurrency",
        type=_positive,
        default=10,
        help="campaigns this worker sends at once (default %(default)s)",
    )
    worker.set_defaults(run=_worker, init=True)  # PostgreSQL only: nothing is created
    add_dev_commands(commands, [_options(init=False)])
    return root


def _refuse_a_missing_database(settings: Settings, args: argparse.Namespace) -> None:
    """Run from another folder, a relative SQLite path names a file that is not there: making
    it would give keys the running server refuses. Only serve and --init create one."""
    path = sqlite_path(settings.database_url)
    if path is None or args.init or path.exists():
        return
    raise ConfigurationError(
        f"no database at {path.resolve()} (SMS_DATABASE_URL={settings.database_url}, read from "
        f"{Path.cwd()}): run the command in the server's folder or set SMS_DATABASE_URL to the "
        "server's database; --init creates a new, empty one there"
    )


def _shown_database(database_url: str) -> str:
    """The database's URL without user and password (URL.set cannot unset them)."""
    url = make_url(database_url)
    shown = URL.create(url.drivername, host=url.host, port=url.port, database=url.database)
    return shown.render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    """Failures a user can fix (settings, an unreachable or unusable database, a missing file)
    are one line on stderr and exit code 2; their traceback is logged at debug level only."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"sms-accounts: {exc}", file=sys.stderr)
        return 2
    # Only the server batches its lines: a command's lines come before its own output.
    flush = settings.log_flush_seconds if args.command == "serve" else 0.0
    configure_logging(settings.log_format, flush_seconds=flush)
    # Ours only: a library's debug lines could carry SQL parameters (aiosqlite logs them).
    log.setLevel(getattr(logging, args.log_level.upper()))
    try:
        if getattr(args, "uses_database", True):
            _refuse_a_missing_database(settings, args)
            _announce_database(settings.database_url)
        result: int = args.run(settings, args)
    except (SettingsError, ConfigurationError) as exc:
        log.debug("stopped", exc_info=True)
        print(f"sms-accounts: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        problem = connection_problem(exc)
        if problem is None:
            raise
        log.debug("the database could not be used", exc_info=True)
        print(
            f"sms-accounts: cannot use the database {_shown_database(settings.database_url)} "
            f"(SMS_DATABASE_URL): {problem.reason}; {problem.fix}.",
            file=sys.stderr,
        )
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
