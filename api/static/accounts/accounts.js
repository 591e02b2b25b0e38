// The Accounts tab: the stat row, one card per account, "+ Add account", and every card's
// actions (Edit, Verify, Remove, copy the inbound URL). Everything moves live from
// smsAccountChanged, changes made in other windows included.
//
// Later parts add to a card without touching this file's logic: a module imported by main.js
// pushes { fields, render } onto CARD_EXTENSIONS (``fields`` is GraphQL selected on SmsAccount
// wherever the page reads an account, ``render(account)`` returns an element, an array of them or null,
// shown on the card below its details), e.g. wiring.js for the webhook wiring state.

import { openAccountDialog, ROUTES } from "./account-dialog.js";
import { confirmModal, copyRow, fill, h, toast, uniqueId, when } from "./dom.js";

export const CARD_EXTENSIONS = [];

const BASE_FIELDS = `id provider displayName senderId senderKind dltEntityId clientId
  authTokenHint baseUrl route sendRatePerSecond status failure failureMessage inboundWebhookUrl verifiedAt
  lastCheckedAt createdAt updatedAt`;

export function accountFields() {
  return [BASE_FIELDS, ...CARD_EXTENSIONS.map((extension) => extension.fields)].join(" ");
}

const ACCOUNTS = () => `query SmsAccountsPage {
  smsAccounts { stats { connected verified awaitingAction } nodes { ${accountFields()} } }
}`;
const CHANGED = () => `subscription SmsAccountsPageChanges {
  smsAccountChanged {
    kind
    account { ${accountFields()} }
    stats { connected verified awaitingAction }
  }
}`;
const VERIFY = () => `mutation VerifySmsAccount($id: ID!) {
  verifySmsAccount(id: $id) { message account { ${accountFields()} } errors { field code message } }
}`;
const REMOVE = `mutation RemoveSmsAccount($id: ID!) {
  removeSmsAccount(id: $id) { message account { id } errors { field code message } }
}`;

// The badge of each status: a word and a sign, so colour is never the only cue.
const BADGES = {
  DRAFT: { text: "Draft", sign: "○" },
  VERIFYING: { text: "Verifying", sign: "◔" },
  VERIFIED: { text: "Verified", sign: "✓" },
  FAILED: { text: "Failed", sign: "✕" },
};
const SENDER_KINDS = { PHONE_NUMBER: "From number", MESSAGING_SERVICE: "Messaging Service" };
const pace = (rate) => (rate ? `up to ${rate} segment${rate === 1 ? "" : "s"} a second` : "");

export function mountAccounts({ api, root, integration, providers }) {
  const accounts = new Map();
  const removed = new Set();
  let stats = null;
  const statRow = h("dl", { class: "stats", "aria-label": "Stat row" });
  const toolbar = h("div", { class: "toolbar" });
  const list = h("div", { class: "cards" });
  const status = h("p", { class: "notice", role: "status" });
  fill(root, h("h2", { class: "visually-hidden" }, "Accounts"), statRow, toolbar, status, list);

  const labelOf = (provider) =>
    providers.find((item) => item.provider === provider)?.label ?? provider;
  // A card shows what its provider's form asks for: no Client ID or Base URL on an MSG91 card.
  const asks = (provider, name) =>
    providers.find((item) => item.provider === provider)?.fields.some((field) => field.name === name);

  // Newer state wins: an event and a mutation's answer may arrive in either order.
  function upsert(account) {
    if (removed.has(account.id)) return;
    const known = accounts.get(account.id);
    if (known && Date.parse(known.updatedAt) > Date.parse(account.updatedAt)) return;
    accounts.set(account.id, account);
  }

  function forget(id) {
    removed.add(id);
    accounts.delete(id);
  }

  function renderStats() {
    if (!stats) return;
    const stat = (label, value, name) =>
      h("div", { class: `stat stat-${name}` }, h("dt", {}, label), h("dd", {}, String(value)));
    fill(
      statRow,
      stat("Connected", stats.connected, "connected"),
      stat("Verified", stats.verified, "verified"),
      stat("Awaiting action", stats.awaitingAction, "awaiting"),
    );
  }

  function renderToolbar() {
    const add = h("button", { type: "button", class: "primary", onclick: () => edit(null) }, "+ Add account");
    fill(toolbar, integration.enabled ? add : null);
    status.textContent = integration.enabled
      ? ""
      : "The SMS integration is off: turn it on above to add accounts.";
  }

  // Re-render every card, keeping keyboard focus on the same control of the same card.
  function renderCards() {
    const focused = document.activeElement;
    const card = focused?.closest?.(".card");
    const again = card && { id: card.dataset.id, action: focused.dataset.action };
    const sorted = [...accounts.values()].sort(
      (a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.id.localeCompare(b.id),
    );
    fill(
      list,
      sorted.length
        ? sorted.map(renderCard)
        : h("p", { class: "empty" }, "No SMS account yet."),
    );
    if (again) {
      const target = list.querySelector(`.card[data-id="${CSS.escape(again.id)}"]`);
      (target?.querySelector(`[data-action="${again.action}"]`) ?? target?.querySelector("h3"))?.focus();
    }
  }

  function renderCard(account) {
    const titleId = uniqueId("card");
    const badge = BADGES[account.status];
    const detail = (term, value) => (value ? [h("dt", {}, term), h("dd", {}, value)] : []);
    const kind = SENDER_KINDS[account.senderKind] ?? "Sender ID";
    return h(
      "article",
      { class: `card status-${account.status.toLowerCase()}`, "data-id": account.id, "aria-labelledby": titleId },
      h(
        "header",
        {},
        h("h3", { id: titleId, tabindex: "-1" }, account.displayName),
        h("span", { class: `badge badge-${account.status.toLowerCase()}` },
          h("span", { "aria-hidden": "true" }, badge.sign), ` ${badge.text}`),
      ),
      h(
        "dl",
        { class: "details" },
        detail("Provider", labelOf(account.provider)),
        detail(kind, account.senderId || "None: add a sender before verifying"),
        detail("Client ID", asks(account.provider, "clientId") && account.clientId),
        detail("Auth Token", account.authTokenHint),
        detail("DLT Entity ID", account.dltEntityId),
        detail("Route", ROUTES[account.route]),
        detail("Base URL", asks(account.provider, "baseUrl") && account.baseUrl),
        detail("Pace", pace(account.sendRatePerSecond)),
        detail("Last checked", when(account.lastCheckedAt)),
      ),
      account.status === "FAILED" && account.failureMessage
        ? h("p", { class: "failure", "data-role": "failure" }, account.failureMessage)
        : null,
      inboundUrl(account, titleId),
      CARD_EXTENSIONS.map((extension) => extension.render(account)),
      actions(account),
    );
  }

  function inboundUrl(account, titleId) {
    if (!account.inboundWebhookUrl) return null;
    return copyRow({
      label: "Inbound URL (paste in Twilio as “A message comes in”)",
      value: account.inboundWebhookUrl,
      action: "copy",
      describedBy: titleId,
      copied: "Inbound URL copied",
    });
  }

  function actions(account) {
    const name = account.displayName;
    const verifiable = account.status === "DRAFT" || account.status === "FAILED";
    return h(
      "div",
      { class: "actions" },
      h("button", { type: "button", "data-action": "edit", "aria-label": `Edit ${name}`,
        onclick: () => edit(account) }, "Edit"),
      verifiable
        ? h("button", { type: "button", class: "primary", "data-action": "verify",
            "aria-label": `Verify ${name}`, onclick: () => verify(account) }, "Verify")
        : null,
      account.status === "VERIFYING"
        ? h("button", { type: "button", disabled: true, "data-action": "verify" }, "Verifying…")
        : null,
      h("button", { type: "button", class: "danger", "data-action": "remove",
        "aria-label": `Remove ${name}`, onclick: () => remove(account) }, "Remove"),
    );
  }

  function render() {
    renderStats();
    renderToolbar();
    renderCards();
  }

  async function edit(account) {
    const saved = await openAccountDialog({ api, providers, account, fields: accountFields() });
    if (!saved) return;
    upsert(saved);
    renderCards();
  }

  async function verify(account) {
    try {
      const payload = (await api.request(VERIFY(), { id: account.id })).verifySmsAccount;
      if (payload.errors.length) {
        toast(payload.errors[0].message, "error");
        return;
      }
      toast(payload.message || "Verification process started");
      if (payload.account) upsert(payload.account);
      renderCards();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async function remove(account) {
    const sure = await confirmModal(
      `Remove ${account.displayName}?`,
      "The account stops sending at once and leaves the sender picker. Its messages stay.",
      "Remove account",
    );
    if (!sure) return;
    try {
      const payload = (await api.request(REMOVE, { id: account.id })).removeSmsAccount;
      if (payload.errors.length) {
        toast(payload.errors[0].message, "error");
        return;
      }
      toast(payload.message || "SMS Account removed");
      forget(account.id);
      renderCards();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  // The snapshot replaces what is shown, unless events arrived while it was fetched: they may
  // be newer than it, so then its cards only fill in (newer wins) and the events' stat row stays.
  let eventsSeen = 0;
  async function load() {
    const before = eventsSeen;
    try {
      const data = await api.request(ACCOUNTS());
      if (eventsSeen === before) {
        accounts.clear();
        stats = data.smsAccounts.stats;
      }
      data.smsAccounts.nodes.forEach(upsert);
      render();
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function onEvent(data) {
    const event = data.smsAccountChanged;
    eventsSeen += 1;
    stats = event.stats;
    if (event.kind === "REMOVED") forget(event.account.id);
    else upsert(event.account);
    render();
  }

  api.subscribe(CHANGED(), onEvent, load);
  api.onConnection((state) => state === "connected" && load());
  integration.listeners.add(renderToolbar);
  return load();
}
