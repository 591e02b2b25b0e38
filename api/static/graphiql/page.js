// The sms-accounts GraphiQL page (ours, not vendored). Every request needs an API key, so the
// schema is fetched only once the Headers pane holds one, and again whenever the key changes:
// autocomplete and docs work as soon as a key is pasted, with no "Error fetching schema" first.
(function () {
  "use strict";

  var PLACEHOLDER = "<paste your key>";
  var DEFAULT_HEADERS = JSON.stringify({ Authorization: "Bearer " + PLACEHOLDER }, null, 2);
  var WELCOME = [
    "# Welcome to the sms-accounts GraphQL API.",
    "#",
    "# 1. In the Headers pane below, replace " + PLACEHOLDER,
    "#    with your API key (sms-accounts create-api-key).",
    "# 2. Autocomplete (Ctrl-Space) and the docs load",
    "#    as soon as the key is in.",
    "# 3. Run a query: Ctrl-Enter or the play button.",
    "",
    "query Accounts {",
    "  smsAccounts {",
    "    stats { connected verified awaitingAction }",
    "  }",
    "}",
    "",
  ].join("\n");
  // Settle a key typed character by character before asking for the schema again.
  var KEY_SETTLE_MS = 300;

  // The endpoint is the URL this page was served from; subscriptions use the same path.
  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");

  // The key in an Authorization header of the Headers pane, or "" while there is none yet
  // (placeholder, empty pane, JSON being edited).
  function keyIn(headers) {
    var parsed;
    try {
      parsed = JSON.parse(headers || "{}");
    } catch (_) {
      return "";
    }
    if (!parsed || typeof parsed !== "object") return "";
    for (var name in parsed) {
      if (name.toLowerCase() !== "authorization" || typeof parsed[name] !== "string") continue;
      var match = /^\s*bearer\s+(\S+)\s*$/i.exec(parsed[name]);
      if (match && match[1] !== PLACEHOLDER && match[1].indexOf("<") !== 0) return match[1];
    }
    return "";
  }

  function Page() {
    var headersState = React.useState(DEFAULT_HEADERS);
    var keyState = React.useState("");
    var headers = headersState[0];
    var key = keyState[0];

    React.useEffect(
      function () {
        var timer = setTimeout(function () {
          keyState[1](keyIn(headers));
        }, KEY_SETTLE_MS);
        return function () {
          clearTimeout(timer);
        };
      },
      [headers],
    );
    // A new fetcher per key makes GraphiQL introspect again (GraphiQL merges the Headers pane
    // into every request itself, websocket connection params included).
    var fetcher = React.useMemo(
      function () {
        return GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
      },
      [key],
    );
    var explorer = React.useMemo(function () {
      return GraphiQLPluginExplorer.explorerPlugin();
    }, []);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      // null: no introspection (it could only fail) until a key is there; undefined: introspect.
      schema: key ? undefined : null,
      headers: headers,
      onEditHeaders: headersState[1],
      defaultQuery: WELCOME,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // The key is a credential: keep it out of localStorage.
      shouldPersistHeaders: false,
      plugins: [explorer],
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Page));
})();
