// Small DOM helpers shared by the page's modules: build elements, announce toasts, and run a
// modal <dialog> that traps focus and closes on Escape.

// h("button", { class: "primary", onclick: fn }, "Save"): an element with attributes (on* are
// listeners, true/false toggle boolean attributes) and children (strings become text, never HTML).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replace an element's children.
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let toastRegion = null;

// The live region toasts go into. Created once, early (main.js calls it at start): screen
// readers announce changes to a live region that already exists, not one added with its text.
export function toastRegionReady() {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastRegion);
  }
  return toastRegion;
}

// A short message in the polite live region (read out by screen readers), gone after a while.
export function toast(text, kind = "success") {
  toastRegionReady();
  const item = h("div", { class: `toast toast-${kind}` }, text);
  toastRegion.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

const FOCUSABLE =
  "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), " +
  "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

// Show ``dialog`` (a <dialog> element) as a modal: the rest of the page is inert, Tab and
// Shift+Tab cycle inside it, Escape closes it, and focus returns to where it was. Resolves with
// the dialog's returnValue once it is closed; the dialog is removed from the page.
export function runModal(dialog, initialFocus) {
  const opener = document.activeElement;
  document.body.append(dialog);
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((item) => item.offsetParent);
    if (items.length === 0) return;
    const [first, last] = [items[0], items[items.length - 1]];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(dialog.returnValue);
    });
    dialog.showModal();
    (initialFocus || dialog.querySelector(FOCUSABLE))?.focus();
  });
}

// Ask a yes/no question in a modal; resolves true when confirmed.
export async function confirmModal(title, text, confirmLabel) {
  const titleId = uniqueId("confirm-title");
  const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-modal": "true", "aria-labelledby": titleId },
    h("h2", { id: titleId }, title),
    h("p", {}, text),
    h(
      "div",
      { class: "actions" },
      cancel,
      h("button", { type: "button", class: "danger", onclick: () => dialog.close("yes") }, confirmLabel),
    ),
  );
  return (await runModal(dialog, cancel)) === "yes";
}

// A read-only URL with a Copy button (the inbound URL, the status webhook URL): copied to the
// clipboard, or selected for Ctrl+C where the page has no clipboard access.
export function copyRow({ label, value, action, describedBy, copied }) {
  const inputId = uniqueId(action);
  const field = h("input", { id: inputId, type: "text", readonly: true, value });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      field.select();
      document.execCommand("copy");
    }
    toast(copied);
  };
  return h(
    "div",
    { class: "inbound", "data-role": action },
    h("label", { for: inputId }, label),
    h("div", { class: "copy-row" }, field,
      h("button", { type: "button", "data-action": action, onclick: copy,
        "aria-describedby": describedBy }, "Copy")),
  );
}

let counter = 0;

export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// "2026-12-06T14:20:00+00:00" as the reader's local date and time.
export function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
