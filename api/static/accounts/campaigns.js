// The Campaigns tab (part 9): create a campaign on a sender from the picker, add recipients from
// a pasted list or a CSV file, start, pause, resume or cancel it, and watch each campaign's
// progress bar move live. Admins and marketers write; every other role reads the list.
// Operations: smsCampaigns, smsSenders + smsSendersChanged (the form's sender picker, senders.js),
// createSmsCampaign, addSmsCampaignRecipients, start/pause/resume/cancelSmsCampaign, and one
// smsCampaignChanged(id) per campaign shown (refetched with smsCampaign(id) after a gap).

import { fill, h, toast, uniqueId, when } from "./dom.js";
import { followSenders } from "./senders.js";

const FIELDS = `id name accountId body status statusMessage createdAt startedAt completedAt
  progress { total pending sent delivered undelivered failed skipped unconfirmed }`;
// The newest campaigns, each followed by its own subscription: with the page's other three, well
// under the server's operations per websocket (SMS_WS_MAX_SUBSCRIPTIONS, 20 by default).
const SHOWN = 10;
const CAMPAIGNS = `query SmsCampaignsPage($first: Int!) { smsCampaigns(first: $first) { edges { node { ${FIELDS} } } } }`;
const CAMPAIGN = `query SmsCampaignCard($id: ID!) { smsCampaign(id: $id) { ${FIELDS} } }`;
const CHANGED = `subscription SmsCampaignProgress($id: ID!) { smsCampaignChanged(id: $id) { ${FIELDS} } }`;
const PAYLOAD = `campaign { ${FIELDS} } errors { field code message }`;
const CREATE = `mutation CreateSmsCampaign($input: CreateSmsCampaignInput!) {
  createSmsCampaign(input: $input) { ${PAYLOAD} }
}`;
const ADD = `mutation AddSmsCampaignRecipients($id: ID!, $recipients: [SmsCampaignRecipientInput!]!) {
  addSmsCampaignRecipients(id: $id, recipients: $recipients) { ${PAYLOAD} }
}`;
const ACTIONS = {
  start: { label: "Start", mutation: "startSmsCampaign", from: ["DRAFT"], primary: true },
  pause: { label: "Pause", mutation: "pauseSmsCampaign", from: ["SENDING"] },
  resume: { label: "Resume", mutation: "resumeSmsCampaign", from: ["PAUSED"], primary: true },
  cancel: { label: "Cancel campaign", mutation: "cancelSmsCampaign", from: ["DRAFT", "SENDING", "PAUSED"], danger: true },
};
const actionDocument = (mutation) => `mutation Campaign${mutation}($id: ID!) { ${mutation}(id: $id) { ${PAYLOAD} } }`;

// The server takes at most 1,000 recipients a call (more is refused whole).
const RECIPIENTS_PER_CALL = 1000;
// Providers whose campaigns name a registered DLT template (India): MSG91 requires one.
const NEEDS_TEMPLATE = new Set(["MSG91"]);
const FINAL = new Set(["COMPLETED", "CANCELED"]);
// Each status as a word and a sign, so colour is never the only cue.
const STATUSES = {
  DRAFT: { text: "Draft", sign: "○" },
  SENDING: { text: "Sending", sign: "▶" },
  PAUSED: { text: "Paused", sign: "❚❚" },
  COMPLETED: { text: "Completed", sign: "✓" },
  CANCELED: { text: "Canceled", sign: "✕" },
};

export function mountCampaigns({ api, root, role }) {
  const writes = role === "admin" || role === "marketer";
  const cards = new Map(); // campaign id → { campaign, element, update, stop }
  const list = h("div", { class: "campaigns" });
  const status = h("p", { class: "notice", role: "status" });
  const form = writes ? createForm(api, (campaign) => show(campaign, true)) : null;
  fill(root, h("h2", {}, "Campaigns"), form?.element, status, list);

  // Newer state wins: a mutation's answer and an event may arrive in either order.
  function stale(known, next) {
    if (FINAL.has(known.status) && !FINAL.has(next.status)) return true;
    // Never smaller later: added recipients raise total more than pending, every step after
    // that lowers pending or raises a counter.
    const moved = (p) => 2 * p.total - p.pending + p.sent + p.delivered + p.undelivered + p.failed + p.skipped;
    return moved(next.progress) < moved(known.progress);
  }

  function show(campaign, first = false) {
    const known = cards.get(campaign.id);
    if (known) {
      if (!stale(known.campaign, campaign)) known.update(campaign);
      if (campaign.status === "CANCELED") {
        known.stop?.();
        known.stop = null;
      }
      return;
    }
    const card = campaignCard(campaign, { api, writes, changed: (next) => show(next) });
    // A canceled campaign moves no more; a completed one still gets its delivery reports.
    card.stop = campaign.status === "CANCELED"
      ? null
      : api.subscribe(CHANGED, (data) => show(data.smsCampaignChanged), () => refetch(campaign.id), { id: campaign.id });
    cards.set(campaign.id, card);
    if (first) list.prepend(card.element);
    else list.append(card.element);
    status.textContent = "";
    if (cards.size > SHOWN) drop(oldest());
  }

  // The card shown last (the oldest), which a new campaign pushes off the list.
  function oldest() {
    return list.lastElementChild?.dataset.id;
  }

  function drop(id) {
    const card = cards.get(id);
    if (!card) return;
    card.stop?.();
    card.element.remove();
    cards.delete(id);
  }

  async function refetch(id) {
    try {
      const campaign = (await api.request(CAMPAIGN, { id })).smsCampaign;
      if (campaign) show(campaign);
    } catch (error) {
      status.textContent = error.message;
    }
  }

  // The newest page; campaigns no longer on it stop being followed.
  async function load() {
    try {
      const page = (await api.request(CAMPAIGNS, { first: SHOWN })).smsCampaigns;
      const nodes = page.edges.map((edge) => edge.node);
      const ids = new Set(nodes.map((node) => node.id));
      [...cards.keys()].filter((id) => !ids.has(id)).forEach(drop);
      nodes.forEach((node) => show(node));
      // Newest first, as the server lists them (moving a card only when out of place keeps focus).
      const order = nodes.map((node) => cards.get(node.id)?.element).filter(Boolean);
      if (order.some((element, at) => list.children[at] !== element)) list.append(...order);
      status.textContent = cards.size ? "" : "No campaign yet.";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  api.onConnection((state) => state === "connected" && load());
  return Promise.all([load(), form?.load()]);
}

// The "New campaign" form: name, sender, DLT template (for the providers that need one), body.
function createForm(api, created) {
  const ids = { name: uniqueId("campaign-name"), accountId: uniqueId("campaign-sender"),
    dltTemplateId: uniqueId("campaign-template"), body: uniqueId("campaign-body") };
  const errors = Object.fromEntries(Object.entries(ids).map(([name, id]) =>
    [name, h("p", { id: `${id}-error`, class: "field-error" })]));
  const described = (name, hint = false) => `${hint ? `${ids[name]}-hint ` : ""}${ids[name]}-error`;
  const name = h("input", { id: ids.name, name: "name", required: true, maxlength: "100",
    autocomplete: "off", "aria-describedby": described("name") });
  const sender = h("select", { id: ids.accountId, name: "campaignSender", required: true,
    "aria-describedby": described("accountId", true) });
  const senderHint = h("p", { id: `${ids.accountId}-hint`, class: "hint" });
  const template = h("input", { id: ids.dltTemplateId, name: "dltTemplateId", autocomplete: "off",
    required: true, "aria-describedby": described("dltTemplateId", true) });
  const templateField = h("div", { class: "field", hidden: true },
    h("label", { for: ids.dltTemplateId }, "DLT Template ID", h("span", { class: "required", "aria-hidden": "true" }, " *")),
    template,
    h("p", { id: `${ids.dltTemplateId}-hint`, class: "hint" },
      "The template registered on the DLT portal that every message of this campaign matches."),
    errors.dltTemplateId);
  const body = h("textarea", { id: ids.body, name: "body", rows: "3", required: true, maxlength: "1600",
    "aria-describedby": described("body") });
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const create = h("button", { type: "submit", class: "primary" }, "Create campaign");
  let senders = [];
  // One key per campaign being created: a retry after a lost answer returns the same campaign.
  let idempotencyKey = newKey();

  const element = h(
    "form",
    { class: "send campaign-form", novalidate: true, onsubmit: (event) => submit(event) },
    h("h3", {}, "New campaign"),
    h("div", { class: "field" }, h("label", { for: ids.name }, "Name"), name, errors.name),
    h("div", { class: "field" }, h("label", { for: ids.accountId }, "SMS sender"), sender, senderHint, errors.accountId),
    templateField,
    h("div", { class: "field" }, h("label", { for: ids.body }, "Message"), body, errors.body),
    formError,
    h("div", { class: "actions" }, create),
  );
  sender.addEventListener("change", () => showTemplate());

  const picked = () => senders.find((item) => item.accountId === sender.value);
  function showTemplate() {
    templateField.hidden = !NEEDS_TEMPLATE.has(picked()?.provider);
  }

  async function submit(event) {
    event.preventDefault();
    Object.values(errors).forEach((error) => (error.textContent = ""));
    formError.hidden = true;
    const input = { accountId: sender.value, name: name.value.trim(), body: body.value, idempotencyKey };
    if (!templateField.hidden) input.dltTemplateId = template.value.trim();
    create.disabled = true;
    try {
      const payload = (await api.request(CREATE, { input })).createSmsCampaign;
      if (payload.errors.length) {
        const general = [];
        for (const problem of payload.errors) {
          const target = errors[problem.field];
          if (target) target.textContent = [target.textContent, problem.message].filter(Boolean).join(" ");
          else general.push(problem.message);
        }
        formError.textContent = general.join(" ");
        formError.hidden = general.length === 0;
        return;
      }
      toast(`Campaign “${payload.campaign.name}” created: add its recipients, then start it.`);
      idempotencyKey = newKey();
      name.value = "";
      body.value = "";
      template.value = "";
      created(payload.campaign);
    } catch (error) {
      formError.textContent = error.message;
      formError.hidden = false;
    } finally {
      create.disabled = senders.length === 0;
    }
  }

  const load = () => followSenders(api, sender, senderHint, (list) => {
    senders = list;
    create.disabled = list.length === 0;
    showTemplate();
  });
  return { element, load };
}

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

// One campaign: its status, progress bar and counters, the recipients form while DRAFT, and the
// actions its status allows. Updated in place, so what is typed in the recipients box survives.
function campaignCard(initial, { api, writes, changed }) {
  let campaign = initial;
  const titleId = uniqueId("campaign");
  const badge = h("span", { class: "badge" });
  const message = h("p", { class: "campaign-message", role: "status", "data-role": "status-message" });
  const bar = h("progress", { max: "1", value: "0", "aria-labelledby": `${titleId}-counts` });
  const counts = h("p", { id: `${titleId}-counts`, class: "counts", "data-role": "counts" });
  const detail = h("p", { class: "hint" });
  const recipients = writes ? recipientsForm(api, () => campaign, changed) : null;
  const actions = h("div", { class: "actions" });
  const element = h(
    "article",
    { class: "card campaign", "data-id": campaign.id, "aria-labelledby": titleId },
    h("header", {}, h("h3", { id: titleId }, campaign.name), badge),
    h("p", { class: "campaign-body" }, campaign.body),
    detail,
    bar,
    counts,
    message,
    recipients?.element,
    actions,
  );

  function update(next) {
    campaign = next;
    const state = STATUSES[campaign.status];
    badge.className = `badge badge-campaign-${campaign.status.toLowerCase()}`;
    fill(badge, h("span", { "aria-hidden": "true" }, state.sign), ` ${state.text}`);
    element.dataset.status = campaign.status;
    const p = campaign.progress;
    const done = p.total - p.pending;
    bar.max = Math.max(p.total, 1);
    bar.value = done;
    const percent = p.total ? Math.floor((100 * done) / p.total) : 0;
    counts.textContent = `${percent}% handled: ${done} of ${p.total} recipients. Sent ${p.sent}, ` +
      `delivered ${p.delivered}, undelivered ${p.undelivered}, failed ${p.failed}, ` +
      `skipped ${p.skipped}, unconfirmed ${p.unconfirmed}.`;
    message.textContent = campaign.statusMessage ?? "";
    message.hidden = !campaign.statusMessage;
    detail.textContent = [
      `Created ${when(campaign.createdAt)}`,
      campaign.startedAt && `started ${when(campaign.startedAt)}`,
      campaign.completedAt && `ended ${when(campaign.completedAt)}`,
    ].filter(Boolean).join(", ");
    if (recipients) recipients.element.hidden = campaign.status !== "DRAFT";
    if (writes) fill(actions, Object.entries(ACTIONS)
      .filter(([, action]) => action.from.includes(campaign.status))
      .map(([name, action]) => actionButton(name, action)));
  }

  function actionButton(name, action) {
    const button = h("button", { type: "button", "data-action": name,
      class: action.primary ? "primary" : action.danger ? "danger" : false,
      "aria-describedby": titleId }, action.label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const payload = (await api.request(actionDocument(action.mutation), { id: campaign.id }))[action.mutation];
        if (payload.errors.length) toast(payload.errors.map((error) => error.message).join(" "), "error");
        if (payload.campaign) changed(payload.campaign);
      } catch (error) {
        toast(error.message, "error");
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  update(campaign);
  return { get campaign() { return campaign; }, element, update, stop: null };
}

// Recipients from a pasted list (one number per line) and/or a CSV file (first column the number,
// an optional second column that recipient's own text), sent in calls of at most 1,000.
function recipientsForm(api, current, changed) {
  const pasteId = uniqueId("recipients");
  const fileId = uniqueId("recipients-file");
  const paste = h("textarea", { id: pasteId, name: "recipients", rows: "4", placeholder: "+14155550100",
    "aria-describedby": `${pasteId}-hint` });
  const file = h("input", { id: fileId, type: "file", name: "recipientsFile", accept: ".csv,text/csv,text/plain",
    "aria-describedby": `${pasteId}-hint` });
  const result = h("p", { class: "notice", role: "status", "data-role": "added" });
  const add = h("button", { type: "button", "data-action": "add-recipients" }, "Add recipients");
  add.addEventListener("click", () => submit());
  const element = h(
    "div",
    { class: "recipients" },
    h("div", { class: "field" }, h("label", { for: pasteId }, "Recipients (one number per line)"), paste),
    h("div", { class: "field" }, h("label", { for: fileId }, "or a CSV file"), file),
    h("p", { id: `${pasteId}-hint`, class: "hint" },
      "E.164 numbers. CSV: the number in the first column, optionally that recipient's own text in the second. " +
      "Duplicates, invalid and opted-out numbers are skipped."),
    result,
    h("div", { class: "actions" }, add),
  );

  async function submit() {
    add.disabled = true;
    let added = 0;
    let skipped = 0;
    try {
      const recipients = [...fromLines(paste.value), ...(file.files[0] ? fromCsv(await file.files[0].text()) : [])];
      if (recipients.length === 0) {
        result.textContent = "Paste numbers or choose a CSV file first.";
        return;
      }
      for (let at = 0; at < recipients.length; at += RECIPIENTS_PER_CALL) {
        const before = current().progress;
        const variables = { id: current().id, recipients: recipients.slice(at, at + RECIPIENTS_PER_CALL) };
        const payload = (await api.request(ADD, variables)).addSmsCampaignRecipients;
        if (payload.errors.length) throw new Error(payload.errors.map((error) => error.message).join(" "));
        const after = payload.campaign.progress;
        skipped += after.skipped - before.skipped;
        added += after.total - before.total - (after.skipped - before.skipped);
        changed(payload.campaign);
        if (at + RECIPIENTS_PER_CALL < recipients.length) {
          result.textContent = `Adding recipients: ${at + RECIPIENTS_PER_CALL} of ${recipients.length} so far…`;
        }
      }
      result.textContent = `Added ${added} recipient${added === 1 ? "" : "s"}, skipped ${skipped}.`;
      paste.value = "";
      file.value = "";
    } catch (error) {
      const sofar = added || skipped ? ` Added ${added}, skipped ${skipped} before that.` : "";
      result.textContent = `${error.message}${sofar}`;
    } finally {
      add.disabled = false;
    }
  }

  return { element };
}

function fromLines(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean).map((to) => ({ to }));
}

// A CSV's rows as recipients; a first row with no digit in its first cell is a header, and a
// spreadsheet's byte order mark is not part of the first number.
function fromCsv(text) {
  const rows = parseCsv(text.replace(/^\uFEFF/, "")).filter((row) => row.length && row[0].trim());
  if (rows.length && !/\d/.test(rows[0][0])) rows.shift();
  return rows.map(([to, body]) => (body && body.trim() ? { to: to.trim(), body } : { to: to.trim() }));
}

// RFC 4180: fields separated by commas, quoted with "…" (a "" inside is one quote), rows by line breaks.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
