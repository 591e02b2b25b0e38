"""Workspace API keys: created and revoked from the CLI, checked on every request.

A key reads ``sms_<prefix>_<secret>``; only its SHA-256 is stored. The key carries 256 bits of
randomness, so a fast hash is enough: nobody can guess their way back from the hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers.domain import Caller, Role
from storage import queries
from storage.models import ApiKey, Workspace
from storage.types import utcnow

DEFAULT_WORKSPACE = "default"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    prefix: str
    workspace: str
    role: Role


KEYS_CHANNEL = "api-keys"  # revocations, for every replica's open websockets


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    key_id: str


class UnknownPrefixError(Exception):
    """No key, or more than one, has this prefix."""


async def authenticate(sessions: async_sessionmaker[AsyncSession], key: str) -> Caller | None:
    """The caller behind a bearer key, or None for a missing, unknown or revoked key."""
    if not key.startswith("sms_") or len(key) > 200:
        return None
    async with sessions() as session:
        owner = await queries.key_owner(session, hash_key(key))
    if owner is None:
        return None
    key_id, workspace_id, role = owner
    return Caller(workspace_id=workspace_id, role=Role(role), key_id=key_id)


async def create_api_key(
    sessions: async_sessionmaker[AsyncSession], workspace_name: str, role: Role
) -> IssuedKey:
    """Issue a key, creating the workspace when it is new."""
    prefix = "sms_" + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    async with sessions() as session:
        workspace = await queries.workspace_by_name(session, workspace_name)
        if workspace is None:
            workspace = Workspace(name=workspace_name)
            session.add(workspace)
            await session.flush()
        session.add(
            ApiKey(
                workspace_id=workspace.id, role=role.value, prefix=prefix, key_hash=hash_key(key)
            )
        )
        await session.commit()
    return IssuedKey(key=key, prefix=prefix, workspace=workspace_name, role=role)


async def revoke_api_key(sessions: async_sessionmaker[AsyncSession], prefix: str) -> ApiKey:
    """Revoke the key with this prefix (the part before the second underscore, or the whole key)."""
    wanted = "_".join(prefix.strip().split("_")[:2])
    async with sessions() as session:
        matches = list(await queries.keys_with_prefix(session, wanted))
        if len(matches) != 1:
            raise UnknownPrefixError(f"no API key has the prefix {wanted!r}")
        key = matches[0]
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            session.add(key)
            await session.commit()
        return key


async def bootstrap_first_key(sessions: async_sessionmaker[AsyncSession]) -> IssuedKey | None:
    """On an empty database: workspace ``default`` and one admin key. None when not empty."""
    async with sessions() as session:
        if await queries.count_workspaces(session) > 0:
            return None
    return await create_api_key(sessions, DEFAULT_WORKSPACE, Role.ADMIN)
