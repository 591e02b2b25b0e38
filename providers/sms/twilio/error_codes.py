"""Twilio's numeric error codes in our words: Twilio's own sentences never reach a client.

Twilio's texts change without notice, may quote what was sent, and are not ours to show; the code
is stable, so each known code has one sentence here and any other code a fixed sentence that
names it and links Twilio's page about it.
"""

from __future__ import annotations

AUTHENTICATION_FAILED = 20003
NOT_FOUND = 20404  # the resource is not there, or not visible to these credentials
RATE_LIMITED = 20429
RECIPIENT_UNSUBSCRIBED = 21610
QUEUE_FULL = 21611  # the sender's queue of messages waiting to go out is full
SENDER_GONE = frozenset({21606, 21212, 21659, 21712})

CATALOGUE: dict[int, str] = {
    AUTHENTICATION_FAILED: (
        "Twilio rejected the account's credentials: update the Auth Token and verify again."
    ),
    21211: "The To number is not a valid phone number.",
    21212: "The From number is not a valid phone number, short code or sender of this account.",
    21408: (
        "This account is not permitted to send to the To number's region (Twilio geo permissions)."
    ),
    21606: "The From number is not an SMS-capable number of this Twilio account.",
    21608: "A Twilio trial account can only send to verified numbers.",
    RATE_LIMITED: (
        "Twilio refused the message for the account's request rate; nothing was sent. Try "
        "again shortly."
    ),
    QUEUE_FULL: (
        "Twilio's queue for this sender is full (it sends slower than it is given messages); "
        "nothing was sent. Try again later, or lower the account's send rate."
    ),
    RECIPIENT_UNSUBSCRIBED: (
        "The recipient replied STOP: Twilio will not deliver to them until they reply START."
    ),
    21614: "The To number cannot receive SMS.",
    21659: "The From number is not a Twilio number of this account.",
    21712: "The From number cannot be used for this message.",
    30003: "The recipient's phone is unreachable (switched off or out of coverage).",
    30004: "The recipient's carrier blocked the message.",
    30005: "The To number is unknown or no longer in service.",
    30006: "The To number is a landline or cannot receive SMS.",
    30007: "The carrier filtered the message as spam or unwanted.",
    30008: "The carrier could not deliver the message (unknown error).",
}


def describe(code: int | None) -> str:
    """Our sentence for a Twilio error code; a code without one is named and linked."""
    if code is None:
        return "Twilio reported an error without a code."
    known = CATALOGUE.get(code)
    if known is not None:
        return known
    return (
        f"Twilio reported error {code}: see https://www.twilio.com/docs/errors/{code} for "
        "what it means and how to fix it."
    )
