// The Messages tab, for every role: what was sent and the replies, newest first, a page at a
// time, each status change and each new reply arriving live from smsMessageUpdated.

import { fill, h, when } from "./dom.js";

const PAGE_SIZE = 20;
const FIELDS = "id accountId direction from to body status errorMessage segments createdAt updatedAt";
const MESSAGES = `query SmsMessagesPage($first: Int!, $after: String) {
  smsMessages(first: $first, after: $after) {
    edges { node { ${FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const UPDATED = `subscription SmsMessagesPageUpdates { smsMessageUpdated { ${FIELDS} } }`;

export function mountMessages({ api, root }) {
  let messages = [];
  let endCursor = null;
  let hasNextPage = false;
  const table = h("table", { class: "messages" },
    h("caption", { class: "visually-hidden" }, "Messages, newest first"),
    h("thead", {}, h("tr", {},
      ["When", "Direction", "From", "To", "Message", "Status"].map((name) => h("th", { scope: "col" }, name)))),
  );
  const rows = h("tbody");
  table.append(rows);
  const more = h("button", { type: "button", onclick: () => loadPage(endCursor) }, "Load older messages");
  const status = h("p", { class: "notice", role: "status" });
  fill(root, h("h2", {}, "Messages"), status, h("div", { class: "table-wrap" }, table), more);

  function render() {
    fill(rows, messages.map((message) => h(
      "tr",
      { "data-id": message.id },
      h("td", { "data-label": "When" }, when(message.createdAt)),
      h("td", { "data-label": "Direction" }, message.direction === "INBOUND" ? "Reply" : "Sent"),
      h("td", { "data-label": "From" }, message.from),
      h("td", { "data-label": "To" }, message.to),
      h("td", { "data-label": "Message", class: "body" }, message.body),
      h("td", { "data-label": "Status" }, message.status.toLowerCase(),
        message.errorMessage ? h("span", { class: "hint" }, ` — ${message.errorMessage}`) : null),
    )));
    more.hidden = !hasNextPage;
    status.textContent = messages.length ? "" : "No messages yet.";
  }

  async function loadPage(after) {
    try {
      const page = (await api.request(MESSAGES, { first: PAGE_SIZE, after })).smsMessages;
      const nodes = page.edges.map((edge) => edge.node);
      messages = after ? [...messages, ...nodes.filter((node) => !messages.some((m) => m.id === node.id))] : nodes;
      endCursor = page.pageInfo.endCursor;
      hasNextPage = page.pageInfo.hasNextPage;
      render();
    } catch (error) {
      status.textContent = error.message;
    }
  }

  // A known message changes in place; a new one (a reply, a send from elsewhere) goes on top.
  function onUpdate(data) {
    const message = data.smsMessageUpdated;
    const index = messages.findIndex((known) => known.id === message.id);
    if (index >= 0) messages[index] = message;
    else messages = [message, ...messages];
    render();
  }

  api.subscribe(UPDATED, onUpdate, () => loadPage(null));
  api.onConnection((state) => state === "connected" && loadPage(null));
  return loadPage(null);
}
