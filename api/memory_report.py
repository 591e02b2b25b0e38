"""An opt-in diagnostic for a server that grows: what was allocated since the first report.

With ``SMS_DEBUG_MEMORY_REPORT_SECONDS`` above 0 the server traces allocations (tracemalloc,
a few frames deep: slow, for soaks only) and logs, every that many seconds, the RSS, the traced
total, the asyncio tasks, the open descriptors, and the allocation sites and object types that
grew most since the first report. Traced memory flat while RSS climbs points at the allocator
(arenas, fragmentation); a site that climbs points at the code. ``bench/load.py
--diagnose-memory`` turns it on and prints the reports.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import sys
import tracemalloc
from pathlib import Path

log = logging.getLogger("sms_accounts.memory")

FRAMES = 6  # deep enough to name the caller of a library's allocation
TOP = 12


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def object_counts() -> collections.Counter[str]:
    return collections.Counter(type(thing).__qualname__ for thing in gc.get_objects())


class MemoryReport:
    """The reporting task: started and stopped with the app's lifespan."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        self._task = asyncio.create_task(self._run(), name="memory-report")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tracemalloc.stop()

    async def _run(self) -> None:
        """Sites and types are compared with the previous report (a steady grower shows in
        each), RSS with the first."""
        previous = tracemalloc.take_snapshot()
        counts = object_counts()
        rss = rss_bytes()
        while True:
            await asyncio.sleep(self.every_seconds)
            previous, counts = self.report(previous, counts, rss)

    def report(
        self, first: tracemalloc.Snapshot, counts: collections.Counter[str], rss: int
    ) -> tuple[tracemalloc.Snapshot, collections.Counter[str]]:
        now = tracemalloc.take_snapshot()
        traced, _ = tracemalloc.get_traced_memory()
        log.warning(
            "memory: RSS %.1f MiB (%+.1f since the first report), traced %.1f MiB (tracing "
            "itself %.1f MiB), %d pymalloc blocks, %d asyncio tasks, %d descriptors",
            rss_bytes() / 2**20,
            (rss_bytes() - rss) / 2**20,
            traced / 2**20,
            tracemalloc.get_tracemalloc_memory() / 2**20,
            sys.getallocatedblocks(),
            len(asyncio.all_tasks()),
            open_descriptors(),
        )
        grew = [stat for stat in now.compare_to(first, "traceback") if stat.size_diff > 0]
        for stat in sorted(grew, key=lambda stat: -stat.size_diff)[:TOP]:
            where = " <- ".join(
                f"{Path(frame.filename).name}:{frame.lineno}" for frame in stat.traceback
            )
            log.warning(
                "memory: %+.1f KiB in %+d blocks since the last report at %s",
                stat.size_diff / 1024,
                stat.count_diff,
                where,
            )
        current = object_counts()
        grown = collections.Counter(current)
        grown.subtract(counts)
        top = [f"{name} {count:+d}" for name, count in grown.most_common(TOP) if count > 0]
        log.warning("memory: objects grown: %s", ", ".join(top) or "none")
        return now, current
