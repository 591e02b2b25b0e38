"""The first start's admin key: where it goes (a 0600 file in the data folder, and the terminal
when there is one; never the log, which containers and collectors keep and pass around) and the
address the start names for it."""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import sys
from pathlib import Path

from api.bootstrap import ConfigurationError
from api.settings import Settings
from resolvers.api_keys import IssuedKey
from storage.db import sqlite_path

log = logging.getLogger("sms_accounts")

FIRST_KEY_FILE = "first-admin-key"


def data_folder(settings: Settings) -> Path:
    """Where the server keeps its own files: SMS_DATA_DIR, else the SQLite database's folder,
    else ./data."""
    if settings.data_dir:
        return Path(settings.data_dir)
    path = sqlite_path(settings.database_url)
    return Path("data") if path is None else path.parent


def graphql_url(settings: Settings, host: str, port: int) -> str:
    """An address a person can open: SMS_PUBLIC_URL, else the bound one, with the loopback
    address for a wildcard (a browser cannot open http://0.0.0.0)."""
    if settings.public_url:
        return f"{settings.public_url}/graphql"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}/graphql"  # a host name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}/graphql"


def hand_over_first_key(settings: Settings, issued: IssuedKey, url: str) -> None:
    """The first admin key goes to a file only this user can read, and to the terminal when
    there is one; never to the log, which containers and collectors keep and pass around."""
    path = (data_folder(settings) / FIRST_KEY_FILE).resolve()
    try:
        write_private_file(path, issued.key + "\n")
    except OSError as exc:
        raise ConfigurationError(
            f"created workspace 'default' and an admin API key but could not save it to {path} "
            f"({exc.strerror}): make that folder writable (or set SMS_DATA_DIR), then run "
            "`sms-accounts create-api-key --workspace default --role admin`; the unsaved key "
            "expires unused"
        ) from exc
    assert issued.first_use_by is not None
    if settings.graphiql_enabled:
        use = f'Open {url} and put it in the header {{"Authorization": "Bearer <the key>"}}.'
    else:
        use = (
            f"GraphiQL is off here (SMS_ENV=production or SMS_GRAPHIQL=false): send the key as "
            f"the header Authorization: Bearer <the key> with each request to {url}."
        )
    if settings.accounts_page_enabled:
        use += f" The SMS Accounts page: open {url.removesuffix('/graphql')}/accounts and paste it."
    log.warning(
        "First start: created workspace 'default' and an admin API key, saved to %s (mode "
        "0600). It is refused unless used by %s (SMS_FIRST_KEY_TTL_SECONDS); once used it "
        "lives on. %s",
        path,
        issued.first_use_by.strftime("%Y-%m-%d %H:%M UTC"),
        use,
    )
    if sys.stdout.isatty():
        print(f"Your admin API key (shown once; also in {path}):\n  {issued.key}", flush=True)


def write_private_file(path: Path, text: str) -> None:
    """Write ``path`` readable by this user only (0600), replacing a stale one whole."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(partial, flags, stat.S_IRUSR | stat.S_IWUSR)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
