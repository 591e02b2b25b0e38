"""Key rotation, as a use case: re-encrypt with the first key, and forget what no key opens
(the account then fails through the state machine)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from domain.vocabulary import AccountStatus, FailureReason
from resolvers import accounts
from resolvers.account_rows import stored_token
from resolvers.key_rotation import rotate_keys, secrets_per_key
from storage.crypto import SecretBox
from tests.unit.world import SECRET, TEST_KEY, World, world_on

NEW_KEY = os.urandom(32)


async def test_rotation_re_encrypts_every_secret_with_the_first_key(world: World) -> None:
    account = await world.add()
    await world.update(account.id, auth_token="0" * 32)  # a previous token too
    box = SecretBox([NEW_KEY, base64.b64decode(TEST_KEY)])

    report = await rotate_keys(world.services.writes, box)
    again = await rotate_keys(world.services.writes, box)

    assert (report.rotated, report.unreadable, again.rotated) == (2, [], 0)
    assert await secrets_per_key(world.services.reads) == {box.primary_key_id: 2}
    row = await world.row(account.id)
    assert stored_token(box, row) == "0" * 32


async def test_forgetting_an_unreadable_token_fails_its_account(unit_database: Path) -> None:
    async with world_on(unit_database) as world:
        account = await world.verified()
    # The key that wrote the token is gone: only another key is configured now.
    other = base64.b64encode(os.urandom(32)).decode()
    async with world_on(unit_database, encryption_keys=other) as world:
        box = world.services.secrets

        kept = await rotate_keys(world.services.writes, box)
        forgotten = await rotate_keys(world.services.writes, box, forget_unreadable=True)

        assert [column for _, column in kept.unreadable] == ["auth_token_ciphertext"]
        assert forgotten.forgotten == 1
        row = await world.row(account.id)
        assert (row.status, row.failure) == (AccountStatus.FAILED, FailureReason.TOKEN_UNREADABLE)
        assert (row.auth_token_ciphertext, row.next_check_at) == ("", None)
        # Entering the token again repairs it.
        repaired = await accounts.update_account(
            world.services, world.caller, account.id, {"auth_token": SECRET}
        )
        assert repaired.account is not None
        assert repaired.account.status is AccountStatus.DRAFT
