// Tiny DOM helpers. Text only ever goes in through textContent (or a text node): nothing here parses HTML, so
// data from the server can never become markup. Styles are classes and the `hidden` attribute, never inline.

const BOOLEAN_PROPS = new Set(["checked", "disabled", "readOnly", "required", "multiple", "selected"]);

/**
 * Builds an element. `props`: `class` (string or array), `text`, `on` ({event: handler}), `dataset`,
 * `value`, the boolean properties above, and any other attribute (set with setAttribute; `false`, `null` and
 * `undefined` leave it out, `true` sets it empty). Children: nodes, strings (as text), arrays, or nothing.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (key === "on") {
      for (const [event, handler] of Object.entries(v)) el.addEventListener(event, handler);
      continue;
    }
    if (/^on/i.test(key)) throw new Error(`event attribute ${key} is not allowed; use on: {…}`);
    if (key === "style" || key === "innerHTML" || key === "outerHTML") throw new Error(`${key} is not allowed`);
    if (v === undefined || v === null || v === false) {
      if (BOOLEAN_PROPS.has(key)) el[key] = false;
      continue;
    }
    if (key === "class") el.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
    else if (key === "text") el.textContent = String(v);
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key === "value") value = v;
    else if (key === "for") el.htmlFor = v;
    else if (BOOLEAN_PROPS.has(key)) el[key] = Boolean(v);
    else if (v === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(v));
  }
  append(el, children);
  // After the children: a select's value needs its options.
  if (value !== undefined) el.value = String(value);
  return el;
}

/** Appends children (nodes, strings as text, nested arrays; null/false/undefined skipped). */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let counter = 0;
/** A page-unique id with a readable prefix. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * A labelled form control: `{label, id, name, type, value, help, options, rows, required, …attrs}`.
 * `type` is an input type, or "textarea", "select" (with `options`: [[value, label], …] or strings) or
 * "checkbox". Returns the wrapper; its `.control` is the input.
 */
export function field(opts) {
  const { label, help, options, type = "text", rows, id = uid("field"), wide, ...attrs } = opts;
  const helpID = help ? `${id}-help` : null;
  const common = { id, name: attrs.name || id, "aria-describedby": helpID, ...attrs };
  let control;
  if (type === "textarea") {
    control = h("textarea", { rows: rows || 4, ...common });
  } else if (type === "select") {
    control = h(
      "select",
      common,
      (options || []).map((option) => {
        const [value, text] = Array.isArray(option) ? option : [option, option];
        return h("option", { value }, text);
      }),
    );
  } else if (type === "checkbox") {
    const { value, ...rest } = common;
    control = h("input", { type: "checkbox", ...rest, checked: value ?? attrs.checked });
    return Object.assign(
      h(
        "div",
        { class: ["field", "field-check", wide && "field-wide"] },
        control,
        h("label", { for: id }, label),
        help && h("p", { class: "help", id: helpID }, help),
      ),
      { control },
    );
  } else {
    control = h("input", { type, ...common });
  }
  return Object.assign(
    h(
      "div",
      { class: ["field", wide && "field-wide"] },
      h("label", { for: id }, label, attrs.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      control,
      help && h("p", { class: "help", id: helpID }, help),
    ),
    { control },
  );
}

/** An error region for a form: announced when it changes, takes no room while empty. */
export function errorBox(testID = "form-error") {
  return h("div", { class: "form-error", id: testID, role: "alert", "aria-live": "assertive", "data-test": testID });
}

export function showError(box, error) {
  box.textContent = error && error.message ? error.message : String(error || "Something went wrong.");
}

export function clearError(box) {
  box.textContent = "";
}

/** A short note in a region that screen readers announce politely. */
export function notice(text, kind = "info", testID) {
  return h("p", { class: ["notice", `notice-${kind}`], id: testID, role: "status", "data-test": testID }, text);
}

let toastTimer = null;
/** Shows a passing message in the page's status region (aria-live polite). */
export function toast(message, kind = "info") {
  const region = document.getElementById("status");
  if (!region) return;
  region.className = `toast toast-${kind} toast-shown`;
  region.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    region.className = "toast";
    region.textContent = "";
  }, 5000);
}

/** Marks a button busy (disabled, with a label saying so) and returns a function that restores it. */
export function busy(button, label) {
  if (!button) return () => {};
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  return () => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = before;
  };
}

/**
 * An accessible modal dialog. Resolves to `false` when cancelled (Cancel, Escape), or to what `onConfirm`
 * returned; when `onConfirm` throws, its message is shown in the dialog and the dialog stays open.
 * Focus moves into the dialog (its first field, else Cancel) and returns to where it was.
 */
export function confirmDialog({
  title,
  message,
  body = null,
  confirmLabel = "Confirm",
  danger = false,
  onConfirm = null,
  testID = "confirm-dialog",
}) {
  return new Promise((resolve) => {
    const returnFocus = document.activeElement;
    const titleID = uid("dialog-title");
    const messageID = uid("dialog-message");
    const error = errorBox("dialog-error");
    const cancel = h("button", { type: "button", class: "btn", id: "confirm-cancel", "data-test": "confirm-cancel" }, "Cancel");
    const ok = h(
      "button",
      { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"], id: "confirm-ok", "data-test": "confirm-ok" },
      confirmLabel,
    );
    const form = h(
      "form",
      { class: "dialog-form", novalidate: true },
      h("h2", { id: titleID, class: "dialog-title" }, title),
      message && h("p", { id: messageID, class: "dialog-message" }, message),
      body,
      error,
      h("div", { class: "actions dialog-actions" }, cancel, ok),
    );
    const dialog = h(
      "dialog",
      {
        class: "dialog",
        id: "confirm-dialog",
        "data-test": testID,
        "aria-labelledby": titleID,
        "aria-describedby": message ? messageID : null,
      },
      form,
    );
    let working = false;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (returnFocus && typeof returnFocus.focus === "function" && document.contains(returnFocus)) returnFocus.focus();
      resolve(result);
    };
    cancel.addEventListener("click", () => {
      if (!working) finish(false);
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      if (!working) finish(false);
    });
    dialog.addEventListener("close", () => finish(false));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (working) return;
      clearError(error);
      if (!onConfirm) return finish(true);
      working = true;
      const restore = busy(ok, "Working…");
      cancel.disabled = true;
      try {
        const result = await onConfirm();
        working = false;
        finish(result === undefined || result === null ? true : result);
      } catch (err) {
        working = false;
        restore();
        cancel.disabled = false;
        showError(error, err);
      }
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    const first = body && form.querySelector("input:not([type=hidden]):not([disabled]), textarea, select");
    (first || cancel).focus();
  });
}

// Formatting.

export function formatDate(value, seconds = false) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: seconds ? "medium" : "short" });
}

const relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

export function formatRelative(value) {
  if (!value || !relative) return "";
  const ms = new Date(value).getTime() - Date.now();
  if (Number.isNaN(ms)) return "";
  const abs = Math.abs(ms);
  const units = [
    ["year", 365 * 86400e3],
    ["month", 30 * 86400e3],
    ["day", 86400e3],
    ["hour", 3600e3],
    ["minute", 60e3],
  ];
  for (const [unit, size] of units) {
    if (abs >= size) return relative.format(Math.round(ms / size), unit);
  }
  return relative.format(Math.round(ms / 1000), "second");
}

/** A <time> element: the local date (to the second with `seconds`), the relative time as a hint. */
export function timeEl(value, seconds = false) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: value, title: formatRelative(value) || null }, formatDate(value, seconds));
}

export function badge(text, kind = "neutral", testID) {
  return h("span", { class: ["badge", `badge-${kind}`], "data-test": testID }, text);
}

/** A table inside a horizontally scrolling, focusable region (keyboard users can scroll it too). */
export function table({ caption, columns, rows, testID, id }) {
  const captionID = uid("caption");
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": captionID },
    h(
      "table",
      { class: "table", "data-test": testID, id },
      h("caption", { id: captionID, class: caption && caption.visible ? "" : "visually-hidden" }, caption ? caption.text || caption : ""),
      h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column)))),
      h("tbody", {}, rows),
    ),
  );
}

export function emptyState(text, action = null, testID = "empty") {
  return h("div", { class: "empty", "data-test": testID }, h("p", {}, text), action);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

/** "1–50 of 123" for a page of results. */
export function rangeText(offset, count, total) {
  if (!count) return total ? `0 of ${total}` : "0";
  const first = offset + 1;
  const last = offset + count;
  return typeof total === "number" ? `${first}–${last} of ${total}` : `${first}–${last}`;
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Previous/Next paging for `{offset, limit, count, total}`; `onPage(newOffset)` is called on a click. Shows
 * "x–y of total" when the API returned a total.
 */
export function pager({ offset, limit, count, total, onPage, label = "Pages", idPrefix = "pager" }) {
  const hasTotal = typeof total === "number";
  const atEnd = hasTotal ? offset + count >= total : count < limit;
  const prev = h(
    "button",
    { type: "button", class: "btn", id: `${idPrefix}-prev`, disabled: offset <= 0, on: { click: () => onPage(Math.max(0, offset - limit)) } },
    "Previous",
  );
  const next = h(
    "button",
    { type: "button", class: "btn", id: `${idPrefix}-next`, disabled: atEnd, on: { click: () => onPage(offset + limit) } },
    "Next",
  );
  return h(
    "nav",
    { class: "pager", "aria-label": label },
    prev,
    h("span", { class: "pager-range", id: `${idPrefix}-range`, "data-test": "pager-range", "aria-live": "polite" }, rangeText(offset, count, total)),
    next,
  );
}

/** Breadcrumbs: [[label, href], …, [current label]]. */
export function crumbs(items) {
  return h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h(
      "ol",
      {},
      items.map(([label, link], index) =>
        h("li", {}, link && index < items.length - 1 ? h("a", { href: link }, label) : h("span", { "aria-current": "page" }, label)),
      ),
    ),
  );
}

/** Copies text to the clipboard; resolves false where the browser allows no clipboard access (plain HTTP). */
export async function copyText(text) {
  if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") return false;
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
