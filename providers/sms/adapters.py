"""The one place that names every SMS adapter: the bootstrap builds the ports from here, and the
CLI takes the adapters' development commands from here."""

from __future__ import annotations

import argparse

import httpx

from domain.vocabulary import SmsProvider
from providers.host_policy import HostPolicy
from providers.sms.port import SmsPort
from providers.sms.twilio import dev_command
from providers.sms.twilio.adapter import TwilioSms
from providers.sms.twilio.client import RetryPolicy, TwilioClient


def add_dev_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """The CLI's development commands the adapters bring: ``dev-twilio``, a local Twilio
    stand-in to try the service without an account."""
    dev_command.add_command(commands, parents)


def build_ports(
    http: httpx.AsyncClient, policy: HostPolicy, *, retry_base_seconds: float
) -> dict[SmsProvider, SmsPort]:
    """Every provider's port, sharing one guarded HTTP client (host policy, timeouts, caps)."""
    retry = RetryPolicy(base_seconds=retry_base_seconds)
    return {SmsProvider.TWILIO: TwilioSms(TwilioClient(http, retry, policy=policy))}
