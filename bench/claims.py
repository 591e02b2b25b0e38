"""How long one sweep's claim takes when many health checks are due at once.

Seeds ``--accounts`` VERIFIED accounts, all due, into a new workspace of a THROWAWAY database
(default: a fresh SQLite file), then sweeps like a replica with room for ``--room`` checks: claim,
then finish each claimed check (its next check moves a day on), until none is due. Prints the
p50 / p99 of the claim statement. ``--database-url postgresql+asyncpg://...`` for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, insert

from domain.account_states import check_again
from domain.vocabulary import AccountStatus, SmsProvider
from storage import queries
from storage.db import create_engine, create_sessionmakers
from storage.migrate import migrate
from storage.models import SmsAccountRow, Workspace
from storage.types import utcnow

_A = SmsAccountRow.__table__.c  # type: ignore[attr-defined]
_W = Workspace.__table__.c  # type: ignore[attr-defined]


def account_rows(workspace_id: str, count: int) -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "id": str(uuid.uuid4()),
            "workspace_id": workspace_id,
            "provider": SmsProvider.TWILIO,
            "display_name": f"bench {n}",
            "client_id": "AC" + "0" * 32,
            "auth_token_ciphertext": "-",
            "auth_token_hint": "0000",
            "base_url": "https://api.twilio.com/",
            "status": AccountStatus.VERIFIED,
            "verified_at": now - timedelta(days=2),
            "last_checked_at": now - timedelta(days=2),
            "next_check_at": now - timedelta(seconds=n),
        }
        for n in range(count)
    ]


async def sweep_all(url: str, accounts: int, room: int) -> list[float]:
    engine = create_engine(url)
    _, writes = create_sessionmakers(engine)
    workspace_id = str(uuid.uuid4())
    async with writes() as session:
        await session.execute(insert(Workspace).values(id=workspace_id, name=workspace_id))
        await session.execute(insert(SmsAccountRow), account_rows(workspace_id, accounts))
        await session.commit()
    took: list[float] = []
    try:
        while True:
            now = utcnow()
            started = time.perf_counter()
            async with writes() as session:
                claimed = await queries.claim_due_health_checks(
                    session, now, now - timedelta(days=1), now + timedelta(seconds=15), room
                )
                await session.commit()
            took.append(time.perf_counter() - started)
            if not claimed:
                return took
            assert len(claimed) <= room, f"one sweep claimed {len(claimed)} > {room}"
            async with writes() as session:
                done = check_again(now + timedelta(days=1))
                for account_id, version in claimed:
                    await queries.move_account(session, account_id, done, version=version)
                await session.commit()
    finally:
        async with writes() as session:
            await session.execute(delete(SmsAccountRow).where(_A.workspace_id == workspace_id))
            await session.execute(delete(Workspace).where(_W.id == workspace_id))
            await session.commit()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--room", type=int, default=32, help="SMS_MAX_CONCURRENT_CHECKS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/claims.db"
        migrate(url)
        took = sorted(asyncio.run(sweep_all(url, args.accounts, args.room)))
    p50, p99 = took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]
    print(
        f"{url.split(':')[0]}: {args.accounts} due accounts, {len(took)} sweeps of up to "
        f"{args.room}: claim p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
