// The Add / Edit SMS Account dialog, rendered entirely from smsProviders: the provider dropdown,
// then each field of the chosen provider in form order, with its label, a required mark, its
// hint and its default; a secret is masked with an eye toggle. "Save account" stays disabled
// until every required field is filled; the server's field errors are shown beside their fields.
// In Edit, an empty secret keeps the current one, and only changed fields are sent.
//
// Below the provider's fields, two options every form has (not in smsProviders): the sending
// pace (sendRatePerSecond) and, for providers whose replies come back through an inbound URL,
// "Wire webhooks automatically" (wireWebhooks).

import { fill, h, runModal, toast, uniqueId } from "./dom.js";

const ADD = (fields) => `mutation AddSmsAccount($input: AddSmsAccountInput!) {
  addSmsAccount(input: $input) { message account { ${fields} } errors { field code message } }
}`;
const UPDATE = (fields) => `mutation UpdateSmsAccount($id: ID!, $input: UpdateSmsAccountInput!) {
  updateSmsAccount(id: $id, input: $input) { message account { ${fields} } errors { field code message } }
}`;

// A field with a fixed set of values is a select: MSG91's route (SmsRoute).
export const ROUTES = { TRANSACTIONAL: "Transactional (any time)", PROMOTIONAL: "Promotional (10 AM to 9 PM)" };
const CHOICES = { route: ROUTES };
// The providers whose senders take an inbound webhook (smsProviders does not say; the server
// refuses wireWebhooks for the others).
const INBOUND_PROVIDERS = new Set(["TWILIO"]);
const PACE = { name: "sendRatePerSecond", label: "Sending pace (message segments a second)", required: false,
  secret: false, hint: "From 0.1 to 500. Empty: the default (a From number 1, a Messaging Service 10)." };
const WIRE = { name: "wireWebhooks", label: "Wire webhooks automatically", required: false, secret: false,
  hint: "On Verify, point the sender's “A message comes in” webhook at this server (and put back what was there when the account lets go of it)." };

// Resolves with the saved account, or null when the dialog was closed without saving.
export function openAccountDialog({ api, providers, account, fields }) {
  const editing = Boolean(account);
  const titleId = uniqueId("dialog-title");
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const body = h("div", { class: "fields" });
  const save = h("button", { type: "submit", class: "primary", disabled: true }, "Save account");
  let saved = null;
  let inputs = new Map(); // field name → { field, input, error, initial, read, convert }

  const providerId = uniqueId("provider");
  const providerSelect = h(
    "select",
    { id: providerId, name: "provider", disabled: editing, required: true, "aria-required": "true" },
    providers.map((item) => h("option", { value: item.provider }, item.label)),
  );
  if (editing) providerSelect.value = account.provider;

  const form = h(
    "form",
    { method: "dialog", novalidate: true, onsubmit: (event) => submit(event), oninput: () => refresh() },
    h("h2", { id: titleId }, editing ? "Edit SMS Account" : "Add SMS Account"),
    h("div", { class: "field" },
      h("label", { for: providerId }, "Provider", h("span", { class: "required", "aria-hidden": "true" }, " *")),
      providerSelect),
    body,
    formError,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"),
      save),
  );
  const dialog = h("dialog", { class: "account-dialog", "aria-modal": "true", "aria-labelledby": titleId }, form);
  providerSelect.addEventListener("change", () => renderFields());

  function provider() {
    return providers.find((item) => item.provider === providerSelect.value) ?? providers[0];
  }

  // A secret in Edit may stay empty: the current one is kept.
  const required = (field) => field.required && !(editing && field.secret);

  function renderFields() {
    inputs = new Map();
    const chosen = provider();
    fill(body, (chosen?.fields ?? []).map(renderField), chosen ? options(chosen) : null);
    refresh();
  }

  function options(chosen) {
    const rate = editing ? String(account.sendRatePerSecond ?? "") : "";
    const pace = renderField(PACE, { type: "number", min: "0.1", max: "500", step: "0.1", value: rate,
      inputmode: "decimal" });
    inputs.get(PACE.name).convert = (value) => (value.trim() === "" ? undefined : Number(value));
    if (!INBOUND_PROVIDERS.has(chosen.provider)) return pace;
    return [pace, wiringBox()];
  }

  function wiringBox() {
    const id = uniqueId(WIRE.name);
    const wired = editing && (account.webhooks?.status ?? "OFF") !== "OFF";
    const input = h("input", { id, type: "checkbox", name: WIRE.name, "aria-describedby": `${id}-hint ${id}-error` });
    input.checked = wired;
    const error = h("p", { id: `${id}-error`, class: "field-error", hidden: true });
    inputs.set(WIRE.name, { field: WIRE, input, error, initial: wired, read: () => input.checked });
    return h("div", { class: "field check" },
      h("div", { class: "check-row" }, input, h("label", { for: id }, WIRE.label)),
      h("p", { id: `${id}-hint`, class: "hint" }, WIRE.hint),
      error);
  }

  function control(field, attributes) {
    const choices = CHOICES[field.name];
    if (!choices) return h("input", attributes);
    const select = h("select", { ...attributes, value: false, type: false },
      Object.entries(choices).map(([value, label]) => h("option", { value }, label)));
    select.value = attributes.value || Object.keys(choices)[0];
    return select;
  }

  function renderField(field, extra = {}) {
    const id = uniqueId(field.name);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    let value = editing ? account[field.name] ?? "" : field.defaultValue ?? "";
    if (field.secret && editing) value = "";
    const input = control(field, {
      id,
      name: field.name,
      type: field.secret ? "password" : "text",
      value,
      autocomplete: "off",
      spellcheck: "false",
      required: required(field),
      "aria-required": required(field) ? "true" : false,
      "aria-describedby": `${hintId} ${errorId}`,
      placeholder: field.secret && editing ? `Leave empty to keep ${account.authTokenHint}` : false,
      ...extra,
    });
    const error = h("p", { id: errorId, class: "field-error", hidden: true });
    inputs.set(field.name, { field, input, error, initial: input.value, read: () => input.value });
    const hint = field.secret && editing
      ? `${field.hint ? field.hint + ". " : ""}Leave empty to keep the current one.`
      : field.hint;
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, field.label,
        required(field) ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
      field.secret ? h("div", { class: "secret" }, input, eyeToggle(input, field.label)) : input,
      h("p", { id: hintId, class: "hint" }, hint ?? ""),
      error,
    );
  }

  // The eye toggle: shows the secret briefly, as text; the button says what it will do.
  function eyeToggle(input, label) {
    const button = h("button", { type: "button", class: "eye", "aria-pressed": "false",
      "aria-label": `Show ${label}` }, "Show");
    button.addEventListener("click", () => {
      const shown = input.type === "password";
      input.type = shown ? "text" : "password";
      button.textContent = shown ? "Hide" : "Show";
      button.setAttribute("aria-pressed", String(shown));
      button.setAttribute("aria-label", `${shown ? "Hide" : "Show"} ${label}`);
    });
    return button;
  }

  function refresh() {
    const missing = [...inputs.values()].some(
      ({ field, read }) => required(field) && !String(read()).trim(),
    );
    save.disabled = missing;
  }

  function showErrors(errors) {
    for (const { input, error } of inputs.values()) {
      error.hidden = true;
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
    const general = [];
    for (const problem of errors) {
      const target = inputs.get(problem.field);
      if (!target) {
        general.push(problem.message);
        continue;
      }
      target.error.textContent = [target.error.textContent, problem.message].filter(Boolean).join(" ");
      target.error.hidden = false;
      target.input.setAttribute("aria-invalid", "true");
    }
    formError.textContent = general.join(" ");
    formError.hidden = general.length === 0;
    const first = [...inputs.values()].find(({ input }) => input.getAttribute("aria-invalid"));
    first?.input.focus();
  }

  // Add sends every field filled in; Edit sends what changed (null means unchanged), and no
  // empty secret. An empty pace is the default in Add and unchanged in Edit.
  function input() {
    const values = {};
    for (const [name, { field, initial, read, convert }] of inputs) {
      const value = read();
      if (editing) {
        if (field.secret ? value === "" : value === initial) continue;
      } else if ((value === "" || value === false) && !field.required) {
        continue;
      }
      const sent = convert ? convert(value) : value;
      if (sent !== undefined) values[name] = sent;
    }
    if (!editing) values.provider = provider().provider;
    return values;
  }

  async function submit(event) {
    event.preventDefault();
    if (save.disabled) return;
    save.disabled = true;
    try {
      const payload = editing
        ? (await api.request(UPDATE(fields), { id: account.id, input: input() })).updateSmsAccount
        : (await api.request(ADD(fields), { input: input() })).addSmsAccount;
      if (payload.errors.length) {
        showErrors(payload.errors);
        return;
      }
      toast(payload.message || (editing ? "SMS Account saved" : "SMS Account added successfully"));
      saved = payload.account;
      dialog.close("saved");
    } catch (error) {
      showErrors([{ field: null, message: error.message }]);
    } finally {
      refresh();
    }
  }

  renderFields();
  const first = [...inputs.values()][0]?.input;
  return runModal(dialog, editing ? first : providerSelect).then(() => saved);
}
