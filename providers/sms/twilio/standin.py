"""The Twilio stand-in: a real HTTP server on 127.0.0.1 that answers like Twilio's REST API, so
the product can be tried without a Twilio account (``sms-accounts dev-twilio``) and tested and
benchmarked against something that speaks HTTP (the tests and benches steer it by its knobs).

It serves one account (Basic auth checked on every request: a wrong Auth Token gets Twilio's
``401`` / 20003, another account ``404`` / 20404), its numbers and its Messaging Services, with
bodies built from Twilio's OpenAPI examples (``standin_fixtures``):

* ``GET  /2010-04-01/Accounts/{Sid}.json``: the account;
* ``GET  …/IncomingPhoneNumbers.json[?PhoneNumber=…]``: the numbers, filtered as Twilio filters
  (a partial number matches, ``*`` is any digit);
* ``GET|POST …/IncomingPhoneNumbers/{PN…}.json``: a number; the POST sets its fields (``SmsUrl``,
  ``SmsMethod``, ``SmsApplicationSid``…);
* ``POST …/Messages.json``: a send, answered with the Message resource (``queued``);
* ``GET|POST /v1/Services/{MG…}``: a Messaging Service (the ``messaging.`` host's path; the
  stand-in serves it on the same host); the POST sets ``InboundRequestUrl``, ``InboundMethod``,
  ``UseInboundWebhookOnNumber``…

A POST takes only the form fields Twilio's description lists for its operation, with values of
the described type (stricter than Twilio, which ignores unknown names: a typo shows here). The
account's resources and Twilio's rules over them (refused sends, inbound routing) are in
``standin_account``.

After a send, its status callbacks (``queued``, ``sent``, ``delivered``; or ``undelivered`` with
``undelivered_code``) are posted to its ``StatusCallback`` ``callback_delay`` seconds apart, then,
when ``reply`` is set, the recipient's reply to where Twilio would deliver it (the number's
``SmsUrl``, or its Messaging Service's ``InboundRequestUrl`` unless the service defers to the
number's), each signed with the Auth Token as Twilio signs (``X-Twilio-Signature``).

Bounded, so it can run for weeks: at most ``max_pending`` messages have callbacks still due (a
send beyond is answered 21611, Twilio's answer when a sender's queue is full), one task posts them
(``standin_courier``: a few in flight, each within ``WEBHOOK_TIMEOUT``), and what it records for
tests keeps the last ``RECORDED`` of each kind.

Knobs (any thread may set them while it runs): ``latency`` (before every answer),
``send_latency`` (before answering a send), ``hang`` (requests arriving while on wait
``hang_seconds`` or until ``stop()``), ``send_error`` (sends refused with that Twilio code),
``rate_limited_sends`` (that many next sends get 429 / 20429), ``refuse_updates`` (a POST to a
number or a Messaging Service answered with that HTTP status, 401 / 20003 or 403 / 20403: as
credentials that may read but not change them get), ``failing_updates`` (that many next such
POSTs get 503), ``drop_callbacks``, ``undelivered_code``, ``callback_delay``, ``reply``.

A server calling it needs ``SMS_ALLOWED_PROVIDER_HOSTS=127.0.0.1`` (a literally listed IP may be
dialled, over http too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.text import segments
from providers.sms.twilio import standin_fixtures as fixtures
from providers.sms.twilio.standin_account import StandInAccount
from providers.sms.twilio.standin_courier import POSTS_AT_ONCE, Courier, Delivery, signed

log = logging.getLogger("sms_accounts.standin")

T = TypeVar("T")

RECORDED = 10_000  # requests, sends and webhooks kept for tests and benches: the last ones
MAX_PENDING = 10_000  # messages whose callbacks are still due
WEBHOOK_TIMEOUT = 5.0
LISTEN_BACKLOG = 2048  # uvicorn's
RATE_LIMITED = 20429
QUEUE_FULL = 21611
# Twilio's codes for an update refused by HTTP status: not authenticated, not permitted.
REFUSED_UPDATE_CODES = {401: 20003, 403: 20403}
_FORM = "application/x-www-form-urlencoded"


class Knob(Generic[T]):
    """A setting any thread may read or change while the server runs (under the stand-in's
    lock); each request reads it once."""

    def __init__(self, default: T) -> None:
        self._default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = "_knob_" + name

    def __get__(self, instance: TwilioStandIn, owner: type) -> T:
        with instance._lock:
            value: T = getattr(instance, self._name, self._default)
            return value

    def __set__(self, instance: TwilioStandIn, value: T) -> None:
        with instance._lock:
            setattr(instance, self._name, value)


@dataclass(frozen=True, slots=True)
class Send:
    """A send the stand-in accepted."""

    sid: str
    to: str
    sender: str  # the From number, or the Messaging Service SID
    body: str
    status_callback: str | None
    at: float = 0.0  # when it was accepted (time.time()): pace measurements read it


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook the stand-in posted: a status callback or a reply."""

    kind: str  # "status" or "reply"
    url: str
    params: tuple[tuple[str, str], ...]
    status_code: int | None  # None: no answer (refused, timed out)

    @property
    def form(self) -> dict[str, str]:
        return dict(self.params)


class TwilioStandIn:
    """The stand-in and its runner: ``start()`` (a thread) or ``serve()`` (the foreground),
    ``base_url``, the knobs, what it recorded, ``stop()``."""

    latency = Knob[float](0.0)
    send_latency = Knob[float](0.0)
    hang = Knob[bool](False)
    send_error = Knob[int | None](None)
    rate_limited_sends = Knob[int](0)
    refuse_updates = Knob[int | None](None)
    failing_updates = Knob[int](0)
    drop_callbacks = Knob[bool](False)
    undelivered_code = Knob[int | None](None)
    callback_delay = Knob[float](0.2)
    reply = Knob[str | None](None)

    def __init__(
        self,
        *,
        account_sid: str = fixtures.ACCOUNT_SID,
        auth_token: str = fixtures.AUTH_TOKEN,
        numbers: Iterable[tuple[str, bool]] = ((fixtures.PHONE, True),),
        services: Iterable[str] = (fixtures.MG_SID,),
        service_numbers: Iterable[str] | None = None,
        account_status: str = "active",
        account_type: str = "Full",
        latency: float = 0.0,
        send_latency: float = 0.0,
        hang_seconds: float = 3600.0,
        callback_delay: float = 0.2,
        reply: str | None = None,
        max_pending: int = MAX_PENDING,
        posts_at_once: int = POSTS_AT_ONCE,
        port: int = 0,
        recorded: int = RECORDED,
    ) -> None:
        self.account = StandInAccount(
            account_sid,
            numbers=numbers,
            services=services,
            service_numbers=service_numbers,
            status=account_status,
            type=account_type,
        )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.phone_number = self.account.phone_number
        self.hang_seconds = hang_seconds
        self.port = port
        self._max_pending = max_pending
        self._posts_at_once = posts_at_once
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._knob_latency = latency
        self._knob_send_latency = send_latency
        self._knob_callback_delay = callback_delay
        self._knob_reply = reply
        self._knob_rate_limited_sends = 0
        self._knob_failing_updates = 0
        self._requests = self._posted = 0
        self._paths: deque[str] = deque(maxlen=recorded)
        self._sends: deque[Send] = deque(maxlen=recorded)
        self._webhooks: deque[Webhook] = deque(maxlen=recorded)
        self._release: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._courier: Courier | None = None
        self._http: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.app = self._build_app()

    # --- what it recorded, safe to read from any thread ----------------------------------------

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def paths(self) -> list[str]:
        """Path of every request received (the last ``RECORDED``), in arrival order."""
        with self._lock:
            return list(self._paths)

    @property
    def sends(self) -> list[Send]:
        """The sends accepted (the last ``RECORDED``), in order."""
        with self._lock:
            return list(self._sends)

    @property
    def webhooks(self) -> list[Webhook]:
        """The webhooks posted (the last ``RECORDED``), in order."""
        with self._lock:
            return list(self._webhooks)

    def reset_counter(self) -> None:
        with self._lock:
            self._requests = 0
            self._paths.clear()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests have arrived; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._requests >= count, timeout)

    def wait_for_webhooks(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` webhooks have been posted; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._posted >= count, timeout)

    def incoming_number(self, phone_number: str) -> dict[str, Any]:
        """The number's resource as ``GET`` answers it now."""
        found = self.account.number(fixtures.pn_sid(phone_number))
        if found is None:
            raise KeyError(phone_number)
        return found

    @property
    def pending_deliveries(self) -> int:
        """Messages whose callbacks (or reply) are still due."""
        courier = self._courier
        return 0 if courier is None else courier.pending

    # --- runner ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the Twilio stand-in is not started")
        return f"http://127.0.0.1:{self.port}/"

    def bind(self) -> socket.socket:
        """Take the port (``port=0``: a free one) before serving, so that ``base_url`` can be
        told first; raises OSError when it is taken."""
        if self._socket is None:
            # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says
            # TCP (with 0, every keep-alive answer waits ~40 ms for a delayed ACK: Nagle).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError:
                sock.close()
                raise
            # Listening already: a client told the port now is queued until the server accepts.
            sock.listen(LISTEN_BACKLOG)
            self.port = sock.getsockname()[1]
            self._socket = sock
        return self._socket

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="on",
            log_level="warning",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        return self._server

    def serve(self) -> None:
        """Serve in the foreground until SIGINT or SIGTERM."""
        self._uvicorn().run(sockets=[self.bind()])

    def start(self) -> TwilioStandIn:
        server = self._uvicorn()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.bind()]}, name="twilio-standin", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Twilio stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Release hanging requests, then shut the server down."""
        with self._lock:
            release = self._release
        if release is not None and not release[0].is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                release[0].call_soon_threadsafe(release[1].set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """The courier and its HTTP client live as long as the server."""
        courier = Courier(self._max_pending, self._posts_at_once, self._deliver_next)
        http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
        with self._lock:
            self._release = (asyncio.get_running_loop(), asyncio.Event())
        self._courier, self._http = courier, http
        runner = asyncio.create_task(courier.run())
        try:
            yield
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await courier.aclose()
            await http.aclose()
            self._courier = self._http = None
            with self._lock:
                self._release = None

    # --- the app -----------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        numbers = "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers"
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}.json", self._get_account, methods=["GET"]),
                Route(f"{numbers}.json", self._list_numbers, methods=["GET"]),
                Route(f"{numbers}/{{pn}}.json", self._number, methods=["GET", "POST"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._send, methods=["POST"]),
                Route("/v1/Services/{mg}", self._service, methods=["GET", "POST"]),
            ],
            lifespan=self._lifespan,
        )

    async def _arrive(
        self, request: Request, *, check_path_sid: bool = True
    ) -> JSONResponse | None:
        """Count the request, apply hang / latency, then check auth and the account in the path."""
        with self._arrived:
            self._requests += 1
            self._paths.append(request.url.path)
            release = self._release
            self._arrived.notify_all()
        if self.hang and release is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release[1].wait(), self.hang_seconds)
        latency = self.latency
        if latency > 0:
            await asyncio.sleep(latency)
        if _basic_auth(request) != (self.account_sid, self.auth_token):
            return _error(20003, 401, "Authenticate")
        if check_path_sid and request.path_params["sid"] != self.account_sid:
            return _not_found()
        return None

    async def _get_account(self, request: Request) -> JSONResponse:
        return await self._arrive(request) or JSONResponse(self.account.body)

    async def _list_numbers(self, request: Request) -> JSONResponse:
        refused = await self._arrive(request)
        if refused is not None:
            return refused
        items = self.account.numbers_matching(request.query_params.get("PhoneNumber"))
        page = fixtures.number_page(items, sid=self.account_sid, query=request.url.query)
        return JSONResponse(page)

    async def _number(self, request: Request) -> JSONResponse:
        account = self.account
        return await self._resource(
            request, "pn", account.number, account.update_number, fixtures.API, fixtures.NUMBER_PATH
        )

    async def _service(self, request: Request) -> JSONResponse:
        account = self.account
        read, update, spec = account.service, account.update_service, fixtures.MESSAGING
        return await self._resource(request, "mg", read, update, spec, fixtures.SERVICE_PATH)

    async def _resource(
        self,
        request: Request,
        key: str,
        read: Callable[[str], dict[str, Any] | None],
        update: Callable[[str, list[tuple[str, str]]], dict[str, Any] | None],
        spec: str,
        path: str,
    ) -> JSONResponse:
        """GET answers the resource; POST sets the fields of a checked form and answers it."""
        refused = await self._arrive(request, check_path_sid=key != "mg")
        if refused is not None:
            return refused
        sid = request.path_params[key]
        if request.method == "GET":
            return _found(read(sid))
        refused_update = self._refused_update()
        if refused_update is not None:
            return refused_update
        form = await _checked_form(request, spec, path)
        if isinstance(form, JSONResponse):
            return form
        return _found(update(sid, form))

    def _refused_update(self) -> JSONResponse | None:
        """The answer to an update the knobs refuse (``failing_updates`` counted down)."""
        with self._lock:  # read and counted down at once
            failing = self._knob_failing_updates > 0
            if failing:
                self._knob_failing_updates -= 1
        if failing:
            return _error(20500, 503, "Service Unavailable")
        status = self.refuse_updates
        if status is not None:
            return _error(REFUSED_UPDATE_CODES.get(status, 20001), status, "Twilio says no")
        return None

    async def _send(self, request: Request) -> JSONResponse:
        # Read as it arrives (Starlette keeps it): a send held by ``hang`` is still taken when
        # its caller is gone meanwhile, as Twilio takes a message whose answer is then lost.
        await request.body()
        refused = await self._arrive(request)
        if refused is not None:
            return refused
        form = await _checked_form(request, fixtures.API, fixtures.MESSAGES_PATH)
        if isinstance(form, JSONResponse):
            return form
        send_latency = self.send_latency
        if send_latency > 0:
            await asyncio.sleep(send_latency)
        with self._lock:  # read and counted down at once
            throttled = self._knob_rate_limited_sends > 0
            if throttled:
                self._knob_rate_limited_sends -= 1
        if throttled:
            return _error(RATE_LIMITED, 429, "Too Many Requests")
        failing = self.send_error
        if failing is not None:
            return _error(failing, 400)
        refusal = self.account.send_refusal(dict(form))
        if refusal is not None:
            return _error(*refusal)
        return self._accept(dict(form))

    def _accept(self, form: dict[str, str]) -> JSONResponse:
        """The Message Twilio answers, its deliveries on their way; 21611 when too many are."""
        to, body = form["To"], form.get("Body", "")
        service_sid = form.get("MessagingServiceSid") or None
        sender = self.account.service_numbers[0] if service_sid else form["From"]
        sid = "SM" + secrets.token_hex(16)
        callback = form.get("StatusCallback") or self.account.service_callback(service_sid)
        undelivered = self.undelivered_code
        final = "delivered" if undelivered is None else "undelivered"
        delivery = Delivery(
            sid=sid,
            account_sid=self.account_sid,
            to=to,
            sender=sender,
            service_sid=service_sid,
            callback=callback,
            statuses=deque(("queued", "sent", final)),
            error_code=undelivered,
            reply=self.reply if undelivered is None else None,
            segments=segments(body),
        )
        assert self._courier is not None  # the lifespan made it before any request
        if not self._courier.add(delivery, self.callback_delay):
            return _error(QUEUE_FULL, 400, "The sender's queue of messages is full")
        with self._lock:
            self._sends.append(Send(sid, to, service_sid or sender, body, callback, time.time()))
        log.info("send %s from %s to %s: queued", sid, service_sid or sender, to)
        message = fixtures.message(
            sid,
            account_sid=self.account_sid,
            to=to,
            body=body,
            sender=None if service_sid else sender,
            service_sid=service_sid,
        )
        return JSONResponse(message, status_code=201)

    # --- deliveries --------------------------------------------------------------------------

    async def _deliver_next(self, delivery: Delivery) -> float | None:
        """Post the delivery's next status, or its reply; the delay until the one after."""
        if delivery.statuses:
            status = delivery.statuses.popleft()
            if delivery.callback is not None and not self.drop_callbacks:
                form = delivery.status_form(status)
                await self._post(f"status {status} of {delivery.sid}", delivery.callback, form)
        elif delivery.reply is not None:
            await self._post_reply(delivery, delivery.reply)
            return None
        if delivery.statuses or delivery.reply is not None:
            return self.callback_delay
        return None

    async def _post_reply(self, delivery: Delivery, text: str) -> None:
        """The recipient answers: posted where Twilio delivers an SMS to the sender's number."""
        target = self.account.inbound_target(delivery.sender, delivery.service_sid)
        if isinstance(target, str):
            log.info("reply to %s not posted: %s", delivery.sender, target)
            return
        url, method, service_sid = target
        sid = "SM" + secrets.token_hex(16)
        form = delivery.reply_form(sid, text, segments(text), service_sid)
        await self._post(f"reply from {delivery.to}", url, form, method)

    async def _post(
        self, what: str, url: str, params: list[tuple[str, str]], method: str = "POST"
    ) -> None:
        """One signed webhook; recorded whatever the answer."""
        assert self._http is not None
        target, headers = signed(url, params, self.auth_token, method)
        status_code: int | None = None
        try:
            if method == "GET":
                response = await self._http.get(target, headers=headers)
            else:
                headers["Content-Type"] = _FORM
                response = await self._http.post(target, headers=headers, content=urlencode(params))
            status_code = response.status_code
        except httpx.HTTPError as exc:
            log.warning("%s → %s: %s", what, _without_query(url), type(exc).__name__)
        else:
            log.info("%s → %s: %s", what, _without_query(url), status_code)
        with self._arrived:
            kind = what.split(" ", 1)[0]
            self._webhooks.append(Webhook(kind, url, tuple(params), status_code))
            self._posted += 1
            self._arrived.notify_all()


async def _checked_form(
    request: Request, spec: str, path: str
) -> list[tuple[str, str]] | JSONResponse:
    """The POST's form when every field is one Twilio's description lists for the operation,
    with a value of its type; else the error Twilio (or, for unknown names, the stand-in, which
    is stricter) answers. A URL field with a bad value is Twilio's "invalid callback url"."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        return _error(20001, 400, f"Twilio takes {_FORM} here")
    try:
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return _error(20001, 400, "The form is not UTF-8")
    fields = fixtures.form_fields(spec, path, "post")
    name = fixtures.form_problem(fields, form)
    if name is None:
        return form
    if name not in fields:
        return _error(20001, 400, f"{name} is not a parameter of this resource")
    if fields[name].get("format") == "uri":
        code = 21609 if path == fixtures.MESSAGES_PATH and name == "StatusCallback" else 21502
        return _error(code, 400, f"Invalid {name}: not an http(s) URL")
    return _error(20001, 400, f"Invalid value for {name}")


def _found(resource: dict[str, Any] | None) -> JSONResponse:
    return _not_found() if resource is None else JSONResponse(resource)


def _error(code: int, status: int, message: str = "Twilio says no") -> JSONResponse:
    return JSONResponse(fixtures.error(code, status, message), status_code=status)


def _not_found() -> JSONResponse:
    return _error(20404, 404, "The requested resource was not found")


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None
