"""What a hostile document costs the server, beside a normal small query, and what one looping
client of such documents does to everyone else's latency.

The product's app (``api.app:create_app``, default settings: response cache on) under uvicorn on
a fresh SQLite file, driven over loopback by a closed-loop client in this process:

1. Per document, the median and p90 of ``--requests`` requests, each with a new operation name
   (a name costs a client nothing, and it defeated the old validation cache), the answer, and
   the ratio to the FLOOR: a normal small query executed each time (``smsMessages(first: 1)``,
   which the response cache leaves alone). Beside it, BEFORE: what graphql-core's validation
   alone spends on that document, measured once in this process: the server's cost before the
   budget (the 333-field document was under the old 2,000-token limit). Goal: a refusal < 10 ms.
2. ``/healthz`` p50/p99 (a probe every 10 ms) for ``--seconds`` with no other client (the
   floor), while one client loops the 248-field document (renamed each time) against the
   defaults, and against a server whose token, field and overlap limits are opened up (the old
   behaviour). Each hostile document also differs by a comment, so no cache can help (renaming
   alone no longer defeats the validation cache). Goal: the hostile loop leaves ``/healthz``
   near its floor.

Run from the project root (figures are noisy on a shared machine)::

    .venv/bin/python bench/hostile.py [--requests 30] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from graphql import GraphQLError, parse, validate

from bench.common import admin_key, free_port, local_url, server, sqlite_url, wait_ready
from schema import build_schema
from storage.migrate import migrate

FIELD = "smsIntegration { enabled }"
EXECUTED = "{ smsMessages(first: 1) { pageInfo { hasNextPage } } }"
INTROSPECTION = Path(__file__).resolve().parents[1] / "tests/fixtures/introspection"
APP = "api.app:create_app"
# The old behaviour: nothing counted before graphql-core's validation.
OPENED = {
    "SMS_MAX_TOKENS": "1000000",
    "SMS_MAX_FIELDS": "100000",
    "SMS_MAX_FIELD_OVERLAPS": "1000000",
}


def spread_fragments(count: int) -> Callable[[str], str]:
    spreads = " ".join(f"...F{n}" for n in range(count))
    fragments = "".join(f" fragment F{n} on Query {{ {FIELD} }}" for n in range(count))
    return lambda name: f"query {name} {{ {spreads} }}{fragments}"


# Each maker gets a fresh operation name and returns the document.
DOCUMENTS: dict[str, Callable[[str], str]] = {
    "normal small query, renamed each time": lambda name: f"query {name} {EXECUTED}",
    "333 x smsIntegration (the review's)": lambda name: f"query {name} {{ {FIELD * 333} }}",
    "248 x smsIntegration (under 1,000 tokens)": lambda n: f"query {n} {{ {FIELD * 248} }}",
    "495 x __typename": lambda name: f"query {name} {{ {'__typename ' * 495} }}",
    "83 fragments of one field, spread together": spread_fragments(83),
    "a 100-field fragment spread 200 times": lambda name: (
        f"query {name} {{ {'...F ' * 200} }} fragment F on Query {{ {FIELD * 100} }}"
    ),
    "32 fragments of one field (largest accepted)": spread_fragments(32),
    "graphql-js introspection, every option": lambda name: (
        (INTROSPECTION / "graphql-js-all-options.graphql")
        .read_text()
        .replace("IntrospectionQuery", name, 1)
    ),
}


async def post(http: httpx.AsyncClient, query: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": query})
    took = time.perf_counter() - started
    errors = response.json().get("errors")
    return took, ("ok" if not errors else "refused: " + errors[0]["message"][:58])


def before(query: str) -> str:
    """graphql-core's validation of ``query`` alone, in ms (the cost before the budget)."""
    try:
        document = parse(query)
    except GraphQLError:
        return "-"
    schema = build_schema()._schema
    started = time.perf_counter()
    validate(schema, document)
    return f"{(time.perf_counter() - started) * 1000:8.1f}m"


async def per_document(http: httpx.AsyncClient, requests: int) -> None:
    names = (f"Op{n}" for n in itertools.count())
    floor = statistics.median([(await post(http, EXECUTED))[0] for _ in range(requests)]) * 1000
    print(f"{'document':46} {'median':>8} {'p90':>8} {'x floor':>7} {'before':>9}  answer")
    print(f"{'FLOOR: normal small query':46} {floor:7.2f}m {'':8} {1:7.1f} {'':9}  ok")
    for title, make in DOCUMENTS.items():
        timings, answer = [], ""
        for _ in range(requests):
            took, answer = await post(http, make(next(names)))
            timings.append(took)
        median = statistics.median(timings) * 1000
        p90 = statistics.quantiles(timings, n=10)[-1] * 1000
        print(
            f"{title:46} {median:7.2f}m {p90:7.2f}m {median / floor:7.1f} "
            f"{before(make('Once')):>9}  {answer}"
        )


async def healthz(http: httpx.AsyncClient, seconds: float, *, hostile: bool) -> str:
    """/healthz latencies while (or without) one client loops the 248-field document."""
    stop = time.monotonic() + seconds
    names = (f"Loop{n}" for n in itertools.count())

    async def loop() -> int:
        sent = 0
        while hostile and time.monotonic() < stop:
            # A new name and a new comment: neither cache knows the text, as an attacker makes it.
            name = next(names)
            await post(http, f"query {name} {{ {FIELD * 248} }} # {name}")
            sent += 1
        return sent

    async def probe() -> list[float]:
        latencies = []
        async with httpx.AsyncClient(base_url=http.base_url) as prober:
            while time.monotonic() < stop:
                started = time.perf_counter()
                await prober.get("/healthz")
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)
        return latencies

    sent, latencies = await asyncio.gather(loop(), probe())
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"p50 {cuts[49] * 1000:7.2f} ms  p99 {cuts[98] * 1000:7.2f} ms  "
        f"({len(latencies)} probes, {sent} hostile requests)"
    )


async def run(url: str, requests: int, seconds: float) -> None:
    key = await admin_key(url, "hostile")
    headers = {"Authorization": f"Bearer {key}"}
    print(f"/healthz, {seconds} s each:")
    for title, settings in (("defaults", {}), ("limits opened (before)", OPENED)):
        port = free_port()
        with server(APP, port, url, **settings) as process:
            async with httpx.AsyncClient(
                base_url=local_url(port), headers=headers, timeout=60
            ) as http:
                await wait_ready(http, process)
                if not settings:
                    quiet = await healthz(http, seconds, hostile=False)
                    print(f"  {'no other client (floor)':38} {quiet}")
                loud = await healthz(http, seconds, hostile=True)
                print(f"  {'one hostile client, ' + title:38} {loud}")
                if not settings:
                    print()
                    await per_document(http, requests)
                    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=3.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_url(folder)
        migrate(url)
        asyncio.run(run(url, options.requests, options.seconds))


if __name__ == "__main__":
    main()
