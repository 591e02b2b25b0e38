"""Workspace API keys: created and revoked from the CLI, checked on every request.

A key reads ``sms_<prefix>_<secret>``; only its SHA-256 is stored. The key carries 256 bits of
randomness, so a fast hash is enough: nobody can guess their way back from the hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.vocabulary import Caller, Role
from resolvers.unit import unit_of_work
from storage import queries
from storage.models import ApiKey, Workspace
from storage.types import utcnow

DEFAULT_WORKSPACE = "default"
# How stale a key's recorded last use may get: a write a minute per key, not one per request.
LAST_USE_INTERVAL = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    prefix: str
    workspace: str
    role: Role
    # Set when this call created the workspace: the names of the ones that existed before.
    existing_workspaces: tuple[str, ...] | None = None
    # A key that must be used by then or is refused (the first start's); None: no deadline.
    first_use_by: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyListing:
    prefix: str
    workspace: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    first_use_by: datetime | None


class UnknownWorkspaceError(Exception):
    """A ``--workspace`` that names no workspace; the message lists the existing ones."""


async def _unknown_workspace(session: AsyncSession, name: str) -> UnknownWorkspaceError:
    names = ", ".join(await queries.workspace_names(session)) or "none"
    return UnknownWorkspaceError(f"no workspace {name!r} (existing: {names})")


KEYS_CHANNEL = "api-keys"  # revocations, for every replica's open websockets


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    key_id: str


class UnknownPrefixError(Exception):
    """No key, or more than one, has this prefix."""


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    *,
    writes: async_sessionmaker[AsyncSession] | None = None,
) -> Caller | None:
    """The caller behind a bearer key, or None for a missing, unknown or revoked key. With
    ``writes``, the use is recorded for ``list-api-keys``, at most once a LAST_USE_INTERVAL."""
    if not key.startswith("sms_") or len(key) > 200:
        return None
    now = utcnow()
    async with sessions() as session:
        owner = await queries.key_owner(session, hash_key(key), now)
    if owner is None:
        return None
    key_id, workspace_id, role, last_used = owner
    stale = now - LAST_USE_INTERVAL
    if writes is not None and (last_used is None or last_used < stale):
        async with unit_of_work(writes) as unit:
            await queries.touch_key(unit.session, key_id, now, stale)
    return Caller(workspace_id=workspace_id, role=Role(role), key_id=key_id)


async def create_api_key(
    sessions: async_sessionmaker[AsyncSession],
    workspace_name: str,
    role: Role,
    *,
    create_workspace: bool = True,
    first_use_within: timedelta | None = None,
) -> IssuedKey:
    """Issue a key. A workspace that does not exist is created with ``create_workspace``, else
    refused (UnknownWorkspaceError): the CLI creates one only when asked, so a typo cannot.
    With ``first_use_within``, the key is refused unless used within that time."""
    prefix = "sms_" + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    existing: tuple[str, ...] | None = None
    first_use_by = None if first_use_within is None else utcnow() + first_use_within
    async with unit_of_work(sessions) as unit:
        session = unit.session
        workspace = await queries.workspace_by_name(session, workspace_name)
        if workspace is None:
            if not create_workspace:
                raise await _unknown_workspace(session, workspace_name)
            existing = tuple(await queries.workspace_names(session))
            workspace = Workspace(name=workspace_name)
            session.add(workspace)
            await session.flush()
        session.add(
            ApiKey(
                workspace_id=workspace.id,
                role=role.value,
                prefix=prefix,
                key_hash=hash_key(key),
                first_use_by=first_use_by,
            )
        )
    return IssuedKey(
        key=key,
        prefix=prefix,
        workspace=workspace_name,
        role=role,
        existing_workspaces=existing,
        first_use_by=first_use_by,
    )


async def list_api_keys(
    sessions: async_sessionmaker[AsyncSession], workspace_name: str | None
) -> list[KeyListing]:
    """Every key (of one workspace), revoked ones included; never a key or its hash."""
    async with sessions() as session:
        rows = await queries.key_listing(session, workspace_name)
        unknown = not rows and workspace_name is not None
        if unknown and await queries.workspace_by_name(session, workspace_name or "") is None:
            raise await _unknown_workspace(session, workspace_name or "")
    return [KeyListing(*row) for row in rows]


async def revoke_api_key(
    sessions: async_sessionmaker[AsyncSession], prefix: str
) -> tuple[ApiKey, bool]:
    """Revoke the key with this prefix (the part before the second underscore, or the whole key).
    Answers the key and whether it was already revoked (then nothing changes)."""
    wanted = "_".join(prefix.strip().split("_")[:2])
    async with unit_of_work(sessions) as unit:
        matches = list(await queries.keys_with_prefix(unit.session, wanted))
        if len(matches) != 1:
            raise UnknownPrefixError(f"no API key has the prefix {wanted!r}")
        key = matches[0]
        if key.revoked_at is not None:
            return key, True
        key.revoked_at = utcnow()
    return key, False


async def bootstrap_first_key(
    sessions: async_sessionmaker[AsyncSession], first_use_within: timedelta
) -> IssuedKey | None:
    """On an empty database: workspace ``default`` and one admin key, refused unless used within
    ``first_use_within`` (it is written to a file, where a forgotten one would stay valid for
    good). None when the database is not empty."""
    async with sessions() as session:
        if await queries.count_workspaces(session) > 0:
            return None
    return await create_api_key(
        sessions, DEFAULT_WORKSPACE, Role.ADMIN, first_use_within=first_use_within
    )
