// Secrets: the list (search, filters, paging), create, detail (value reveal and copy, versions, rotation state),
// edit, rotate, rollback, delete, restore, purge, and a secret's audit trail.
//
// A value is fetched only on Reveal or Copy. Revealed, it lives in the value box's text for 30 s and nowhere else
// (no variable outlives the fetch, nothing is stored or logged); Copy hands it to the clipboard without showing it.

import { api, ApiError, paths } from "./api.js";
import {
  badge,
  busy,
  clearError,
  confirmDialog,
  copyText,
  crumbs,
  emptyState,
  errorBox,
  field,
  h,
  notice,
  pager,
  replace,
  showError,
  table,
  timeEl,
  toast,
  uid,
} from "./dom.js";
import { atLeast, auditTable, memberNames, PAGE_SIZE, userLabel, workspaceHeader } from "./pages-workspace.js";

export const SECRET_TYPES = [
  ["generic", "Generic"],
  ["api_key", "API key"],
  ["database_credential", "Database credential"],
  ["oauth_token", "OAuth token"],
  ["ssh_key", "SSH key"],
  ["certificate", "Certificate"],
  ["password", "Password"],
];

export const POLICIES = [
  ["manual", "Manual (no schedule)"],
  ["auto_30_days", "Every 30 days"],
  ["auto_60_days", "Every 60 days"],
  ["auto_90_days", "Every 90 days"],
  ["auto_180_days", "Every 180 days"],
  ["auto_365_days", "Every 365 days"],
];

const CHARSETS = [
  ["alphanumeric", "Letters and digits"],
  ["hex", "Hexadecimal"],
  ["base64url", "URL-safe base64"],
  ["ascii_printable", "All printable ASCII"],
];

const REVEAL_SECONDS = 30;
const MASK = "•".repeat(32);
const SOON_MS = 7 * 86400e3;

const typeLabel = (type) => (SECRET_TYPES.find(([v]) => v === type) || [type, type])[1];
const policyLabel = (policy) => (POLICIES.find(([v]) => v === policy) || [policy, policy])[1];

/** Rotation state of a secret: `{kind: overdue|soon|scheduled|manual, badge}`. */
export function rotationState(secret) {
  if (!secret.rotation_due_at) return { kind: "manual", badge: null };
  const due = new Date(secret.rotation_due_at).getTime();
  if (due <= Date.now()) return { kind: "overdue", badge: badge("overdue", "danger", "rotation-badge") };
  if (due - Date.now() <= SOON_MS) return { kind: "soon", badge: badge("due soon", "warn", "rotation-badge") };
  return { kind: "scheduled", badge: null };
}

/** active / inactive / deleted. The API has no deleted flag: in a list that includes deleted secrets, an inactive
 * one is taken as deleted (a secret deactivated through `is_active: false` looks the same). */
export function statusBadge(secret, includesDeleted = false) {
  if (secret.deleted_at) return badge("deleted", "danger", "status-badge");
  if (secret.is_active === false) return includesDeleted ? badge("deleted", "danger", "status-badge") : badge("inactive", "warn", "status-badge");
  return badge("active", "ok", "status-badge");
}

function parseTags(text) {
  const seen = new Set();
  for (const part of text.split(",")) {
    const tag = part.trim();
    if (tag) seen.add(tag);
  }
  return [...seen];
}

function secretBase(wsID, secretID) {
  return `/workspaces/${encodeURIComponent(wsID)}/secrets/${encodeURIComponent(secretID)}`;
}

// The metadata editor: key/value rows, or a JSON object in a textarea.

function metadataEditor(initial = {}, prefix = "metadata") {
  const entries = Object.entries(initial || {});
  let jsonMode = entries.some(([, v]) => typeof v !== "string");
  const rows = h("div", { class: "kv-rows", id: `${prefix}-rows` });
  const jsonField = field({
    label: "Metadata as JSON (an object)",
    id: `${prefix}-json`,
    type: "textarea",
    rows: 6,
    class: "mono",
    spellcheck: "false",
    value: JSON.stringify(initial || {}, null, 2),
  });
  let count = 0;

  function addRow(key = "", value = "") {
    count += 1;
    const keyID = `${prefix}-key-${count}`;
    const valueID = `${prefix}-value-${count}`;
    const row = h(
      "div",
      { class: "kv-row", "data-test": "metadata-row" },
      h("label", { for: keyID, class: "visually-hidden" }, `Key ${count}`),
      h("input", { type: "text", id: keyID, class: "kv-key", placeholder: "key", value: key, autocomplete: "off", "data-test": "metadata-key" }),
      h("label", { for: valueID, class: "visually-hidden" }, `Value ${count}`),
      h("input", { type: "text", id: valueID, class: "kv-value", placeholder: "value", value, autocomplete: "off", "data-test": "metadata-value" }),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          "aria-label": `Remove row ${count}`,
          on: {
            click: () => {
              row.remove();
              if (!rows.children.length) addRow();
            },
          },
        },
        "Remove",
      ),
    );
    rows.appendChild(row);
    return row;
  }

  function rowsObject() {
    const out = {};
    for (const row of rows.children) {
      const key = row.querySelector(".kv-key").value.trim();
      const value = row.querySelector(".kv-value").value;
      if (!key && !value) continue;
      if (!key) throw new Error("Each metadata value needs a key.");
      if (Object.hasOwn(out, key)) throw new Error(`The metadata key “${key}” appears twice.`);
      out[key] = value;
    }
    return out;
  }

  function jsonObject() {
    const text = jsonField.control.value.trim();
    if (!text) return {};
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error("The metadata is not valid JSON.");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("The metadata must be a JSON object, like {\"team\": \"payments\"}.");
    return parsed;
  }

  const addButton = h("button", { type: "button", class: "btn btn-small", id: `${prefix}-add`, on: { click: () => addRow().querySelector("input").focus() } }, "Add row");
  const rowsPane = h("div", { class: "kv-pane" }, rows, addButton);
  const toggle = h("button", { type: "button", class: "btn btn-small btn-quiet", id: `${prefix}-mode`, "aria-pressed": "false" });

  function setMode(json) {
    jsonMode = json;
    rowsPane.hidden = json;
    jsonField.hidden = !json;
    toggle.textContent = json ? "Edit as rows" : "Edit as JSON";
    toggle.setAttribute("aria-pressed", String(json));
  }

  toggle.addEventListener("click", () => {
    clearError(error);
    try {
      if (jsonMode) {
        const object = jsonObject();
        if (Object.values(object).some((v) => typeof v !== "string")) {
          throw new Error("Rows hold text values only; this metadata has other JSON values, so keep editing it as JSON.");
        }
        rows.replaceChildren();
        const list = Object.entries(object);
        if (list.length) for (const [k, v] of list) addRow(k, v);
        else addRow();
        setMode(false);
      } else {
        jsonField.control.value = JSON.stringify(rowsObject(), null, 2);
        setMode(true);
      }
    } catch (err) {
      showError(error, err);
    }
  });

  const error = errorBox("metadata-error");
  if (!jsonMode && entries.length) for (const [k, v] of entries) addRow(k, v);
  else addRow();
  setMode(jsonMode);

  const element = h(
    "fieldset",
    { class: "fieldset metadata-editor", id: `${prefix}-editor` },
    h("legend", {}, "Metadata ", h("span", { class: "muted" }, "(optional, never secret)")),
    h("div", { class: "fieldset-tools" }, toggle),
    rowsPane,
    jsonField,
    error,
  );
  return { element, read: () => (jsonMode ? jsonObject() : rowsObject()) };
}

// The list.

export async function secretsListPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  ctx.title(`Secrets · ${ws.name}`);
  const q = ctx.query;
  const filters = {
    prefix: q.get("prefix") || "",
    tag: q.get("tag") || "",
    type: q.get("type") || "",
    deleted: q.get("deleted") === "1" ? "1" : "",
  };
  const offset = Math.max(0, Number.parseInt(q.get("offset") || "0", 10) || 0);
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const canWrite = atLeast(ws.role, "writer");
  const filtered = Boolean(filters.prefix || filters.tag || filters.type);

  const search = field({ label: "Name starts with", id: "secret-search", type: "search", value: filters.prefix, autocomplete: "off", spellcheck: "false" });
  const tag = field({ label: "Tag", id: "secret-tag-filter", value: filters.tag, autocomplete: "off" });
  const type = field({ label: "Type", id: "secret-type-filter", type: "select", options: [["", "Any type"], ...SECRET_TYPES], value: filters.type });
  const deleted = field({ label: "Include deleted", id: "secret-include-deleted", type: "checkbox", checked: Boolean(filters.deleted) });
  const form = h(
    "form",
    { class: "form form-inline filters", id: "secret-filters", role: "search", "aria-label": "Search secrets", novalidate: true },
    search,
    tag,
    type,
    deleted,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary", id: "secret-filter-apply" }, "Search"),
      h("a", { href: `#${base}`, class: "btn btn-quiet", id: "secret-filter-clear" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go(base, {
      prefix: search.control.value.trim(),
      tag: tag.control.value.trim(),
      type: type.control.value,
      deleted: deleted.control.checked ? "1" : "",
    });
  });

  const error = errorBox("secret-list-error");
  const holder = h("div", { id: "secret-results" }, h("p", { class: "loading", role: "status" }, "Loading secrets…"));
  replace(
    ctx.root,
    workspaceHeader(ctx, ws, "secrets"),
    h(
      "div",
      { class: "toolbar" },
      canWrite ? h("a", { href: `#${base}/secrets/new`, class: "btn btn-primary", id: "secret-new" }, "New secret") : null,
    ),
    form,
    error,
    holder,
  );

  let page;
  try {
    page = await api.get(paths.secrets(ws.id), {
      limit: PAGE_SIZE,
      offset,
      name_prefix: filters.prefix,
      tag: filters.tag,
      secret_type: filters.type,
      include_deleted: filters.deleted ? "true" : "",
    });
  } catch (err) {
    if (err instanceof ApiError && err.code === "session_ended") throw err;
    replace(holder);
    return showError(error, err);
  }
  if (!ctx.isCurrent()) return;
  const items = page.items || [];

  function rowActions(secret) {
    if (!canWrite || secret.is_active !== false || !filters.deleted) return null;
    return h(
      "span",
      { class: "row-actions" },
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          "data-test": "secret-restore",
          "aria-label": `Restore ${secret.name}`,
          on: {
            click: async (event) => {
              if (await restoreSecret(ws, secret, event.currentTarget, error)) ctx.reload();
            },
          },
        },
        "Restore",
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-danger-quiet",
          "data-test": "secret-purge",
          "aria-label": `Purge ${secret.name}`,
          on: { click: () => purgeDialog(ws, secret).then((done) => done && ctx.reload()) },
        },
        "Purge",
      ),
    );
  }

  const rows = items.map((secret) => {
    const rotation = rotationState(secret);
    return h(
      "tr",
      { "data-test": "secret-row", "data-name": secret.name },
      h(
        "th",
        { scope: "row" },
        h("a", { href: `#${secretBase(ws.id, secret.id)}`, class: "mono", "data-test": "secret-link" }, secret.name),
      ),
      h("td", {}, typeLabel(secret.secret_type)),
      h("td", {}, secret.tags && secret.tags.length ? h("span", { class: "tags" }, secret.tags.map((t) => badge(t, "tag"))) : h("span", { class: "muted" }, "—")),
      h("td", { class: "num" }, String(secret.version)),
      h("td", {}, secret.rotation_due_at ? [timeEl(secret.rotation_due_at), " ", rotation.badge] : h("span", { class: "muted" }, "manual")),
      h("td", {}, statusBadge(secret, Boolean(filters.deleted))),
      h("td", {}, timeEl(secret.updated_at)),
      filters.deleted ? h("td", {}, rowActions(secret)) : null,
    );
  });

  let content;
  if (items.length) {
    content = [
      table({
        caption: `Secrets in ${ws.name}`,
        columns: ["Name", "Type", "Tags", "Version", "Next rotation", "Status", "Updated", filters.deleted ? "Actions" : null].filter(Boolean),
        rows,
        testID: "secret-list",
        id: "secret-list",
      }),
      pager({
        offset,
        limit: PAGE_SIZE,
        count: items.length,
        total: page.total,
        label: "Secret pages",
        onPage: (next) => ctx.go(base, { ...filters, offset: next || "" }),
      }),
    ];
  } else if (offset > 0) {
    content = emptyState("No more secrets on this page.", h("a", { href: `#${base}` }, "Back to the first page"), "secrets-empty");
  } else if (filtered) {
    content = emptyState("No secrets match these filters.", h("a", { href: `#${base}` }, "Clear the filters"), "secrets-empty");
  } else {
    content = emptyState(
      canWrite ? "No secrets yet — create one." : "No secrets yet.",
      canWrite ? h("a", { href: `#${base}/secrets/new`, class: "btn btn-primary" }, "Create a secret") : null,
      "secrets-empty",
    );
  }
  replace(holder, content);
}

// Create.

export async function secretCreatePage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  ctx.title(`New secret · ${ws.name}`);
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const error = errorBox("secret-create-error");
  const name = field({
    label: "Name",
    id: "secret-name",
    required: true,
    maxlength: "128",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "none",
    class: "mono",
    help: "An environment-variable name: letters, digits and _, not starting with a digit (e.g. STRIPE_API_KEY).",
  });
  const generate = field({ label: "Generate a random value instead of typing one", id: "secret-generate", type: "checkbox" });
  const value = field({ label: "Value", id: "secret-value", type: "textarea", rows: 4, class: "mono", autocomplete: "off", spellcheck: "false", autocapitalize: "none" });
  const length = field({ label: "Length", id: "secret-gen-length", type: "number", min: "8", max: "4096", value: "32" });
  const charset = field({ label: "Characters", id: "secret-gen-charset", type: "select", options: CHARSETS, value: "alphanumeric" });
  const generator = h("div", { class: "field-row", id: "secret-generator", hidden: true }, length, charset);
  generate.control.addEventListener("change", () => {
    const on = generate.control.checked;
    value.hidden = on;
    generator.hidden = !on;
  });
  const type = field({ label: "Type", id: "secret-type", type: "select", options: SECRET_TYPES, value: "generic" });
  const usage = field({ label: "Description", id: "secret-usage", type: "textarea", rows: 2, maxlength: "1000", help: "What it is for and who uses it (optional; not secret)." });
  const tags = field({ label: "Tags", id: "secret-tags", autocomplete: "off", help: "Comma-separated, e.g. payments, production." });
  const policy = field({
    label: "Rotation policy",
    id: "secret-rotation-policy",
    type: "select",
    options: [["", "The server's default"], ...POLICIES],
    value: "",
    help: "A scheduled policy makes the secret due for rotation that many days after its last rotation. Generated values rotate themselves when due.",
  });
  const metadata = metadataEditor({}, "metadata");
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "secret-create-submit" }, "Create secret");
  const form = h(
    "form",
    { class: "form", id: "secret-create-form", novalidate: true },
    name,
    h("fieldset", { class: "fieldset" }, h("legend", {}, "Value"), generate, value, generator),
    type,
    usage,
    tags,
    metadata.element,
    policy,
    error,
    h("div", { class: "actions" }, submit, h("a", { href: `#${base}`, class: "btn btn-quiet" }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const body = { name: name.control.value.trim(), secret_type: type.control.value };
    if (!body.name) {
      name.control.focus();
      return showError(error, { message: "Give the secret a name." });
    }
    if (generate.control.checked) {
      const n = Number(length.control.value);
      if (!Number.isInteger(n) || n < 8 || n > 4096) return showError(error, { message: "The generated length must be from 8 to 4096." });
      body.generate = { length: n, charset: charset.control.value };
    } else {
      if (!value.control.value) {
        value.control.focus();
        return showError(error, { message: "Enter the value, or choose to generate one." });
      }
      body.value = value.control.value;
    }
    if (usage.control.value.trim()) body.usage = usage.control.value.trim();
    const tagList = parseTags(tags.control.value);
    if (tagList.length) body.tags = tagList;
    try {
      const meta = metadata.read();
      if (Object.keys(meta).length) body.metadata = meta;
    } catch (err) {
      return showError(error, err);
    }
    if (policy.control.value) body.rotation_policy = policy.control.value;
    const restore = busy(submit, "Creating…");
    try {
      const created = await api.post(paths.secrets(ws.id), body);
      value.control.value = "";
      toast(`Secret ${created.name} created.`, "ok");
      ctx.go(secretBase(ws.id, created.id));
    } catch (err) {
      restore();
      showError(error, err);
    }
  });
  replace(
    ctx.root,
    crumbs([["Workspaces", "#/workspaces"], [ws.name, `#${base}`], ["New secret"]]),
    h("h1", {}, "New secret"),
    h("section", { class: "card" }, form),
  );
}

// Detail.

function valuePanel(ws, secret, ctx) {
  const box = h("div", { class: "value-box mono", id: "secret-value", "data-test": "secret-value", "data-state": "masked", tabindex: "0", "aria-labelledby": "value-heading" });
  const countdown = h("span", { class: "countdown muted", id: "reveal-countdown", "aria-live": "off" });
  const status = h("span", { class: "copy-status", id: "secret-copy-status", "data-test": "copy-status", role: "status", "aria-live": "polite" });
  const error = errorBox("value-error");
  const reveal = h("button", { type: "button", class: "btn", id: "secret-reveal", "aria-controls": "secret-value" }, "Reveal");
  const copy = h("button", { type: "button", class: "btn", id: "secret-copy" }, "Copy");
  let hideTimer = null;
  let tickTimer = null;
  let statusTimer = null;

  function masked() {
    replace(box, h("span", { "aria-hidden": "true" }, MASK), h("span", { class: "visually-hidden" }, "Hidden"));
    box.dataset.state = "masked";
  }

  function hide() {
    clearTimeout(hideTimer);
    clearInterval(tickTimer);
    hideTimer = null;
    tickTimer = null;
    masked();
    reveal.textContent = "Reveal";
    countdown.textContent = "";
  }

  async function show() {
    clearError(error);
    const restore = busy(reveal, "Revealing…");
    let answer = null;
    try {
      answer = await api.get(paths.secretPart(ws.id, secret.id, "value"));
      restore();
      if (!ctx.isCurrent()) return;
      box.textContent = answer.value;
    } catch (err) {
      restore();
      return showError(error, err);
    } finally {
      answer = null;
    }
    box.dataset.state = "revealed";
    reveal.textContent = "Hide";
    let left = REVEAL_SECONDS;
    countdown.textContent = `Hidden again in ${left} s`;
    tickTimer = setInterval(() => {
      left -= 1;
      countdown.textContent = left > 0 ? `Hidden again in ${left} s` : "";
    }, 1000);
    hideTimer = setTimeout(hide, REVEAL_SECONDS * 1000);
  }

  reveal.addEventListener("click", () => (box.dataset.state === "revealed" ? hide() : show()));
  copy.addEventListener("click", async () => {
    clearError(error);
    clearTimeout(statusTimer);
    status.textContent = "";
    const restore = busy(copy, "Copying…");
    let answer = null;
    let copied = false;
    try {
      answer = await api.get(paths.secretPart(ws.id, secret.id, "value"));
      copied = await copyText(answer.value);
    } catch (err) {
      return showError(error, err);
    } finally {
      answer = null;
      restore();
    }
    if (copied) {
      status.textContent = "Copied";
      statusTimer = setTimeout(() => {
        status.textContent = "";
      }, 4000);
    } else {
      showError(error, { message: "This browser allows no clipboard access on this page (it needs HTTPS); use Reveal instead." });
    }
  });
  const onVisibility = () => {
    if (document.visibilityState === "hidden" && box.dataset.state === "revealed") hide();
  };
  document.addEventListener("visibilitychange", onVisibility);
  ctx.cleanup(() => {
    hide();
    clearTimeout(statusTimer);
    document.removeEventListener("visibilitychange", onVisibility);
  });
  masked();
  const inactive = secret.is_active === false;
  if (inactive) {
    reveal.disabled = true;
    copy.disabled = true;
  }
  return h(
    "section",
    { class: "card value-card", "aria-labelledby": "value-heading" },
    h("h2", { id: "value-heading" }, "Value", h("span", { class: "muted" }, ` · version ${secret.version}`)),
    box,
    h("div", { class: "actions" }, reveal, copy, countdown, status),
    inactive ? notice("This secret is inactive: its value is withheld until it is reactivated (Edit → Active).", "warn") : null,
    h("p", { class: "help" }, `Every reveal and copy is recorded in the audit trail. A revealed value is hidden again after ${REVEAL_SECONDS} seconds.`),
    error,
  );
}

/** Restores a deleted secret on a click of `button`; a failure is shown in `error`. Resolves true when restored. */
async function restoreSecret(ws, secret, button, error) {
  const restore = busy(button, "Restoring…");
  try {
    await api.post(paths.secretPart(ws.id, secret.id, "restore"));
    toast(`${secret.name} restored.`, "ok");
    return true;
  } catch (err) {
    restore();
    showError(error, err);
    return false;
  }
}

function purgeDialog(ws, secret) {
  const confirmName = field({ label: `Type ${secret.name} to confirm`, id: "purge-confirm-name", autocomplete: "off", spellcheck: "false", class: "mono" });
  return confirmDialog({
    title: `Purge ${secret.name} for good?`,
    message: "Every version of its value is destroyed. This cannot be undone, not even by an administrator.",
    body: confirmName,
    confirmLabel: "Purge for good",
    danger: true,
    onConfirm: async () => {
      if (confirmName.control.value.trim() !== secret.name) throw new Error(`Type the secret's name, ${secret.name}, to confirm.`);
      await api.del(paths.secret(ws.id, secret.id), { purge: "true" });
      toast(`${secret.name} was purged.`, "ok");
    },
  });
}

function rotateDialog(ws, secret) {
  const group = uid("rotate-mode");
  const valueMode = h("input", { type: "radio", name: group, id: "rotate-mode-value", value: "value", checked: true });
  const generateMode = h("input", { type: "radio", name: group, id: "rotate-mode-generate", value: "generate" });
  const newValue = field({ label: "New value", id: "rotate-value", type: "textarea", rows: 3, class: "mono", autocomplete: "off", spellcheck: "false" });
  const sync = () => {
    newValue.hidden = generateMode.checked;
  };
  valueMode.addEventListener("change", sync);
  generateMode.addEventListener("change", sync);
  const body = h(
    "div",
    {},
    h(
      "fieldset",
      { class: "fieldset" },
      h("legend", {}, "Next value"),
      h("div", { class: "field-check" }, valueMode, h("label", { for: "rotate-mode-value" }, "Enter the new value")),
      h("div", { class: "field-check" }, generateMode, h("label", { for: "rotate-mode-generate" }, "Let Coffer generate it (secrets created with a generated value)")),
    ),
    newValue,
  );
  return confirmDialog({
    title: `Rotate ${secret.name}?`,
    message: "The new value becomes the current version and the rotation period starts again. The old value stays as an earlier version.",
    body,
    confirmLabel: "Rotate",
    testID: "rotate-dialog",
    onConfirm: async () => {
      let payload;
      if (valueMode.checked) {
        if (!newValue.control.value) throw new Error("Enter the new value, or let Coffer generate it.");
        payload = { new_value: newValue.control.value };
      }
      const updated = await api.post(paths.secretPart(ws.id, secret.id, "rotate"), payload);
      newValue.control.value = "";
      return updated;
    },
  });
}

export async function secretDetailPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  let secret;
  try {
    secret = await api.get(paths.secret(ws.id, ctx.params.secret));
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "secret_not_found") throw err;
    ctx.title(`Secret not found · ${ws.name}`);
    replace(
      ctx.root,
      crumbs([["Workspaces", "#/workspaces"], [ws.name, `#${base}`], ["Not found"]]),
      h("h1", {}, "Secret not found"),
      notice("This secret does not exist, or it was deleted. Deleted secrets are listed (and can be restored or purged) with “Include deleted”.", "warn", "secret-not-found"),
      h("p", {}, h("a", { href: ctx.href(base, { deleted: "1" }) }, "Show deleted secrets")),
    );
    return;
  }
  renderDetail(ctx, ws, secret, false);
}

async function renderDetail(ctx, ws, secret, deleted) {
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const here = secretBase(ws.id, secret.id);
  ctx.title(`${secret.name} · ${ws.name}`);
  const canWrite = atLeast(ws.role, "writer");
  const canAudit = atLeast(ws.role, "admin");
  const error = errorBox("secret-error");
  const rotation = rotationState(secret);
  const reload = () => ctx.reload();

  const actions = [];
  if (!deleted && canWrite) {
    actions.push(h("a", { href: `#${here}/edit`, class: "btn", id: "secret-edit" }, "Edit"));
    actions.push(
      h(
        "button",
        {
          type: "button",
          class: "btn",
          id: "secret-rotate",
          on: {
            click: () =>
              rotateDialog(ws, secret).then((updated) => {
                if (!updated) return;
                toast(`${secret.name} rotated: now version ${updated.version}.`, "ok");
                reload();
              }),
          },
        },
        "Rotate",
      ),
    );
  }
  if (canAudit) actions.push(h("a", { href: `#${here}/audit`, class: "btn", id: "secret-audit" }, "Audit trail"));
  if (!deleted && canWrite) {
    actions.push(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-danger-quiet",
          id: "secret-delete",
          on: {
            click: () =>
              confirmDialog({
                title: `Delete ${secret.name}?`,
                message: "It disappears from lists and its value can no longer be read. You can restore it later, or purge it for good.",
                confirmLabel: "Delete secret",
                danger: true,
                onConfirm: () => api.del(paths.secret(ws.id, secret.id)),
              }).then((done) => {
                if (!done) return;
                toast(`${secret.name} deleted.`, "ok");
                renderDetail(ctx, ws, { ...secret, is_active: false }, true);
              }),
          },
        },
        "Delete",
      ),
    );
  }
  if (deleted && canWrite) {
    actions.push(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-primary",
          id: "secret-restore",
          on: {
            click: async (event) => {
              clearError(error);
              if (await restoreSecret(ws, secret, event.currentTarget, error)) reload();
            },
          },
        },
        "Restore",
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-danger",
          id: "secret-purge",
          on: { click: () => purgeDialog(ws, secret).then((done) => done && ctx.go(base)) },
        },
        "Purge",
      ),
    );
  }

  const facts = h(
    "dl",
    { class: "facts", id: "secret-facts", "data-test": "secret-facts" },
    h("dt", {}, "Type"),
    h("dd", {}, typeLabel(secret.secret_type)),
    h("dt", {}, "Description"),
    h("dd", {}, secret.usage ? secret.usage : h("span", { class: "muted" }, "—")),
    h("dt", {}, "Tags"),
    h("dd", { id: "secret-tags-view" }, secret.tags && secret.tags.length ? h("span", { class: "tags" }, secret.tags.map((t) => badge(t, "tag"))) : h("span", { class: "muted" }, "none")),
    h("dt", {}, "Current version"),
    h("dd", { id: "secret-version", "data-test": "secret-version" }, String(secret.version)),
    h("dt", {}, "Rotation policy"),
    h("dd", {}, policyLabel(secret.rotation_policy)),
    h("dt", {}, "Last rotated"),
    h("dd", { id: "secret-last-rotated" }, timeEl(secret.last_rotated_at)),
    h("dt", {}, "Next rotation due"),
    h("dd", { id: "secret-next-due" }, secret.rotation_due_at ? [timeEl(secret.rotation_due_at), " ", rotation.badge] : h("span", { class: "muted" }, "not scheduled (manual)")),
    h("dt", {}, "Created"),
    h("dd", {}, timeEl(secret.created_at)),
    h("dt", {}, "Updated"),
    h("dd", {}, timeEl(secret.updated_at)),
    h("dt", {}, "ID"),
    h("dd", { class: "mono small" }, secret.id),
  );

  const metaEntries = Object.entries(secret.metadata || {});
  const metadataView = metaEntries.length
    ? table({
        caption: "Metadata",
        columns: ["Key", "Value"],
        testID: "secret-metadata",
        id: "secret-metadata",
        rows: metaEntries.map(([k, v]) => h("tr", {}, h("th", { scope: "row", class: "mono" }, k), h("td", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v)))),
      })
    : h("p", { class: "muted", id: "secret-metadata-empty" }, "No metadata.");

  const versionsHolder = h("div", { id: "versions-holder" }, h("p", { class: "loading", role: "status" }, "Loading versions…"));

  replace(
    ctx.root,
    crumbs([["Workspaces", "#/workspaces"], [ws.name, `#${base}`], [secret.name]]),
    h(
      "div",
      { class: "page-head" },
      h("h1", { class: "mono break", id: "secret-title", "data-test": "secret-title" }, secret.name),
      h("span", { class: "badges" }, deleted ? badge("deleted", "danger", "status-badge") : statusBadge(secret), rotation.badge),
    ),
    deleted ? notice("This secret is deleted: restore it to use it again, or purge it for good.", "warn", "secret-deleted") : null,
    h("div", { class: "toolbar", id: "secret-actions" }, actions),
    error,
    h(
      "div",
      { class: "detail-grid" },
      deleted ? null : valuePanel(ws, secret, ctx),
      h("section", { class: "card", "aria-labelledby": "details-heading" }, h("h2", { id: "details-heading" }, "Details"), facts),
      h("section", { class: "card", "aria-labelledby": "metadata-heading" }, h("h2", { id: "metadata-heading" }, "Metadata"), metadataView),
    ),
    deleted ? null : h("section", { class: "card", "aria-labelledby": "versions-heading" }, h("h2", { id: "versions-heading" }, "Versions"), versionsHolder),
  );
  if (deleted) {
    if (!document.activeElement || document.activeElement === document.body) document.getElementById("secret-restore")?.focus();
    return;
  }

  try {
    const [data, names] = await Promise.all([api.get(paths.secretPart(ws.id, secret.id, "versions")), memberNames(ws.id)]);
    if (!ctx.isCurrent()) return;
    const versions = data.items || [];
    replace(
      versionsHolder,
      versions.length
        ? table({
            caption: `Versions of ${secret.name}`,
            columns: ["Version", "Created", "By", "Data key", canWrite ? "Actions" : null].filter(Boolean),
            testID: "version-list",
            id: "version-list",
            rows: versions.map((v) =>
              h(
                "tr",
                { "data-test": "version-row", "data-version": String(v.version) },
                h("td", { class: "num" }, String(v.version), " ", v.is_current ? badge("current", "accent", "version-current") : null),
                h("td", {}, timeEl(v.created_at)),
                h("td", {}, userLabel(v.created_by_user_id, names, ctx.user)),
                h("td", { class: "num" }, `v${v.dek_version}`),
                canWrite
                  ? h(
                      "td",
                      {},
                      v.is_current
                        ? h("span", { class: "muted" }, "—")
                        : h(
                            "button",
                            {
                              type: "button",
                              class: "btn btn-small",
                              "data-test": "version-rollback",
                              "data-version": String(v.version),
                              "aria-label": `Roll back to version ${v.version}`,
                              on: {
                                click: () =>
                                  confirmDialog({
                                    title: `Roll back to version ${v.version}?`,
                                    message: `Coffer writes version ${v.version}'s value as a new version ${secret.version + 1}. Nothing is lost: the current value stays as version ${secret.version}.`,
                                    confirmLabel: "Roll back",
                                    danger: true,
                                    onConfirm: () => api.post(paths.secretPart(ws.id, secret.id, "rollback"), { version: v.version }),
                                  }).then((updated) => {
                                    if (!updated) return;
                                    toast(`Rolled back: version ${updated.version} holds version ${v.version}'s value.`, "ok");
                                    reload();
                                  }),
                              },
                            },
                            "Roll back",
                          ),
                    )
                  : null,
              ),
            ),
          })
        : emptyState("No versions."),
    );
  } catch (err) {
    if (err instanceof ApiError && err.code === "session_ended") throw err;
    replace(versionsHolder, h("p", { class: "form-error", role: "alert" }, err.message));
  }
}

// Edit.

export async function secretEditPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  const secret = await api.get(paths.secret(ws.id, ctx.params.secret));
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const here = secretBase(ws.id, secret.id);
  ctx.title(`Edit ${secret.name} · ${ws.name}`);
  if (!atLeast(ws.role, "writer")) {
    replace(ctx.root, h("h1", {}, `Edit ${secret.name}`), notice("Your role in this workspace cannot change secrets."));
    return;
  }
  const error = errorBox("secret-edit-error");
  const value = field({
    label: "New value",
    id: "edit-value",
    type: "textarea",
    rows: 3,
    class: "mono",
    autocomplete: "off",
    spellcheck: "false",
    help: "Leave empty to keep the current value. A new value becomes a new version (the old one is kept).",
  });
  const type = field({ label: "Type", id: "edit-type", type: "select", options: SECRET_TYPES, value: secret.secret_type });
  const usage = field({ label: "Description", id: "edit-usage", type: "textarea", rows: 2, maxlength: "1000", value: secret.usage || "" });
  const tags = field({ label: "Tags", id: "edit-tags", autocomplete: "off", value: (secret.tags || []).join(", "), help: "Comma-separated." });
  const metadata = metadataEditor(secret.metadata || {}, "edit-metadata");
  const policy = field({ label: "Rotation policy", id: "edit-rotation-policy", type: "select", options: POLICIES, value: secret.rotation_policy });
  const active = field({
    label: "Active",
    id: "edit-active",
    type: "checkbox",
    checked: secret.is_active !== false,
    help: "An inactive secret keeps its metadata and versions, but its value is withheld from every reader.",
  });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "edit-submit" }, "Save changes");
  const form = h(
    "form",
    { class: "form", id: "secret-edit-form", novalidate: true },
    value,
    type,
    usage,
    tags,
    metadata.element,
    policy,
    active,
    error,
    h("div", { class: "actions" }, submit, h("a", { href: `#${here}`, class: "btn btn-quiet" }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const patch = {};
    if (value.control.value) patch.value = value.control.value;
    if (type.control.value !== secret.secret_type) patch.secret_type = type.control.value;
    const newUsage = usage.control.value.trim();
    if (newUsage !== (secret.usage || "")) patch.usage = newUsage;
    const newTags = parseTags(tags.control.value);
    if (JSON.stringify(newTags) !== JSON.stringify(secret.tags || [])) patch.tags = newTags;
    try {
      const meta = metadata.read();
      if (JSON.stringify(meta) !== JSON.stringify(secret.metadata || {})) patch.metadata = meta;
    } catch (err) {
      return showError(error, err);
    }
    if (policy.control.value !== secret.rotation_policy) patch.rotation_policy = policy.control.value;
    if (active.control.checked !== (secret.is_active !== false)) patch.is_active = active.control.checked;
    if (!Object.keys(patch).length) return showError(error, { message: "Nothing changed." });
    const restore = busy(submit, "Saving…");
    try {
      const updated = await api.patch(paths.secret(ws.id, secret.id), patch);
      value.control.value = "";
      toast(patch.value ? `Saved: now version ${updated.version}.` : "Saved.", "ok");
      ctx.go(here);
    } catch (err) {
      restore();
      showError(error, err);
    }
  });
  replace(
    ctx.root,
    crumbs([["Workspaces", "#/workspaces"], [ws.name, `#${base}`], [secret.name, `#${here}`], ["Edit"]]),
    h("h1", { class: "break" }, "Edit ", h("span", { class: "mono" }, secret.name)),
    h("section", { class: "card" }, form),
  );
}

// A secret's audit trail.

export async function secretAuditPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const here = secretBase(ws.id, ctx.params.secret);
  const limit = Math.min(1000, Math.max(PAGE_SIZE, Number.parseInt(ctx.query.get("limit") || "", 10) || PAGE_SIZE));
  let name = ctx.params.secret;
  try {
    name = (await api.get(paths.secret(ws.id, ctx.params.secret))).name;
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "secret_not_found") throw err;
  }
  ctx.title(`Audit · ${name} · ${ws.name}`);
  const head = [
    crumbs([["Workspaces", "#/workspaces"], [ws.name, `#${base}`], [name, `#${here}`], ["Audit trail"]]),
    h("h1", { class: "break" }, "Audit trail of ", h("span", { class: "mono" }, name)),
  ];
  if (!atLeast(ws.role, "admin")) {
    replace(ctx.root, head, notice("Only workspace admins and owners read the audit trail."));
    return;
  }
  const [data, names] = await Promise.all([api.get(paths.secretPart(ws.id, ctx.params.secret, "audit"), { limit }), memberNames(ws.id)]);
  if (!ctx.isCurrent()) return;
  const items = data.items || [];
  replace(
    ctx.root,
    head,
    h("p", { class: "lead" }, "Newest first. Every read of the value (", h("code", {}, "accessed"), ") and every change is here."),
    items.length
      ? [
          auditTable(items, { names, self: ctx.user, caption: `Audit records of ${name}` }),
          h(
            "div",
            { class: "pager" },
            h("span", { class: "pager-range", id: "audit-count" }, items.length < limit ? `All ${items.length} records` : `Newest ${items.length} records`),
            items.length >= limit && limit < 1000
              ? h("button", { type: "button", class: "btn", id: "audit-more", on: { click: () => ctx.go(here + "/audit", { limit: Math.min(1000, limit + PAGE_SIZE) }) } }, "Show more")
              : null,
          ),
        ]
      : emptyState("No audit records for this secret.", null, "audit-empty"),
  );
}
