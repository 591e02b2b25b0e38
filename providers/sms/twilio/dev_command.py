"""``sms-accounts dev-twilio``: the Twilio stand-in in the foreground, so that a newcomer without
a Twilio account can add an account, verify it, send and get replies (the README's GraphiQL
walk). It prints what to paste and the settings the server needs, then serves until Ctrl-C.

A development tool: it refuses to run with ``SMS_ENV=production`` (exit 2), and listens on
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Protocol

from providers.sms.twilio.standin_fixtures import MG_SID, PHONE, SERVICE_PHONE, pn_sid

if TYPE_CHECKING:
    from providers.sms.twilio.standin import TwilioStandIn


class Settings(Protocol):
    """What the command reads of the server's settings (``api.settings.Settings``)."""

    @property
    def production(self) -> bool: ...


DEFAULT_PORT = 8010
DEFAULT_REPLY = "Thanks!"
SERVER_URL = "http://127.0.0.1:8000"  # where `sms-accounts serve` listens by default
PRODUCTION_REFUSAL = (
    "dev-twilio is a development tool and does not run with SMS_ENV=production; run it "
    "without SMS_ENV (or with SMS_ENV=development)."
)


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """The subcommand, on the CLI's subparsers, with the options every command takes."""
    dev = commands.add_parser(
        "dev-twilio",
        parents=parents,
        help="run a local Twilio stand-in to try the service without a Twilio account "
        "(development only)",
    )
    dev.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port on 127.0.0.1 (default %(default)s; 0 picks a free one)",
    )
    dev.add_argument(
        "--reply",
        default=DEFAULT_REPLY,
        help='what each recipient answers once a message is delivered ("" for no reply)',
    )
    dev.add_argument(
        "--callback-delay",
        type=_delay,
        default=0.2,
        metavar="SECONDS",
        help="time between a message's status callbacks (default %(default)s)",
    )
    dev.set_defaults(run=run, uses_database=False)


def run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.production:
        print(f"sms-accounts: {PRODUCTION_REFUSAL}", file=sys.stderr)
        return 2
    # Imported here, as `serve` imports uvicorn: the other commands start without it.
    from providers.sms.twilio.standin import TwilioStandIn

    standin = TwilioStandIn(
        numbers=((PHONE, True), (SERVICE_PHONE, True)),
        services=(MG_SID,),
        service_numbers=(SERVICE_PHONE,),
        callback_delay=args.callback_delay,
        reply=args.reply or None,
        port=args.port,
    )
    try:
        standin.bind()
    except OSError as exc:
        print(
            f"sms-accounts: port {args.port} on 127.0.0.1 cannot be used ({exc.strerror}): "
            "choose another with --port N (0 picks a free one).",
            file=sys.stderr,
        )
        return 2
    # Flushed: whoever reads a pipe (a test, a script) gets the values before the first request.
    print(instructions(standin, args.reply, args.callback_delay), flush=True)
    standin.serve()
    return 0


def instructions(standin: TwilioStandIn, reply: str, delay: float) -> str:
    """What to paste and set, in the order of the README's walk."""
    base = standin.base_url
    sid, token = standin.account_sid, standin.auth_token
    variables = {
        "input": {
            "provider": "TWILIO",
            "displayName": "Twilio stand-in",
            "senderId": PHONE,
            "clientId": sid,
            "authToken": token,
            "baseUrl": base,
        }
    }
    number_url = f"{base}2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{pn_sid(PHONE)}.json"
    answers = (
        f'the recipient of each delivered message answers "{reply}",'
        if reply
        else 'off (--reply ""); otherwise the recipient of each delivered message answers,'
    )
    return f"""\
Twilio stand-in at {base} (development only; Ctrl-C stops it). Nothing here reaches Twilio.

1. Start the server so that it may call this Base URL and hears back from it:
     SMS_ALLOWED_PROVIDER_HOSTS=127.0.0.1 SMS_PUBLIC_URL={SERVER_URL} scripts/serve
   (a host list replaces the default one, Twilio's hosts; an IP listed as is may be called over
   http. SMS_PUBLIC_URL is where the stand-in posts callbacks and replies.)

2. Add an SMS account with these values:
     Account SID  {sid}
     Auth Token   {token}
     From number  {PHONE}
       (or the Messaging Service {MG_SID}, which sends from {SERVICE_PHONE})
     Base URL     {base}
   addSmsAccount's variables in GraphiQL:
     {json.dumps(variables)}

3. Verify it: it turns VERIFIED. Send an SMS through it: its status callbacks (queued, sent,
   delivered) follow {delay:g} s apart, signed with the Auth Token as Twilio signs them.

4. Replies: {answers}
   posted to the number's SmsUrl. Point the SmsUrl at the account's inboundWebhookUrl
   (in place of INBOUND_WEBHOOK_URL):
     curl -u {sid}:{token} \\
       -d SmsMethod=POST --data-urlencode SmsUrl=INBOUND_WEBHOOK_URL \\
       {number_url}
   (for the Messaging Service: POST {base}v1/Services/{MG_SID}
   with InboundRequestUrl=INBOUND_WEBHOOK_URL and UseInboundWebhookOnNumber=false)
"""


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65_535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535")
    return int(text)


def _delay(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 60:
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 to 60")
    return seconds
