// The API key: asked for once per browser session and kept in sessionStorage only, so a reload
// keeps it and a new browser (or a closed tab) asks again. Never localStorage, a cookie or a URL.

import { fill, h, uniqueId } from "./dom.js";

const STORAGE_NAME = "sms-accounts:key";

export function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE_NAME);
  } catch {
    return null; // storage refused (a sandboxed frame): ask every time
  }
}

export function keepKey(key) {
  try {
    sessionStorage.setItem(STORAGE_NAME, key);
  } catch {
    // Not kept: the page still works until it is reloaded.
  }
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(STORAGE_NAME);
  } catch {
    // nothing was kept
  }
}

// Render the key prompt into ``root``; resolves with the key typed. ``problem`` is a sentence
// saying why it is asked again (a refused key).
export function askForKey(root, problem) {
  return new Promise((resolve) => {
    const inputId = uniqueId("key");
    const hintId = uniqueId("key-hint");
    const errorId = uniqueId("key-error");
    const input = h("input", {
      id: inputId,
      name: "apiKey",
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      required: true,
      "aria-describedby": problem ? `${hintId} ${errorId}` : hintId,
      "aria-invalid": problem ? "true" : false,
    });
    const form = h(
      "form",
      {
        class: "key-prompt",
        onsubmit: (event) => {
          event.preventDefault();
          const key = input.value.trim();
          if (!key) return;
          keepKey(key);
          resolve(key);
        },
      },
      h("h1", {}, "SMS Accounts"),
      h("label", { for: inputId }, "API key"),
      input,
      h(
        "p",
        { id: hintId, class: "hint" },
        "Paste your API key (the first start writes one to data/first-admin-key). It is kept in " +
          "this tab until you close it.",
      ),
      problem ? h("p", { id: errorId, class: "field-error", role: "alert" }, problem) : null,
      h("button", { type: "submit", class: "primary" }, "Continue"),
    );
    fill(root, form);
    root.setAttribute("aria-busy", "false");
    input.focus();
  });
}
