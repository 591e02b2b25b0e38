"""Re-encrypt every stored secret with the first configured key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers.accounts import previous_secret_binding, secret_binding
from storage import queries
from storage.crypto import SecretBox


async def rotate_keys(writes: async_sessionmaker[AsyncSession], box: SecretBox) -> int:
    """Returns how many secrets were re-encrypted. Safe to run again; safe beside a live server."""
    rotated = 0
    async with writes() as session:
        for account_id, column, stored in await queries.all_secrets(session):
            if not box.needs_rotation(stored):
                continue
            binding = (
                secret_binding(account_id)
                if column == "auth_token_ciphertext"
                else previous_secret_binding(account_id)
            )
            fresh = box.encrypt(box.decrypt(stored, bound_to=binding), bound_to=binding)
            if await queries.replace_secret(session, account_id, column, stored, fresh):
                rotated += 1
        await session.commit()
    return rotated
