"""Campaign-scale sending: recipients added, each sender's achieved pace, callbacks and memory.

A real ``sms-accounts serve`` process (and, on PostgreSQL, two ``sms-accounts worker``
processes with ``SMS_SERVE_WORKERS=0``) sends ``--recipients`` recipients over ``--senders``
senders at ``--rate`` segments a second each, one campaign per sender, through the Twilio
stand-in (``providers/sms/twilio/standin.py``, in this process) answering each send after
``--send-latency`` seconds and posting each message's status callbacks (queued, sent, delivered)
back to the server, signed. It prints:

* adding the recipients in calls of 1,000 (goal: under 60 s in all);
* per sender, the achieved rate against the configured one, measured at the stand-in from the
  first to the last send (goal: at least 0.95 x), and the busiest one-second window (goal: at
  most the rate plus one segment);
* the status callbacks the server took per second (answered 2xx) while the campaigns ran;
* the RSS of the server (and workers), sampled every 2 s: the range after the first fifth of the
  run (goal: flat within 10 %).

Run from the project root (the default is the issue's figure: about 200 s of sending at
10 x 50 segments a second, then the same on PostgreSQL when ``--database-url`` is given)::

    .venv/bin/python bench/campaign.py [--recipients 100000] [--senders 10] [--rate 50]
        [--database-url postgresql+asyncpg://USER@HOST/DB]

The PostgreSQL database is wiped (its schema dropped) and migrated.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.common import (  # noqa: E402
    TEST_KEY,
    argument_parser,
    free_port,
    load_average,
    local_url,
    machine,
    ready,
    sqlite_url,
    stop,
)
from providers.sms.twilio.standin import TwilioStandIn  # noqa: E402

ADD_ACCOUNT = """mutation($input: AddSmsAccountInput!) {
  addSmsAccount(input: $input) { account { id } errors { message } } }"""
VERIFY = "mutation($id: ID!) { verifySmsAccount(id: $id) { errors { message } } }"
STATUS = "query($id: ID!) { smsAccount(id: $id) { status } }"
CREATE = """mutation($input: CreateSmsCampaignInput!) {
  createSmsCampaign(input: $input) { campaign { id } errors { message } } }"""
ADD = """mutation($id: ID!, $recipients: [SmsCampaignRecipientInput!]!) {
  addSmsCampaignRecipients(id: $id, recipients: $recipients) { errors { message } } }"""
START = "mutation($id: ID!) { startSmsCampaign(id: $id) { errors { message } } }"
PROGRESS = """query($id: ID!) { smsCampaign(id: $id) { status
  progress { total pending sent failed unconfirmed } } }"""
ENABLE = "mutation { setSmsIntegrationEnabled(enabled: true) { errors { message } } }"
PER_CALL = 1_000


@dataclass
class Run:
    label: str
    adding_seconds: float = 0.0
    sending_seconds: float = 0.0
    rss: list[int] = field(default_factory=list)  # kB, summed over the processes, every 2 s


def sender(n: int) -> str:
    return f"+1202555{n:04d}"


def recipient(n: int) -> str:
    return f"+1415{n:07d}"


async def call(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL failed ({response.status_code}): {response.text[:300]}")
    (payload,) = body["data"].values()
    if isinstance(payload, dict) and payload.get("errors"):
        raise RuntimeError(f"GraphQL refused: {payload['errors']}")
    return payload


async def senders(http: httpx.AsyncClient, standin: TwilioStandIn, args: Any) -> list[str]:
    """The verified accounts, one per stand-in number, at ``--rate``."""
    await call(http, ENABLE, {})
    ids = []
    for n in range(args.senders):
        fields = {
            "provider": "TWILIO",
            "senderId": sender(n),
            "clientId": standin.account_sid,
            "authToken": standin.auth_token,
            "baseUrl": standin.base_url,
            "sendRatePerSecond": args.rate,
        }
        added = await call(http, ADD_ACCOUNT, {"input": fields})
        ids.append(added["account"]["id"])
        await call(http, VERIFY, {"id": ids[-1]})
    for account_id in ids:
        await verified(http, account_id)
    return ids


async def verified(http: httpx.AsyncClient, account_id: str) -> None:
    """Until the account's check (in the background) says VERIFIED; polled, as a page would."""
    for _ in range(300):
        if (await call(http, STATUS, {"id": account_id}))["status"] == "VERIFIED":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"account {account_id} was not verified within 30 s")


async def campaigns(http: httpx.AsyncClient, accounts: list[str], args: Any, run: Run) -> list[str]:
    """A campaign per sender, its share of the recipients added in calls of 1,000 (timed)."""
    ids = []
    for index, account_id in enumerate(accounts):
        fields = {"accountId": account_id, "name": f"Bench {index}", "body": "Hello from the bench"}
        created = await call(http, CREATE, {"input": {**fields, "idempotencyKey": f"b{index}"}})
        ids.append(created["campaign"]["id"])
    share = args.recipients // len(accounts)
    began = time.monotonic()
    for index, campaign_id in enumerate(ids):
        for start in range(0, share, PER_CALL):
            numbers = range(index * share + start, index * share + min(start + PER_CALL, share))
            recipients = [{"to": recipient(n)} for n in numbers]
            await call(http, ADD, {"id": campaign_id, "recipients": recipients})
    run.adding_seconds = time.monotonic() - began
    return ids


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


async def send_all(http: httpx.AsyncClient, ids: list[str], pids: list[int], run: Run) -> None:
    for campaign_id in ids:
        await call(http, START, {"id": campaign_id})
    began = time.monotonic()
    left = set(ids)
    while left:
        await asyncio.sleep(2)
        run.rss.append(rss_kb(pids))
        for campaign_id in list(left):
            found = await call(http, PROGRESS, {"id": campaign_id})
            if found["status"] == "COMPLETED":
                left.discard(campaign_id)
    run.sending_seconds = time.monotonic() - began


def busiest_window(times: list[float]) -> int:
    times = sorted(times)
    busiest, end = 0, 0
    for start, at in enumerate(times):
        while end < len(times) and times[end] <= at + 1.0:
            end += 1
        busiest = max(busiest, end - start)
    return busiest


def report(run: Run, standin: TwilioStandIn, args: Any) -> list[str]:
    """Print the run's figures; the goals not met."""
    missed = []
    print(f"\n== {run.label}")
    print(
        f"adding {args.recipients:,} recipients in calls of {PER_CALL:,}: "
        f"{run.adding_seconds:.1f} s (goal < 60 s)"
    )
    if run.adding_seconds >= 60:
        missed.append(f"{run.label}: adding took {run.adding_seconds:.1f} s")
    by_sender: dict[str, list[float]] = defaultdict(list)
    for send in standin.sends:
        by_sender[send.sender].append(send.at)
    print(f"{'sender':<14} {'sends':>7} {'achieved/s':>10} {'x rate':>7} {'busiest 1 s':>11}")
    for number in sorted(by_sender):
        times = sorted(by_sender[number])
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        achieved = (len(times) - 1) / span if span else 0.0
        busiest = busiest_window(times)
        print(
            f"{number:<14} {len(times):>7} {achieved:>10.2f} {achieved / args.rate:>7.3f} "
            f"{busiest:>11} (ceiling {args.rate + 1:g})"
        )
        if achieved < 0.95 * args.rate:
            missed.append(f"{run.label}: {number} at {achieved:.2f}/s < 0.95 x {args.rate:g}")
        if busiest > args.rate + 1:
            missed.append(f"{run.label}: {number} sent {busiest} in one second")
    taken = [
        hook
        for hook in standin.webhooks
        if hook.kind == "status" and hook.status_code and hook.status_code < 300
    ]
    per_second = len(taken) / run.sending_seconds if run.sending_seconds else 0.0
    print(
        f"status callbacks taken: {len(taken):,} in {run.sending_seconds:.0f} s of sending = "
        f"{per_second:,.0f}/s"
    )
    warm = run.rss[len(run.rss) // 5 :] or run.rss
    low, high = min(warm), max(warm)
    growth = (high - low) / low if low else 0.0
    print(f"RSS after warm-up: {low / 1024:.0f}-{high / 1024:.0f} MiB ({growth:.1%}; goal <= 10 %)")
    if growth > 0.10:
        missed.append(f"{run.label}: RSS grew {growth:.1%}")
    return missed


async def drive(
    base_url: str, key: str, standin: TwilioStandIn, pids: list[int], args: Any, run: Run
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
        accounts = await senders(http, standin, args)
        ids = await campaigns(http, accounts, args, run)
        await send_all(http, ids, pids, run)


def one_run(label: str, database_url: str, scratch: Path, args: Any) -> list[str]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMS_")}
    env |= {
        "SMS_DATABASE_URL": database_url,
        "SMS_ENCRYPTION_KEYS": TEST_KEY,
        "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
        "SMS_PUBLIC_URL": local_url(port),
        "SMS_LOG_FORMAT": "text",
    }
    postgres = database_url.startswith("postgresql")
    if postgres:
        env["SMS_SERVE_WORKERS"] = "0"  # the two workers send
    command = str(Path(sys.executable).with_name("sms-accounts"))
    made = subprocess.run(
        [
            command,
            "create-api-key",
            "--init",
            "--create-workspace",
            "--workspace",
            "bench",
            "--role",
            "admin",
        ],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    numbers = [(sender(n), True) for n in range(args.senders)]
    standin = TwilioStandIn(
        numbers=numbers,
        send_latency=args.send_latency,
        callback_delay=0.2,
        recorded=args.recipients * 4 + 1_000,
    )
    processes = []
    with standin, open(scratch / f"{label}.log", "wb") as log:
        try:
            serve = [command, "serve", "--port", str(port)]
            processes.append(subprocess.Popen(serve, cwd=scratch, env=env, stdout=log, stderr=log))
            asyncio.run(ready(port, processes[0]))
            for _ in range(2 if postgres else 0):
                worker = [command, "worker", "--concurrency", str(args.senders)]
                processes.append(
                    subprocess.Popen(worker, cwd=scratch, env=env, stdout=log, stderr=log)
                )
            run = Run(label)
            pids = [process.pid for process in processes]
            asyncio.run(drive(local_url(port), key, standin, pids, args, run))
        finally:
            for process in processes:
                stop(process)
        return report(run, standin, args)


def wipe(database_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def drop() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(drop())


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--send-latency", type=float, default=0.05)
    parser.add_argument("--database-url", help="also run on this PostgreSQL (it is wiped)")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL run")
    args = parser.parse_args()
    print(
        f"{machine()}; load {load_average()}; {args.recipients:,} recipients, "
        f"{args.senders} senders at {args.rate:g} segments/s, stand-in latency "
        f"{args.send_latency * 1e3:.0f} ms"
    )
    missed = []
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            missed += one_run("SQLite, serve sends", sqlite_url(folder), Path(folder), args)
    if args.database_url:
        wipe(args.database_url)
        with tempfile.TemporaryDirectory() as folder:
            missed += one_run("PostgreSQL, two workers", args.database_url, Path(folder), args)
    for line in missed:
        print(f"goal not met: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
