// The sms-accounts GraphiQL page (ours, not vendored). Every request needs an API key, so the
// schema is fetched only once the Headers pane holds one, and again whenever the headers change:
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
  // GraphiQL's own schema query nests ofType 7 levels deep (depth 12), past the server's depth
  // limit (SMS_MAX_QUERY_DEPTH, 10). Ours stops at 4, enough for the deepest type this API has
  // ([T!]! is NON_NULL, LIST, NON_NULL, T): the answer has the same shape, so docs and
  // autocomplete are the same.
  var TYPE_REF =
    "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
  var INPUT_VALUE =
    "name description type { " + TYPE_REF + " } defaultValue isDeprecated deprecationReason";
  var INTROSPECTION = [
    "query IntrospectionQuery { __schema {",
    " queryType { name } mutationType { name } subscriptionType { name }",
    " types { kind name description",
    "  fields(includeDeprecated: true) { name description",
    "   args(includeDeprecated: true) { " + INPUT_VALUE + " }",
    "   type { " + TYPE_REF + " } isDeprecated deprecationReason }",
    "  inputFields(includeDeprecated: true) { " + INPUT_VALUE + " }",
    "  interfaces { " + TYPE_REF + " }",
    "  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }",
    "  possibleTypes { " + TYPE_REF + " } }",
    " directives { name description locations args(includeDeprecated: true) { " + INPUT_VALUE + " } }",
    "} }",
  ].join("\n");
  // Let headers typed character by character settle before asking for the schema again.
  var SETTLE_MS = 300;

  // GraphiQL keeps the headers of every query it runs in its history (localStorage
  // "graphiql:queries"), whatever shouldPersistHeaders says: the key would lie on disk in clear.
  // Everything GraphiQL stores goes through this storage, which writes every "headers" value as
  // null (as GraphiQL's own tab state does); the headers live in the page's memory only.
  var NAMESPACE = "graphiql:";

  function withoutHeaders(name, value) {
    if (name === NAMESPACE + "headers") return null;
    var parsed;
    try {
      parsed = JSON.parse(value);
    } catch (_) {
      return value;
    }
    if (!parsed || typeof parsed !== "object") return value;
    return JSON.stringify(parsed, function (key, item) {
      return key === "headers" ? null : item;
    });
  }

  function ourNames() {
    var names = [];
    for (var index = 0; index < localStorage.length; index++) {
      var name = localStorage.key(index);
      if (name && name.indexOf(NAMESPACE) === 0) names.push(name);
    }
    return names;
  }

  var storage = {
    getItem: function (name) {
      return localStorage.getItem(name);
    },
    setItem: function (name, value) {
      var kept = withoutHeaders(name, String(value));
      if (kept === null) localStorage.removeItem(name);
      else localStorage.setItem(name, kept);
    },
    removeItem: function (name) {
      localStorage.removeItem(name);
    },
    clear: function () {
      ourNames().forEach(function (name) {
        localStorage.removeItem(name);
      });
    },
    get length() {
      return ourNames().length;
    },
  };

  // What an earlier version of this page stored, keys included, is cleaned on the first visit.
  try {
    ourNames().forEach(function (name) {
      storage.setItem(name, localStorage.getItem(name));
    });
  } catch (_) {
    // No localStorage (a sandboxed or private window): GraphiQL then stores nothing either.
  }

  // The endpoint is the URL this page was served from; subscriptions use the same path.
  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");

  // What the schema request should send: the Headers pane's JSON, normalised, when it holds a
  // key; "" when it holds none (placeholder, empty pane); null while it is not valid JSON, that
  // is while being edited, so the schema in use stays.
  function schemaHeaders(text) {
    var parsed;
    try {
      parsed = JSON.parse(text || "{}");
    } catch (_) {
      return null;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return null;
    for (var name in parsed) {
      if (name.toLowerCase() !== "authorization" || typeof parsed[name] !== "string") continue;
      var match = /^\s*bearer\s+(\S+)\s*$/i.exec(parsed[name]);
      if (match && match[1] !== PLACEHOLDER && match[1].charAt(0) !== "<") {
        return JSON.stringify(parsed);
      }
    }
    return "";
  }

  function Page() {
    var headersState = React.useState(DEFAULT_HEADERS);
    var settledState = React.useState("");
    var headers = headersState[0];
    var settled = settledState[0];

    React.useEffect(
      function () {
        var timer = setTimeout(function () {
          var next = schemaHeaders(headers);
          if (next !== null) settledState[1](next);
        }, SETTLE_MS);
        return function () {
          clearTimeout(timer);
        };
      },
      [headers],
    );
    // A new fetcher whenever the headers settle on new values makes GraphiQL introspect again
    // (it sends the Headers pane with every request itself, websocket connection params too).
    var fetcher = React.useMemo(
      function () {
        var fetch = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
        return function (params, options) {
          if (params && params.operationName === "IntrospectionQuery") {
            params = Object.assign({}, params, { query: INTROSPECTION });
          }
          return fetch(params, options);
        };
      },
      [settled],
    );
    var explorer = React.useMemo(function () {
      return GraphiQLPluginExplorer.explorerPlugin();
    }, []);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      // null: no introspection (it could only fail) until a key is there; undefined: introspect.
      schema: settled ? undefined : null,
      headers: headers,
      onEditHeaders: headersState[1],
      defaultQuery: WELCOME,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // The key is a credential: keep it out of localStorage (history included, see storage).
      shouldPersistHeaders: false,
      storage: storage,
      plugins: [explorer],
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Page));
})();
