"""What the Add SMS Account dialog shows per provider: a frontend renders the form from this."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import SmsProvider
from resolvers.validation import DEFAULT_BASE_URL


@dataclass(frozen=True, slots=True)
class ProviderField:
    name: str
    label: str
    required: bool
    secret: bool
    hint: str | None
    default_value: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    provider: SmsProvider
    label: str
    fields: tuple[ProviderField, ...]


PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        provider=SmsProvider.TWILIO,
        label="Twilio",
        fields=(
            ProviderField(
                "displayName",
                "Display Name",
                required=False,
                secret=False,
                hint="A label for your team, shown in the sender picker (e.g. Marketing SMS)",
            ),
            ProviderField(
                "senderId",
                "Sender ID",
                required=True,
                secret=False,
                hint="E.164 number (+1…) or Messaging Service SID (MG…)",
            ),
            ProviderField(
                "dltEntityId",
                "DLT Entity ID",
                required=False,
                secret=False,
                hint="India only: the Principal Entity ID from the DLT portal",
            ),
            ProviderField(
                "clientId", "Client ID", required=True, secret=False, hint="Account SID (Twilio)"
            ),
            ProviderField(
                "authToken",
                "API Key / Auth Token",
                required=True,
                secret=True,
                hint="Twilio Console → Account Info → Auth Token",
            ),
            ProviderField(
                "baseUrl",
                "Base URL",
                required=False,
                secret=False,
                hint="Leave as is unless Twilio Support gave you a regional endpoint",
                default_value=DEFAULT_BASE_URL,
            ),
        ),
    ),
)
