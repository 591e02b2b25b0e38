// The Add / Edit SMS Account dialog, rendered entirely from smsProviders: the provider dropdown,
// then each field of the chosen provider in form order, with its label, a required mark, its
// hint and its default; a secret is masked with an eye toggle. "Save account" stays disabled
// until every required field is filled; the server's field errors are shown beside their fields.
// In Edit, an empty secret keeps the current one, and only changed fields are sent.

import { fill, h, runModal, toast, uniqueId } from "./dom.js";

const ADD = (fields) => `mutation AddSmsAccount($input: AddSmsAccountInput!) {
  addSmsAccount(input: $input) { message account { ${fields} } errors { field code message } }
}`;
const UPDATE = (fields) => `mutation UpdateSmsAccount($id: ID!, $input: UpdateSmsAccountInput!) {
  updateSmsAccount(id: $id, input: $input) { message account { ${fields} } errors { field code message } }
}`;

// Resolves with the saved account, or null when the dialog was closed without saving.
export function openAccountDialog({ api, providers, account, fields }) {
  const editing = Boolean(account);
  const titleId = uniqueId("dialog-title");
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const body = h("div", { class: "fields" });
  const save = h("button", { type: "submit", class: "primary", disabled: true }, "Save account");
  let saved = null;
  let inputs = new Map(); // field name → { field, input, error }

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
    fill(body, (provider()?.fields ?? []).map(renderField));
    refresh();
  }

  function renderField(field) {
    const id = uniqueId(field.name);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    let value = editing ? account[field.name] ?? "" : field.defaultValue ?? "";
    if (field.secret && editing) value = "";
    const input = h("input", {
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
    });
    const error = h("p", { id: errorId, class: "field-error", hidden: true });
    inputs.set(field.name, { field, input, error, initial: value });
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
      ({ field, input }) => required(field) && !input.value.trim(),
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

  // Add sends every field; Edit sends what changed (null means unchanged), and no empty secret.
  function input() {
    const values = {};
    for (const [name, { field, input, initial }] of inputs) {
      const value = input.value;
      if (editing) {
        if (field.secret ? value === "" : value === initial) continue;
      } else if (value === "" && !field.required) {
        continue;
      }
      values[name] = value;
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
