"""Who may run what. The GraphQL layer enforces this table on every field it names."""

from __future__ import annotations

from domain.vocabulary import Role

EVERYONE = frozenset(Role)
ADMIN_AND_MARKETER = frozenset({Role.ADMIN, Role.MARKETER})
ADMIN = frozenset({Role.ADMIN})

OPERATIONS: dict[str, frozenset[Role]] = {
    "smsIntegration": EVERYONE,
    "smsProviders": ADMIN,
    "smsAccounts": ADMIN,
    "smsAccount": ADMIN,
    "smsSenders": ADMIN_AND_MARKETER,
    "setSmsIntegrationEnabled": ADMIN,
    "addSmsAccount": ADMIN,
    "updateSmsAccount": ADMIN,
    "removeSmsAccount": ADMIN,
    "verifySmsAccount": ADMIN,
    "smsAccountChanged": ADMIN,
    "smsSendersChanged": ADMIN_AND_MARKETER,
    "sendSms": ADMIN_AND_MARKETER,
    "smsMessages": EVERYONE,
    "smsMessageUpdated": EVERYONE,
    "smsCampaigns": EVERYONE,
    "smsCampaign": EVERYONE,
    "smsCampaignChanged": EVERYONE,
    "createSmsCampaign": ADMIN_AND_MARKETER,
    "addSmsCampaignRecipients": ADMIN_AND_MARKETER,
    "startSmsCampaign": ADMIN_AND_MARKETER,
    "pauseSmsCampaign": ADMIN_AND_MARKETER,
    "resumeSmsCampaign": ADMIN_AND_MARKETER,
    "cancelSmsCampaign": ADMIN_AND_MARKETER,
}


def may(role: Role, operation: str) -> bool:
    return role in OPERATIONS[operation]
