"""A loopback Twilio stand-in: a real HTTP server on 127.0.0.1 answering the three reads the
service makes, with bodies built from Twilio's OpenAPI spec (``tests.twilio_fixtures``).

* ``GET /2010-04-01/Accounts/{Sid}.json``: the account resource (``account()``);
* ``GET /2010-04-01/Accounts/{Sid}/IncomingPhoneNumbers.json?PhoneNumber=…``: the configured
  numbers equal to ``PhoneNumber`` (all of them without the parameter);
* ``GET /v1/Services/{Sid}``: the Messaging Service, when it is one of the configured ones.

Basic auth is checked on every request: a wrong Auth Token (or another Account SID) gets
Twilio's ``401`` with code 20003; an unknown account or service gets ``404`` with code 20404.

The test thread steers it while it runs (every knob is guarded by a lock):
``latency`` (seconds slept before each answer), ``hang`` (requests that arrive while it is on
sleep ``hang_seconds`` before answering, or until ``stop()``), and it counts and records
every request (``requests``, ``paths``, ``wait_for_requests``).

The base URL is ``http://127.0.0.1:PORT/``: a server calling it needs
``SMS_ALLOWED_PROVIDER_HOSTS=127.0.0.1`` (a literally listed IP may be dialled, over http too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import socket
import threading
import time
from collections.abc import Iterable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests import twilio_fixtures as fixtures

AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
PHONE = "+14155550123"
MG_SID = "MG" + "fedcba9876543210" * 2


class TwilioDouble:
    """The stand-in and its runner: ``start()``, ``base_url``, knobs, ``stop()``."""

    def __init__(
        self,
        *,
        account_sid: str = fixtures.ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        numbers: Iterable[tuple[str, bool]] = ((PHONE, True),),
        services: Iterable[str] = (MG_SID,),
        account_status: str = "active",
        account_type: str = "Full",
        latency: float = 0.0,
        hang_seconds: float = 3600.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = tuple(numbers)
        self.services = tuple(services)
        self.phone_number = self.numbers[0][0] if self.numbers else PHONE
        self._account = fixtures.account(account_sid, status=account_status, type=account_type)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._latency = latency
        self._hang = False
        self._hang_seconds = hang_seconds
        self._paths: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._build_app()

    # --- knobs, safe to call from any thread -----------------------------------------------

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = seconds

    @property
    def hang(self) -> bool:
        with self._lock:
            return self._hang

    @hang.setter
    def hang(self, on: bool) -> None:
        """Requests arriving while on hang; ones already hanging keep hanging (until stop())."""
        with self._lock:
            self._hang = on

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self._paths)

    @property
    def paths(self) -> list[str]:
        """Path of every request received, in arrival order."""
        with self._lock:
            return list(self._paths)

    def reset_counter(self) -> None:
        with self._lock:
            self._paths.clear()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests have arrived; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._paths) >= count, timeout)

    # --- runner ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the Twilio stand-in is not started")
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> TwilioDouble:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
        # (with proto 0, every keep-alive answer waits ~40 ms for a delayed ACK: Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="twilio-double", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Twilio stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Release hanging requests, then shut the server down."""
        with self._lock:
            loop, release = self._loop, self._release
        if loop is not None and release is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(release.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        with self._lock:
            self._loop = self._release = None

    def __enter__(self) -> TwilioDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the app -----------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        async def account(request: Request) -> JSONResponse:
            refused = await self._arrive(request)
            if refused is not None:
                return refused
            return JSONResponse(self._account)

        async def incoming_numbers(request: Request) -> JSONResponse:
            refused = await self._arrive(request)
            if refused is not None:
                return refused
            wanted = request.query_params.get("PhoneNumber")
            found = [(phone, sms) for phone, sms in self.numbers if wanted in (None, phone)]
            return JSONResponse(fixtures.incoming_numbers(*found, sid=self.account_sid))

        async def service(request: Request) -> JSONResponse:
            refused = await self._arrive(request, check_path_sid=False)
            if refused is not None:
                return refused
            sid = request.path_params["sid"]
            if sid not in self.services:
                return JSONResponse(fixtures.error(20404, 404, "not found"), status_code=404)
            return JSONResponse(fixtures.messaging_service(sid, self.account_sid))

        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}.json", account, methods=["GET"]),
                Route(
                    "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                    incoming_numbers,
                    methods=["GET"],
                ),
                Route("/v1/Services/{sid}", service, methods=["GET"]),
            ]
        )

    async def _arrive(
        self, request: Request, *, check_path_sid: bool = True
    ) -> JSONResponse | None:
        """Count the request, apply hang / latency, then check auth and the account in the path."""
        with self._arrived:
            self._paths.append(request.url.path)
            latency, hang, hang_seconds = self._latency, self._hang, self._hang_seconds
            self._arrived.notify_all()
        if hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released().wait(), hang_seconds)
        if latency > 0:
            await asyncio.sleep(latency)
        if _basic_auth(request) != (self.account_sid, self.auth_token):
            return JSONResponse(fixtures.error(20003, 401, "Authenticate"), status_code=401)
        if check_path_sid and request.path_params["sid"] != self.account_sid:
            return JSONResponse(fixtures.error(20404, 404, "not found"), status_code=404)
        return None

    def _released(self) -> asyncio.Event:
        """Set by ``stop()``; created on the server's loop, on first use."""
        with self._lock:
            if self._release is None:
                self._loop = asyncio.get_running_loop()
                self._release = asyncio.Event()
            return self._release


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None
