"""Alembic, driven from code: every command that touches the database migrates it to head first."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    """Bring the schema to head. Synchronous: call it outside a running event loop."""
    from storage.db import create_sqlite_file, sqlite_path

    path = sqlite_path(database_url)
    if path is not None:
        create_sqlite_file(path)
    command.upgrade(alembic_config(database_url), "head")


def check(database_url: str) -> None:
    """Fail when the models and the migrations disagree (``alembic check`` on a migrated db)."""
    migrate(database_url)
    command.check(alembic_config(database_url))


if __name__ == "__main__":
    import sys

    check(sys.argv[1])
