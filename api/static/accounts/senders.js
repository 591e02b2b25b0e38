// The Send tab: the sender picker a campaign builder or a workflow SMS action shows, fed by
// smsSenders and kept current by smsSendersChanged (which carries the whole new list), and a
// one-off sendSms through the picked sender.

import { fill, h, toast, uniqueId } from "./dom.js";

const SENDER_FIELDS = "accountId displayName provider senderId senderKind";
const SENDERS = `query SmsSenderPicker { smsSenders { ${SENDER_FIELDS} } }`;
const CHANGED = `subscription SmsSenderPickerChanges { smsSendersChanged { ${SENDER_FIELDS} } }`;
const SEND = `mutation SendSms($input: SendSmsInput!) {
  sendSms(input: $input) { message { id status } errors { field code message } }
}`;

export function mountSenders({ api, root }) {
  const pickerId = uniqueId("sender");
  const toId = uniqueId("to");
  const bodyId = uniqueId("body");
  const picker = h("select", { id: pickerId, name: "accountId", required: true, "aria-describedby": `${pickerId}-hint` });
  const pickerHint = h("p", { id: `${pickerId}-hint`, class: "hint" });
  const to = h("input", { id: toId, name: "to", type: "tel", required: true, autocomplete: "off",
    placeholder: "+14155550100", "aria-describedby": `${toId}-error` });
  const text = h("textarea", { id: bodyId, name: "body", rows: "3", required: true, maxlength: "1600",
    "aria-describedby": `${bodyId}-error` });
  const errors = {
    to: h("p", { id: `${toId}-error`, class: "field-error" }),
    body: h("p", { id: `${bodyId}-error`, class: "field-error" }),
    accountId: h("p", { class: "field-error" }),
  };
  const send = h("button", { type: "submit", class: "primary" }, "Send SMS");
  const form = h(
    "form",
    { class: "send", novalidate: true, onsubmit: (event) => submit(event) },
    h("h2", {}, "Send an SMS"),
    h("div", { class: "field" }, h("label", { for: pickerId }, "SMS sender"), picker, pickerHint, errors.accountId),
    h("div", { class: "field" }, h("label", { for: toId }, "To (E.164 number)"), to, errors.to),
    h("div", { class: "field" }, h("label", { for: bodyId }, "Message"), text, errors.body),
    h("div", { class: "actions" }, send),
  );
  fill(root, form);

  async function submit(event) {
    event.preventDefault();
    Object.values(errors).forEach((error) => (error.textContent = ""));
    send.disabled = true;
    try {
      const input = { accountId: picker.value, to: to.value.trim(), body: text.value };
      const payload = (await api.request(SEND, { input })).sendSms;
      if (payload.errors.length) {
        for (const problem of payload.errors) {
          const target = errors[problem.field] ?? errors.accountId;
          target.textContent = [target.textContent, problem.message].filter(Boolean).join(" ");
        }
        return;
      }
      toast(`SMS handed to the provider (${payload.message.status.toLowerCase()})`);
      text.value = "";
    } catch (error) {
      toast(error.message, "error");
    } finally {
      send.disabled = picker.options.length === 0;
    }
  }

  return followSenders(api, picker, pickerHint, (senders) => {
    send.disabled = senders.length === 0;
  });
}

// Keep ``picker`` (a <select>) listing the verified senders, live: display names (the provider
// underneath does not matter to who picks), the current choice kept while it is still listed,
// ``hint`` saying how many or that there are none. ``onList(senders)`` runs after each change.
// Used by this tab and the Campaigns tab's form.
export function followSenders(api, picker, hint, onList) {
  function show(senders) {
    const chosen = picker.value;
    fill(
      picker,
      senders.map((sender) =>
        h("option", { value: sender.accountId }, `${sender.displayName} (${sender.senderId})`),
      ),
    );
    if (senders.some((sender) => sender.accountId === chosen)) picker.value = chosen;
    picker.disabled = senders.length === 0;
    hint.textContent = senders.length
      ? `${senders.length} verified sender${senders.length === 1 ? "" : "s"}.`
      : "No verified sender yet: an admin adds and verifies an SMS account first.";
    onList(senders);
  }

  async function load() {
    try {
      show((await api.request(SENDERS)).smsSenders);
    } catch (error) {
      hint.textContent = error.message;
    }
  }

  api.subscribe(CHANGED, (data) => show(data.smsSendersChanged), load);
  api.onConnection((state) => state === "connected" && load());
  return load();
}
