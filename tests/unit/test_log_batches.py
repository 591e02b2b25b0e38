"""The server's log lines are written in batches, in order; a warning never waits."""

from __future__ import annotations

import asyncio
import io
import logging
import platform

from api.allocator import limit_malloc_arenas
from api.logs import BufferedStreamHandler, TextFormatter


def logger_into(stream: io.StringIO, flush_seconds: float) -> logging.Logger:
    handler = BufferedStreamHandler(stream, flush_seconds=flush_seconds)
    handler.setFormatter(TextFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.batches.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


async def test_info_lines_wait_for_the_batch_and_come_out_in_order() -> None:
    stream = io.StringIO()
    log = logger_into(stream, flush_seconds=0.05)

    log.info("first")
    log.info("second")
    assert stream.getvalue() == ""
    await asyncio.sleep(0.2)

    assert stream.getvalue() == "INFO first\nINFO second\n"


async def test_a_warning_is_written_at_once_with_everything_before_it() -> None:
    stream = io.StringIO()
    log = logger_into(stream, flush_seconds=60)

    log.info("before")
    log.warning("trouble")

    assert stream.getvalue() == "INFO before\nWARNING trouble\n"


def test_a_line_logged_on_a_loop_that_closed_does_not_hold_back_the_next_loops_lines() -> None:
    """``serve`` logs its start-up steps on a loop of its own, then serves on another."""
    stream = io.StringIO()
    log = logger_into(stream, flush_seconds=0.05)

    async def start_up() -> None:
        log.info("migrated")

    async def serve() -> str:
        log.info("serving")
        await asyncio.sleep(0.3)
        return stream.getvalue()

    asyncio.run(start_up())  # its loop closes before its timer fires
    written = asyncio.run(serve())

    assert written == "INFO migrated\nINFO serving\n"


def test_without_an_event_loop_every_line_is_written_at_once() -> None:
    stream = io.StringIO()
    logger_into(stream, flush_seconds=60).info("alone")

    assert stream.getvalue() == "INFO alone\n"


def test_the_malloc_arenas_are_capped_where_the_c_library_is_glibc() -> None:
    glibc = platform.libc_ver()[0] == "glibc"

    assert limit_malloc_arenas(2) is glibc
    assert limit_malloc_arenas(0) is False
