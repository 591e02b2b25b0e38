"""The one place that names every SMS adapter: the bootstrap builds the ports and their Base URL
policies from here, and the CLI takes the adapters' development commands from here."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping

import httpx

from domain.vocabulary import SmsProvider
from providers.host_policy import HostPolicy
from providers.sms.msg91 import adapter as msg91
from providers.sms.msg91.client import Msg91Client, ReadRetry
from providers.sms.port import SmsPort
from providers.sms.twilio import dev_command
from providers.sms.twilio.adapter import TwilioSms
from providers.sms.twilio.client import RetryPolicy, TwilioClient

# Where an account's Base URL points when it is left empty.
DEFAULT_BASE_URLS = {
    SmsProvider.TWILIO: "https://api.twilio.com/",
    SmsProvider.MSG91: msg91.DEFAULT_BASE_URL,
}


def add_dev_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """The CLI's development commands the adapters bring: ``dev-twilio``, a local Twilio
    stand-in to try the service without an account."""
    dev_command.add_command(commands, parents)


def host_policies(operator: HostPolicy) -> dict[SmsProvider, HostPolicy]:
    """Each provider's Base URL policy. By default each provider's accounts may point only at
    that provider's own API hosts; an operator's list (``SMS_ALLOWED_PROVIDER_HOSTS``) is the
    list of every provider's accounts."""
    if not operator.is_default:
        return {
            SmsProvider.TWILIO: operator,
            SmsProvider.MSG91: dataclasses.replace(operator, label="MSG91"),
        }
    return {
        SmsProvider.TWILIO: operator,
        SmsProvider.MSG91: HostPolicy.provider_default(msg91.DEFAULT_HOSTS, "MSG91"),
    }


def build_ports(
    http: httpx.AsyncClient,
    policies: Mapping[SmsProvider, HostPolicy],
    *,
    retry_base_seconds: float,
) -> dict[SmsProvider, SmsPort]:
    """Every provider's port, sharing one guarded HTTP client (host policy, timeouts, caps)."""
    twilio = TwilioClient(
        http, RetryPolicy(base_seconds=retry_base_seconds), policy=policies[SmsProvider.TWILIO]
    )
    msg91_client = Msg91Client(
        http, ReadRetry(base_seconds=retry_base_seconds), policy=policies[SmsProvider.MSG91]
    )
    return {SmsProvider.TWILIO: TwilioSms(twilio), SmsProvider.MSG91: msg91.Msg91Sms(msg91_client)}
