"""A single-page app on its own origin, in a real headless Chromium against a real
`sms-accounts serve`: from an allowed origin its page queries, mutates and subscribes (fetch and
the browser's WebSocket); the same page from another origin is refused both, and its mutation
never runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import account_input
from tests.e2e.browser import chromium, needs_browser
from tests.e2e.server import Server, environment
from tests.integration.documents import ADD, INTEGRATION, SET_ENABLED, UPDATE

pytestmark = needs_browser

SUBSCRIPTION = "subscription { smsAccountChanged { kind account { displayName } } }"
# The page of the app: fetch for queries and mutations, the browser's WebSocket speaking
# graphql-transport-ws for the subscription. Every outcome is reported, refusals included.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>An SMS app</title></head><body><script>
"use strict";
async function post(api, key, query, variables) {
  try {
    const response = await fetch(api + "/graphql", {
      method: "POST",
      headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    });
    return {
      status: response.status,
      requestId: response.headers.get("X-Request-Id"),
      body: await response.json(),
    };
  } catch (error) {
    return { blocked: error.name };
  }
}

function subscribe(api, key, query) {
  const socket = new WebSocket(api.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws");
  const subscription = { events: [], closed: null };
  subscription.ready = new Promise((resolve) => {
    socket.onopen = () => socket.send(JSON.stringify(
      { type: "connection_init", payload: { Authorization: "Bearer " + key } }));
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: query } }));
        resolve(true);
      } else if (data.type === "next") {
        subscription.events.push(data.payload);
      }
    };
    socket.onclose = (event) => { subscription.closed = event.code; resolve(false); };
  });
  subscription.socket = socket;
  return subscription;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Queries, adds an account, subscribes, and renames the account until the event arrives (the
// subscription starts on the server a moment after "subscribe" is sent).
window.useTheApi = async function (api, key, documents, input) {
  const result = {};
  result.query = await post(api, key, documents.integration);
  result.added = await post(api, key, documents.add, { input: input });
  const subscription = subscribe(api, key, documents.subscription);
  result.subscribed = await subscription.ready;
  const added = result.added.body && result.added.body.data.addSmsAccount.account;
  for (let attempt = 0; result.subscribed && added && attempt < 50; attempt++) {
    await post(api, key, documents.update,
      { id: added.id, input: { displayName: "Renamed " + attempt } });
    await pause(200);
    if (subscription.events.length) break;
  }
  result.events = subscription.events;
  result.closed = subscription.closed;
  result.turnedOff = await post(api, key, documents.setEnabled, { enabled: false });
  subscription.socket.close();
  return result;
};
</script></body></html>
"""
DOCUMENTS = {
    "integration": INTEGRATION,
    "add": ADD,
    "update": UPDATE,
    "setEnabled": SET_ENABLED,
    "subscription": SUBSCRIPTION,
}


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def page_server() -> Iterator[str]:
    """The app's page, served on a port of its own: its own origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def use_the_api(driver: Any, page: str, api: str, key: str, input: dict[str, Any]) -> Any:
    driver.get(f"{page}/")
    return driver.execute_async_script(
        "window.useTheApi(...Array.from(arguments).slice(0, 4)).then(arguments[4])",
        api,
        key,
        DOCUMENTS,
        input,
    )


def test_an_allowed_page_queries_mutates_and_subscribes_and_another_is_refused(
    workdir: Path, tmp_path: Path
) -> None:
    with page_server() as allowed_page, page_server() as other_page, ThreadPoolExecutor() as pool:
        # The server and the browser start side by side: each takes seconds.
        starting = pool.submit(Server, workdir, environment({"SMS_ALLOWED_ORIGINS": allowed_page}))
        with chromium(tmp_path / "chromium-profile") as browser:
            server = starting.result()
            try:
                key = server.first_key()
                server.graphql(key, SET_ENABLED, {"enabled": True})
                browser.set_script_timeout(60)
                allowed = use_the_api(browser, allowed_page, server.url, key, account_input())
                server.graphql(key, SET_ENABLED, {"enabled": True})
                other = use_the_api(
                    browser, other_page, server.url, key, account_input(senderId="+14155550199")
                )
                still_on = server.graphql(key, INTEGRATION)
            finally:
                server.stop()

    assert allowed["query"]["body"] == {"data": {"smsIntegration": {"enabled": True}}}
    assert allowed["query"]["requestId"]  # exposed to the page
    assert allowed["added"]["body"]["data"]["addSmsAccount"]["message"] == (
        "SMS Account added successfully"
    )
    assert allowed["subscribed"] is True
    assert allowed["events"][0]["data"]["smsAccountChanged"]["kind"] == "UPDATED"
    assert allowed["turnedOff"]["status"] == 200

    assert other["query"] == {"blocked": "TypeError"}
    assert other["added"] == {"blocked": "TypeError"}
    assert other["subscribed"] is False
    assert other["closed"] == 1006  # the handshake was refused
    assert other["turnedOff"] == {"blocked": "TypeError"}
    # The other page's preflight was refused, so its mutation never reached GraphQL.
    assert still_on == {"smsIntegration": {"enabled": True}}
