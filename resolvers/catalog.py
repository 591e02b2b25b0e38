"""What the Add SMS Account dialog shows per provider: a frontend renders the form from this."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import SmsProvider, SmsRoute
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
    ProviderInfo(
        provider=SmsProvider.MSG91,
        label="MSG91",
        fields=(
            ProviderField(
                "displayName",
                "Display Name",
                required=False,
                secret=False,
                hint="A label for your team, shown in the sender picker (e.g. Alerts India)",
            ),
            ProviderField(
                "senderId",
                "Sender ID",
                required=True,
                secret=False,
                hint=(
                    "The 6-letter DLT header recipients see (e.g. ACMEIN), approved on the DLT "
                    "portal and added in the MSG91 panel"
                ),
            ),
            ProviderField(
                "dltEntityId",
                "DLT Entity ID",
                required=True,
                secret=False,
                hint="The Principal Entity ID from the DLT portal (digits)",
            ),
            ProviderField(
                "authToken",
                "API Key",
                required=True,
                secret=True,
                hint=(
                    "An authkey from the MSG91 panel (Authkey); add this server's address to its "
                    "IP whitelist. Delivery reports are supported; inbound replies are not "
                    "supported for MSG91."
                ),
            ),
            ProviderField(
                "route",
                "Route",
                required=False,
                secret=False,
                hint=(
                    "TRANSACTIONAL (any time) or PROMOTIONAL (10 AM to 9 PM, not to DND numbers)"
                ),
                default_value=SmsRoute.TRANSACTIONAL.value,
            ),
        ),
    ),
)
