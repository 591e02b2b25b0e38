"""``sms-accounts``: serve, create-api-key, revoke-api-key, rotate-keys, migrate.

Every command that touches the database migrates it to head first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from api.app import ConfigurationError, create_app, secret_box
from api.logs import configure_logging
from api.settings import Settings, SettingsError, load_settings
from resolvers.api_keys import (
    UnknownPrefixError,
    bootstrap_first_key,
    create_api_key,
    revoke_api_key,
)
from resolvers.domain import Role
from resolvers.key_rotation import rotate_keys
from storage.db import create_engine, create_sessionmakers
from storage.migrate import migrate

T = TypeVar("T")
log = logging.getLogger("sms_accounts")


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
    app = create_app(settings)
    issued = _with_database(settings, bootstrap_first_key)
    if issued is not None:
        # Through the log, so a container's log (and SMS_LOG_FORMAT=json) carries it too.
        log.warning(
            "First start: created workspace 'default' and this admin API key (shown once).\n"
            "Open http://%s:%s/graphql and add the header\n"
            '  {"Authorization": "Bearer %s"}',
            args.host,
            args.port,
            issued.key,
        )
    # Our AccessLog writes the access lines (without query strings); uvicorn's loggers keep the
    # handler configure_logging set up, so every line has one format.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        log_config=None,
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
    return 0


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    box = secret_box(settings)
    count = _with_database(settings, rotate_keys, box)
    print(f"Re-encrypted {count} secret(s) with key {box.primary_key_id}.")
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.database_url)
    print("Database is at the latest schema.")
    return 0


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
    rotate.set_defaults(run=_rotate_keys)

    commands.add_parser("migrate", help="migrate the database to the latest schema").set_defaults(
        run=_migrate
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_format)
        result: int = args.run(settings, args)
    except (SettingsError, ConfigurationError) as exc:
        print(f"sms-accounts: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
