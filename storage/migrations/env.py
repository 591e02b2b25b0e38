"""Alembic environment for async engines (SQLite via aiosqlite, PostgreSQL via asyncpg)."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """The campaign job queue's tables are procrastinate's (revision 0009 applies its schema),
    not our models': ``alembic check`` leaves them alone."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = str(context.config.attributes["database_url"])
    engine = create_async_engine(url, hide_parameters=True)
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # WAL is a property of the file: set it once here, before any server connects,
            # so that no connection ever needs the exclusive lock that switching takes.
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
