"""``sms-accounts``: serve, create-api-key, revoke-api-key, rotate-keys, migrate.

Every command that touches the database migrates it to head first.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from api.app import (
    ConfigurationError,
    check_keys_cover_secrets,
    create_app,
    event_bus,
    secret_box,
)
from api.settings import Settings, SettingsError, load_settings
from providers.redis_bus import RedisBus
from resolvers.api_keys import (
    KEYS_CHANNEL,
    KeyRevoked,
    UnknownPrefixError,
    bootstrap_first_key,
    create_api_key,
    revoke_api_key,
)
from resolvers.domain import Role
from resolvers.key_rotation import BATCH_SIZE, rotate_keys, secrets_per_key
from storage.db import create_engine, create_sessionmakers
from storage.migrate import migrate

T = TypeVar("T")


def _with_database(settings: Settings, work: Callable[..., Awaitable[T]], *args: object) -> T:
    async def run() -> T:
        engine = create_engine(settings.database_url)
        _, writes = create_sessionmakers(engine)
        try:
            return await work(writes, *args)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    migrate(settings.database_url)
    # Checked here too (create_app checks at start-up) so that it stops with exit code 2 and
    # a sentence rather than uvicorn's traceback.
    _with_database(settings, check_keys_cover_secrets, settings, secret_box(settings))
    app = create_app(settings)
    issued = _with_database(settings, bootstrap_first_key)
    if issued is not None:
        print(
            "First start: created workspace 'default' and this admin API key (shown once).\n"
            f"Open http://{args.host}:{args.port}/graphql and add the header\n"
            f'  {{"Authorization": "Bearer {issued.key}"}}',
            flush=True,
        )
    # uvicorn refuses an oversized websocket frame (1009) before buffering it; the app checks
    # the same limit for servers started some other way.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=True,
        ws_max_size=settings.ws_max_message_bytes,
    )
    return 0


def _create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    issued = _with_database(settings, create_api_key, args.workspace, Role(args.role))
    print(f"Created a {issued.role.value} key for workspace {issued.workspace!r}.")
    print(f"Prefix (for revoke-api-key): {issued.prefix}")
    print(issued.key)
    return 0


def _revoke_api_key(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    try:
        key = _with_database(settings, revoke_api_key, args.prefix)
    except UnknownPrefixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Revoked key {key.prefix}.")
    if not asyncio.run(_announce_revocation(settings, key.id)):
        print(
            "warning: could not tell the servers over the Redis bus; the key's open websockets "
            "close at their next key re-check (SMS_KEY_RECHECK_SECONDS).",
            file=sys.stderr,
        )
    return 0


async def _announce_revocation(settings: Settings, key_id: str) -> bool:
    """Every replica closes the key's open websockets on hearing this (HTTP needs nothing: no
    replica caches keys). In-process buses reach no server from here: their sockets re-check."""
    bus = event_bus(settings)
    if not isinstance(bus, RedisBus):
        return True
    try:
        await bus.announce(KEYS_CHANNEL, KeyRevoked(key_id))
    except Exception as exc:
        logging.getLogger(__name__).warning("revocation not announced: %s", type(exc).__name__)
        return False
    finally:
        await bus.stop()
    return True


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    box = secret_box(settings)
    report = _with_database(
        settings,
        functools.partial(
            rotate_keys, batch_size=args.batch_size, forget_unreadable=args.forget_unreadable
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
    usage = _with_database(settings, secrets_per_key)
    print("Secrets per key id:")
    for key_id, count in sorted(usage.items()):
        role = " (first key)" if key_id == box.primary_key_id else ""
        role = role or ("" if key_id in box.key_ids else " (not configured)")
        print(f"  {key_id}{role}: {count}")
    return 1 if len(report.unreadable) > report.forgotten else 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    print("Database is at the latest schema.")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(text)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sms-accounts", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(run=_serve)

    create = commands.add_parser("create-api-key", help="issue an API key (creates the workspace)")
    create.add_argument("--workspace", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.set_defaults(run=_create_api_key)

    revoke = commands.add_parser("revoke-api-key", help="revoke the key with this prefix")
    revoke.add_argument("prefix", metavar="KEY_PREFIX")
    revoke.set_defaults(run=_revoke_api_key)

    rotate = commands.add_parser(
        "rotate-keys", help="re-encrypt every stored secret with the first SMS_ENCRYPTION_KEYS key"
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

    commands.add_parser("migrate", help="migrate the database to the latest schema").set_defaults(
        run=_migrate
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        result: int = args.run(settings, args)
    except (SettingsError, ConfigurationError) as exc:
        print(f"sms-accounts: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
