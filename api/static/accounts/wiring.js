// Webhook wiring (part 8) on each card: where pointing the sender's inbound webhook at this
// server stands, as a word and a sign (never colour alone) with the server's sentence, and, for
// providers that post delivery reports to one address per account (MSG91), that address with a
// Copy button to paste into the provider's panel. Operations: the fields below, read wherever
// the Accounts tab reads an account (smsAccounts, smsAccountChanged, the mutations' answers).

import { CARD_EXTENSIONS } from "./accounts.js";
import { copyRow, h } from "./dom.js";

const STATES = {
  OFF: { text: "Not wired: paste the inbound URL by hand", sign: "○" },
  PENDING: { text: "Wiring after the next successful Verify", sign: "◔" },
  WIRED: { text: "Webhooks wired", sign: "✓" },
  FAILED: { text: "Webhooks not wired", sign: "✕" },
};

function wiring(webhooks) {
  // OFF with nothing to say is the account that never asked: nothing to show.
  if (webhooks.status === "OFF" && !webhooks.message) return null;
  const state = STATES[webhooks.status];
  return h(
    "div",
    { class: `wiring wiring-${webhooks.status.toLowerCase()}`, "data-role": "wiring" },
    h("p", { class: "wiring-status" }, h("span", { "aria-hidden": "true" }, state.sign), ` ${state.text}`),
    webhooks.message ? h("p", { class: "hint wiring-message" }, webhooks.message) : null,
  );
}

function statusWebhook(account) {
  if (!account.statusWebhookUrl) return null;
  return copyRow({
    label: "Delivery report URL (paste in the provider's panel)",
    value: account.statusWebhookUrl,
    action: "copy-status",
    copied: "Delivery report URL copied",
  });
}

CARD_EXTENSIONS.push({
  fields: "webhooks { status message inboundUrl } statusWebhookUrl",
  render: (account) => [wiring(account.webhooks), statusWebhook(account)],
});
