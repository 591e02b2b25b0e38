"""Key management: which keys the stored secrets need, and re-encryption with the first key."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.account_states import to_failed
from domain.accounts import Account
from domain.vocabulary import FailureReason
from resolvers import events
from resolvers.account_rows import previous_secret_binding, secret_binding, to_account
from resolvers.services import Publisher
from resolvers.unit import unit_of_work
from storage import queries
from storage.crypto import STORED_PREFIX_LENGTH, SecretBox, SecretError, key_id_of
from storage.types import utcnow

MALFORMED = "malformed"  # a stored secret that names no key at all
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class FailedAccount:
    """An account that forgetting its Auth Token turned Failed, as it was and as it is now."""

    workspace_id: str
    before: Account
    after: Account


@dataclass(slots=True)
class RotationReport:
    rotated: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (account id, column)
    forgotten: int = 0
    failed: list[FailedAccount] = field(default_factory=list)  # for the servers to hear of


async def secrets_per_key(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many stored secrets each key id holds (MALFORMED: ones that name no key)."""
    async with sessions() as session:
        prefixes = await queries.secrets_by_prefix(session, STORED_PREFIX_LENGTH)
    usage: dict[str, int] = {}
    for prefix, count in prefixes.items():
        key_id = key_id_of(prefix) or MALFORMED
        usage[key_id] = usage.get(key_id, 0) + count
    return usage


async def missing_key_ids(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> list[str]:
    """Key ids that stored secrets were written with but that are not configured."""
    usage = await secrets_per_key(sessions)
    return sorted(key_id for key_id in usage if key_id not in box.key_ids and key_id != MALFORMED)


async def rotate_keys(
    writes: async_sessionmaker[AsyncSession],
    box: SecretBox,
    *,
    batch_size: int = BATCH_SIZE,
    forget_unreadable: bool = False,
    public_url: str | None = None,
) -> RotationReport:
    """Re-encrypt every secret not written with the first key, one transaction per batch of
    accounts; secrets no configured key opens are skipped and reported (or, with
    ``forget_unreadable``, dropped: their accounts fail until the token is entered again, and
    ``report.failed`` lists them for ``announce_failed``; ``public_url`` as the server's).
    Safe to run again; safe beside a live server (each swap is conditional on what it read)."""
    report = RotationReport()
    forget = _Forget(public_url) if forget_unreadable else None
    after = ""
    while True:
        async with unit_of_work(writes) as unit:
            rows = await queries.secrets_page(unit.session, after, batch_size)
            for account_id, current, previous in rows:
                for column, stored in zip(queries.SECRET_COLUMNS, (current, previous), strict=True):
                    if stored:
                        secret = _Stored(account_id, column, stored)
                        await _rotate_one(unit.session, box, secret, report, forget)
        if len(rows) < batch_size:
            return report
        after = rows[-1][0]


@dataclass(frozen=True, slots=True)
class _Stored:
    account_id: str
    column: str
    ciphertext: str

    @property
    def binding(self) -> str:
        if self.column == "auth_token_ciphertext":
            return secret_binding(self.account_id)
        return previous_secret_binding(self.account_id)


async def announce_failed(publisher: Publisher, report: RotationReport) -> None:
    """Publish each account the rotation turned Failed, as a mutation would: the change with the
    stat row, and the picker when it lost a sender (the bus bumps the cache versions)."""
    for failed in report.failed:
        await events.account_changed(
            publisher, failed.workspace_id, failed.after, before=failed.before
        )


@dataclass(frozen=True, slots=True)
class _Forget:
    """Unreadable secrets are dropped; ``public_url`` builds the accounts that announce it."""

    public_url: str | None


async def _rotate_one(
    session: AsyncSession,
    box: SecretBox,
    secret: _Stored,
    report: RotationReport,
    forget: _Forget | None,
) -> None:
    # Every secret is opened, not only those of old keys: a tampered one is found and reported.
    try:
        plaintext = box.decrypt(secret.ciphertext, bound_to=secret.binding)
    except SecretError:
        report.unreadable.append((secret.account_id, secret.column))
        if forget is not None:
            await _forget(session, secret, report, forget)
        return
    if not box.needs_rotation(secret.ciphertext):
        return
    fresh = box.encrypt(plaintext, bound_to=secret.binding)
    if await queries.replace_secret(
        session, secret.account_id, secret.column, secret.ciphertext, fresh
    ):
        report.rotated += 1


async def _forget(
    session: AsyncSession, secret: _Stored, report: RotationReport, forget: _Forget
) -> None:
    if secret.column != "auth_token_ciphertext":
        # Only webhooks signed with the previous token notice: nothing shown changes.
        report.forgotten += await queries.forget_previous_token(
            session, secret.account_id, secret.ciphertext
        )
        return
    row = await queries.account_by_id(session, secret.account_id)
    before = None if row is None else to_account(row, forget.public_url)
    move = to_failed(FailureReason.TOKEN_UNREADABLE, utcnow())
    failed = await queries.forget_token(session, secret.account_id, secret.ciphertext, move)
    if failed is None:
        return  # changed meanwhile
    report.forgotten += 1
    if before is not None:
        after = to_account(failed, forget.public_url)
        report.failed.append(FailedAccount(failed.workspace_id, before, after))
