// The SMS Accounts page: asks for the API key, finds out what the key's role may see, and mounts
// the tabs. The reference client of this API: each module is one part of the page and names the
// GraphQL operations it uses (README "The SMS Accounts page").
//
// A later part adds a tab as a module exporting mount({ api, root, integration, providers, role })
// (it renders into root) and one entry { id, label, roles, mount } in TABS, e.g. campaigns.js.
// A card extension (accounts.js CARD_EXTENSIONS) is a module imported here, before start().

import { mountAccounts } from "./accounts.js";
import { ApiError, createApi } from "./api.js";
import { mountCampaigns } from "./campaigns.js";
import { fill, h, toast, toastRegionReady, uniqueId } from "./dom.js";
import { mountMessages } from "./messages.js";
import { mountSenders } from "./senders.js";
import { askForKey, forgetKey, storedKey } from "./session.js";
import "./wiring.js"; // the webhook wiring state on each card (a CARD_EXTENSIONS entry)

export const TABS = [
  { id: "accounts", label: "Accounts", roles: ["admin", "marketer", "sales"], mount: accountsTab },
  { id: "send", label: "Send", roles: ["admin", "marketer"], mount: mountSenders },
  { id: "messages", label: "Messages", roles: ["admin", "marketer", "sales"], mount: mountMessages },
  // Admins and marketers write; sales reads the list (resolvers/permissions.py).
  { id: "campaigns", label: "Campaigns", roles: ["admin", "marketer", "sales"], mount: mountCampaigns },
];

const INTEGRATION = "query SmsIntegrationState { smsIntegration { enabled } }";
const PROVIDERS = `query SmsProvidersForm {
  smsProviders { provider label fields { name label required secret hint defaultValue } }
}`;
const SENDERS_PROBE = "query SmsSendersProbe { smsSenders { accountId } }";
const SET_ENABLED = `mutation SetSmsIntegration($enabled: Boolean!) {
  setSmsIntegrationEnabled(enabled: $enabled) { integration { enabled } errors { field code message } }
}`;

const root = document.getElementById("app");

function accountsTab(context) {
  if (context.role === "admin") return mountAccounts(context);
  const where = context.role === "marketer"
    ? "The Send tab lists the verified senders you may use; ask an admin if one is missing."
    : "The Messages tab shows what was sent and the replies.";
  fill(context.root, h("p", { class: "notice" },
    `Only admins add, verify and change SMS accounts. ${where}`));
  return Promise.resolve();
}

// Which role the key has, from what it may read: smsProviders is for admins, smsSenders for
// admins and marketers; everyone reads the integration and messages.
async function discoverRole(api) {
  const forbidden = (error) => error instanceof ApiError && error.code === "FORBIDDEN";
  try {
    const providers = (await api.request(PROVIDERS)).smsProviders;
    return { role: "admin", providers };
  } catch (error) {
    if (!forbidden(error)) throw error;
  }
  try {
    await api.request(SENDERS_PROBE);
    return { role: "marketer", providers: [] };
  } catch (error) {
    if (!forbidden(error)) throw error;
  }
  return { role: "sales", providers: [] };
}

function integrationSwitch(api, integration, role) {
  const id = uniqueId("integration");
  const box = h("input", { id, type: "checkbox", role: "switch", disabled: role !== "admin",
    "aria-describedby": `${id}-state` });
  box.checked = integration.enabled;
  const state = h("span", { id: `${id}-state`, class: "switch-state" }, integration.enabled ? "On" : "Off");
  box.addEventListener("change", async () => {
    box.disabled = true;
    try {
      const payload = (await api.request(SET_ENABLED, { enabled: box.checked })).setSmsIntegrationEnabled;
      if (payload.errors.length) toast(payload.errors[0].message, "error");
      integration.enabled = payload.integration.enabled;
    } catch (error) {
      toast(error.message, "error");
    }
    box.checked = integration.enabled;
    state.textContent = integration.enabled ? "On" : "Off";
    box.disabled = false;
    integration.listeners.forEach((listener) => listener());
  });
  return h("div", { class: "integration" }, h("label", { for: id }, "SMS integration"), box, state);
}

function tabs(context, allowed) {
  const list = h("div", { role: "tablist", "aria-label": "SMS" });
  const panels = h("div", { class: "panels" });
  const panelOf = new Map();
  const buttons = allowed.map((tab) => {
    const panel = h("section", { id: `panel-${tab.id}`, role: "tabpanel", "aria-labelledby": `tab-${tab.id}`, hidden: true });
    panels.append(panel);
    panelOf.set(`tab-${tab.id}`, panel);
    tab.mount({ ...context, root: panel });
    return h("button", { type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": panel.id,
      "aria-selected": "false", tabindex: "-1", onclick: () => select(tab.id) }, tab.label);
  });
  function select(id, focus = false) {
    for (const button of buttons) {
      const on = button.id === `tab-${id}`;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      panelOf.get(button.id).hidden = !on;
      if (on && focus) button.focus();
    }
  }
  // Arrow keys, Home and End move between tabs (the WAI-ARIA tabs pattern).
  list.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(allowed[(next + buttons.length) % buttons.length].id, true);
  });
  list.append(...buttons);
  select(allowed[0].id);
  return [list, panels];
}

async function start(problem) {
  const key = storedKey() ?? (await askForKey(root, problem));
  const api = createApi(key);
  let integration;
  let found;
  try {
    integration = { ...(await api.request(INTEGRATION)).smsIntegration, listeners: new Set() };
    found = await discoverRole(api);
  } catch (error) {
    api.close();
    if (error.status === 401) {
      forgetKey();
      return start(error.message);
    }
    fill(root, h("p", { class: "form-error", role: "alert" }, error.message),
      h("button", { type: "button", onclick: () => start() }, "Try again"));
    return;
  }
  const signOut = h("button", { type: "button", onclick: () => { forgetKey(); location.reload(); } }, "Forget key");
  const live = h("span", { class: "live", role: "status" }, "Connecting…");
  api.onConnection((state) => {
    live.textContent = { connected: "● Live", disconnected: "Reconnecting…" }[state] ?? "";
    if (state !== "refused") return;
    forgetKey();
    toast("The API key was revoked or refused: enter a valid key.", "error");
    setTimeout(() => location.reload(), 3000);
  });
  const context = { api, integration, providers: found.providers, role: found.role };
  const allowed = TABS.filter((tab) => tab.roles.includes(found.role));
  fill(
    root,
    h("header", { class: "topbar" },
      h("h1", {}, "SMS Accounts"),
      integrationSwitch(api, integration, found.role),
      h("span", { class: "role" }, `Role: ${found.role}`),
      live,
      signOut),
    ...tabs(context, allowed),
  );
  root.setAttribute("aria-busy", "false");
}

toastRegionReady();
start();
