// The API as this page speaks it: GraphQL over fetch with the key in the Authorization header,
// and subscriptions over the stock graphql-ws client (window.graphqlWs, vendored), whose
// connection_init carries the same header. Every failure becomes an ApiError with a sentence a
// person can act on: never raw JSON.

export class ApiError extends Error {
  constructor(message, { status = 0, code = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const ENDPOINT = "/graphql";

// What to say for an HTTP answer that is not GraphQL's own (the server's JSON refusals).
function refusal(status, body, retryAfter) {
  if (status === 401) {
    return "The API key was refused: it is missing, unknown or revoked. Enter a valid key.";
  }
  if (status === 429) {
    const wait = retryAfter ? ` Wait ${retryAfter} seconds,` : " Wait a moment,";
    return `Too many requests were refused from this address.${wait} then try again.`;
  }
  if (status === 503) {
    const wait = retryAfter ? ` in ${retryAfter} seconds` : " in a moment";
    return `The service is unavailable right now (its database cannot be reached). Try again${wait}.`;
  }
  const sentence = body?.errors?.[0]?.message;
  return sentence || `The server answered with an error (HTTP ${status}). Try again.`;
}

// A top-level GraphQL error as a sentence: the server's own message, except for a refused role.
function graphqlError(error) {
  const code = error.extensions?.code ?? null;
  if (code === "FORBIDDEN") {
    return new ApiError("Your role may not do this: ask an admin.", { status: 200, code });
  }
  return new ApiError(error.message || "The request failed.", { status: 200, code });
}

export function createApi(key) {
  const authorization = `Bearer ${key}`;

  // Run one document; resolves with its data, rejects with an ApiError.
  async function request(query, variables = {}) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers: { Authorization: authorization, "Content-Type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError("The server could not be reached. Check the connection and try again.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON (a proxy's error page): the status alone speaks below.
    }
    if (response.status !== 200 || !body) {
      const retryAfter = response.headers.get("Retry-After");
      const code = body?.errors?.[0]?.extensions?.code ?? null;
      throw new ApiError(refusal(response.status, body, retryAfter), {
        status: response.status,
        code,
      });
    }
    if (body.errors?.length) throw graphqlError(body.errors[0]);
    return body.data;
  }

  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${ENDPOINT}`;
  const listeners = new Set();
  const client = window.graphqlWs.createClient({
    url: wsUrl,
    connectionParams: { Authorization: authorization },
    // Reconnect for as long as the page is open (the server restarts, the laptop sleeps), but
    // never with a key the server refused (4401) or revoked (4403).
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && (event.code === 4401 || event.code === 4403)),
    on: {
      // Events before the socket was up (or while it was down) were missed: on every connection,
      // first or again, the views refetch what they show.
      connected: () => listeners.forEach((listener) => listener("connected")),
      closed: (event) => {
        if (event && (event.code === 4401 || event.code === 4403)) {
          listeners.forEach((listener) => listener("refused"));
        } else {
          listeners.forEach((listener) => listener("disconnected"));
        }
      },
    },
  });

  // Subscribe to ``query`` (with ``variables``): ``onData`` gets each event's data; ``onResync`` is called when the
  // server ended the subscription having missed events (RESYNC_REQUIRED) or for any other
  // reason: the caller refetches, and the subscription starts again (at most once a second).
  // A refused role is not retried. Returns a function that ends it.
  function subscribe(query, onData, onResync, variables = {}) {
    let stop = null;
    let ended = false;
    let refusedWith = null;
    const start = () => {
      stop = client.subscribe(
        { query, variables },
        {
          next: (result) => {
            if (result.errors?.length) {
              const error = graphqlError(result.errors[0]);
              if (error.code === "FORBIDDEN") refusedWith = error;
            } else {
              onData(result.data);
            }
          },
          error: (error) => {
            if (!isClose(error)) restartSoon();
          },
          complete: () => restartSoon(),
        },
      );
    };
    const restartSoon = () => {
      if (ended || refusedWith) return;
      setTimeout(() => {
        if (ended) return;
        start();
        onResync();
      }, 1000);
    };
    start();
    return () => {
      ended = true;
      stop?.();
    };
  }

  return {
    request,
    subscribe,
    onConnection: (listener) => listeners.add(listener),
    close: () => client.dispose(),
  };
}

// A socket closed for good (a refused key): graphql-ws hands over the CloseEvent.
function isClose(error) {
  return typeof CloseEvent !== "undefined" && error instanceof CloseEvent;
}
