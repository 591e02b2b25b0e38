"""Who signs a provider's webhooks, remembered in memory by account version.

A campaign brings two to three signed callbacks per message. Reading the account's token
ciphertexts and decrypting them for each one cost more than everything else a callback does, so
the decrypted secrets are remembered per account (at most ``size`` accounts, least recently used
forgotten first) together with the version they were read at: the account's credentials version
and whether it had a previous token. Every change that touches what may sign (a new Auth Token,
a removal, a forgotten token) moves that version.

A remembered signer is only trusted as far as the write it leads to: each delivery report
carries the version its signature was checked with, and the batch that writes it checks that
version against the account's row in the same transaction (``status_batches``). A report checked
with an old version is not written; the caller forgets the signer and checks the signature again
with the secrets read now. So an edited token is used for the very next callback and a removed
account's callbacks are refused at once, on every replica, with no message between them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.vocabulary import SmsProvider
from providers.sms.port import SmsPort
from resolvers.account_rows import previous_secret_binding, secret_binding
from storage import queries
from storage.crypto import SecretBox, SecretError

log = logging.getLogger(__name__)

SignerVersion = tuple[int, bool]  # (credentials version, has a previous token)


@dataclass(frozen=True, slots=True)
class SigningAccount:
    workspace_id: str
    port: SmsPort  # the account's provider: it reads the webhook and checks its signature
    secrets: list[str]  # the current secret, and the previous one during its grace period
    version: SignerVersion  # what the secrets were read at: the write checks it still holds


@dataclass(frozen=True, slots=True)
class _Signer:
    """What is remembered of an account: its secrets decrypted once."""

    workspace_id: str
    provider: SmsProvider
    current: str | None  # None: no configured key opens it
    previous: str | None
    previous_until: datetime | None
    version: SignerVersion

    def at(self, now: datetime, port: SmsPort) -> SigningAccount | None:
        """The secrets that may sign at ``now`` (the previous one only within its grace)."""
        secrets = [] if self.current is None else [self.current]
        until = self.previous_until
        if self.previous is not None and until is not None and until > now:
            secrets.append(self.previous)
        if not secrets:
            return None
        return SigningAccount(self.workspace_id, port, secrets, self.version)


class SignerCache:
    """The signers of at most ``size`` accounts, least recently used forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._signers: OrderedDict[str, _Signer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._signers)

    def get(self, account_id: str) -> _Signer | None:
        signer = self._signers.get(account_id)
        if signer is not None:
            self._signers.move_to_end(account_id)
        return signer

    def put(self, account_id: str, signer: _Signer) -> None:
        self._signers[account_id] = signer
        self._signers.move_to_end(account_id)
        while len(self._signers) > self.size:
            self._signers.popitem(last=False)

    def forget(self, account_id: str) -> None:
        self._signers.pop(account_id, None)


def _open(box: SecretBox, account_id: str, ciphertext: str | None, binding: str) -> str | None:
    if not ciphertext:
        return None
    try:
        return box.decrypt(ciphertext, bound_to=binding)
    except SecretError as reason:
        # Nothing can be signed with a token no one can read: its webhooks are refused.
        log.warning("a webhook for account %s: a token cannot be read: %s", account_id, reason)
        return None


def read_signer(box: SecretBox, account_id: str, row: queries.SigningSecrets) -> _Signer:
    """The signer of a row of ``queries.signing_secrets``, its tokens decrypted."""
    workspace_id, provider, current, previous, until, version = row
    return _Signer(
        workspace_id=workspace_id,
        provider=SmsProvider(provider),
        current=_open(box, account_id, current, secret_binding(account_id)),
        previous=_open(box, account_id, previous, previous_secret_binding(account_id)),
        previous_until=until,
        version=(version, previous is not None),
    )


def remembered(
    cache: SignerCache,
    account_id: str,
    ports: Callable[[SmsProvider], SmsPort],
    now: datetime,
) -> SigningAccount | None:
    """The remembered signer of an account, or None when there is none to use."""
    signer = cache.get(account_id)
    return None if signer is None else signer.at(now, ports(signer.provider))
