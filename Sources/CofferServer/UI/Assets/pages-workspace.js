// Workspaces: the list, members and roles, service tokens, and the workspace's audit trail. Also the pieces the
// secret pages share: the workspace header and tabs, role checks, the audit table.

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
} from "./dom.js";

const RANK = { reader: 0, writer: 1, admin: 2, owner: 3 };

/** Whether a workspace role is at least `minimum` (reader < writer < admin < owner). */
export function atLeast(role, minimum) {
  return (RANK[role] ?? -1) >= RANK[minimum];
}

export const AUDIT_ACTIONS = [
  "created",
  "accessed",
  "updated",
  "rotated",
  "deleted",
  "restored",
  "purged",
  "listed",
  "encrypted",
  "decrypted",
  "rewrapped",
];

export const PAGE_SIZE = 50;

/** The workspace's breadcrumbs, heading and section tabs. `active`: secrets, members, tokens or audit. */
export function workspaceHeader(ctx, ws, active) {
  const base = `/workspaces/${encodeURIComponent(ws.id)}`;
  const tabs = [
    ["secrets", "Secrets", base, "reader"],
    ["members", "Members", `${base}/members`, "reader"],
    ["tokens", "Tokens", `${base}/tokens`, "admin"],
    ["audit", "Audit", `${base}/audit`, "admin"],
  ].filter((tab) => atLeast(ws.role, tab[3]));
  return [
    crumbs([["Workspaces", "#/workspaces"], [ws.name]]),
    h(
      "div",
      { class: "page-head" },
      h("h1", { id: "workspace-title", "data-test": "workspace-title" }, ws.name),
      badge(`your role: ${ws.role}`, "neutral", "workspace-role"),
    ),
    h(
      "nav",
      { class: "tabs", "aria-label": "Workspace sections" },
      h(
        "ul",
        {},
        tabs.map(([key, label, path]) =>
          h("li", {}, h("a", { href: `#${path}`, id: `tab-${key}`, "aria-current": key === active ? "page" : null }, label)),
        ),
      ),
    ),
  ];
}

/** user id → username for a workspace's members (empty when the list cannot be read). */
export async function memberNames(wsID) {
  try {
    const data = await api.get(paths.members(wsID));
    return new Map((data.items || []).map((m) => [m.user_id, m.username]));
  } catch (error) {
    if (error instanceof ApiError && error.code === "session_ended") throw error;
    return new Map();
  }
}

export function userLabel(id, names, self) {
  if (!id) return "Coffer (automatic)";
  if (self && id === self.id) return `${self.username} (you)`;
  if (names && names.has(id)) return names.get(id);
  if (id.startsWith("service-token:")) return `service token ${id.slice(14, 22)}…`;
  return `${id.slice(0, 8)}…`;
}

function detailsText(details) {
  if (!details || typeof details !== "object") return "";
  const keys = Object.keys(details);
  if (!keys.length) return "";
  return keys.map((key) => `${key}: ${typeof details[key] === "string" ? details[key] : JSON.stringify(details[key])}`).join(", ");
}

/** Audit records as a table. `secretLink(entry)` gives an href for the secret column (workspace view). */
export function auditTable(items, { names, self, secretLink, caption = "Audit records" } = {}) {
  // Secret names as the records themselves tell them (created, deleted … carry the name).
  const secretNames = new Map();
  for (const entry of items) {
    if (entry.secret_id && entry.details && typeof entry.details.name === "string") secretNames.set(entry.secret_id, entry.details.name);
  }
  const columns = ["Time", "Action", "Result", "Who", secretLink ? "Secret" : null, "Details", "From", "Request"].filter(Boolean);
  return table({
    caption,
    columns,
    testID: "audit-table",
    id: "audit-table",
    rows: items.map((entry) =>
      h(
        "tr",
        { "data-test": "audit-row", "data-action": entry.action },
        h("td", {}, timeEl(entry.created_at, true)),
        h("td", {}, h("span", { class: "action", "data-test": "audit-action" }, entry.action)),
        h("td", {}, entry.success ? badge("ok", "ok") : badge("failed", "danger")),
        h("td", {}, userLabel(entry.user_id, names, self)),
        secretLink
          ? h(
              "td",
              {},
              entry.secret_id
                ? h("a", { href: secretLink(entry), class: "mono" }, secretNames.get(entry.secret_id) || `${entry.secret_id.slice(0, 8)}…`)
                : h("span", { class: "muted" }, "—"),
            )
          : null,
        h("td", { class: "details" }, detailsText(entry.details)),
        h("td", { class: "mono small" }, entry.ip_address || "—"),
        h("td", { class: "mono small", title: entry.request_id || null }, entry.request_id ? `${entry.request_id.slice(0, 8)}…` : "—"),
      ),
    ),
  });
}

// The workspace list.

export async function workspacesPage(ctx) {
  ctx.title("Workspaces");
  const items = await ctx.workspaces(true);
  const error = errorBox("workspace-error");
  const name = field({ label: "Name", id: "workspace-name", required: true, maxlength: "100", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "workspace-create" }, "Create workspace");
  const form = h("form", { class: "form form-inline", id: "workspace-form", novalidate: true }, name, h("div", { class: "actions" }, submit), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const value = name.control.value.trim();
    if (!value) {
      name.control.focus();
      return showError(error, { message: "Give the workspace a name." });
    }
    const restore = busy(submit, "Creating…");
    try {
      const created = await api.post(paths.workspaces, { name: value });
      ctx.forgetWorkspaces();
      toast(`Workspace “${created.name}” created.`, "ok");
      ctx.go(`/workspaces/${encodeURIComponent(created.id)}`);
    } catch (err) {
      restore();
      showError(error, err);
    }
  });
  const list = items.length
    ? table({
        caption: "Your workspaces",
        columns: ["Name", "Your role", "Created"],
        testID: "workspace-list",
        id: "workspace-list",
        rows: items.map((ws) =>
          h(
            "tr",
            { "data-test": "workspace-row" },
            h("td", {}, h("a", { href: `#/workspaces/${encodeURIComponent(ws.id)}`, "data-test": "workspace-link" }, ws.name)),
            h("td", {}, badge(ws.role, "neutral")),
            h("td", {}, timeEl(ws.created_at)),
          ),
        ),
      })
    : emptyState("No workspaces yet — create one below to start storing secrets.", null, "workspaces-empty");
  replace(
    ctx.root,
    h("div", { class: "page-head" }, h("h1", {}, "Workspaces")),
    h("p", { class: "lead" }, "A workspace holds secrets and decides who may read and change them."),
    list,
    h("section", { class: "card", "aria-labelledby": "new-workspace" }, h("h2", { id: "new-workspace" }, "New workspace"), form),
  );
}

// Members.

export async function membersPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  ctx.title(`Members · ${ws.name}`);
  const data = await api.get(paths.members(ws.id));
  const items = data.items || [];
  const canManage = atLeast(ws.role, "admin");
  const rows = items.map((member) =>
    h(
      "tr",
      { "data-test": "member-row" },
      h("td", {}, member.username, member.user_id === ctx.user.id ? h("span", { class: "muted" }, " (you)") : null),
      h("td", {}, badge(member.role, member.role === "owner" ? "accent" : "neutral")),
      h("td", {}, timeEl(member.created_at)),
      canManage
        ? h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "btn btn-small btn-danger-quiet",
                "data-test": "member-remove",
                "aria-label": `Remove ${member.username}`,
                on: {
                  click: () =>
                    confirmDialog({
                      title: `Remove ${member.username}?`,
                      message: `${member.username} will lose access to every secret in ${ws.name}.`,
                      confirmLabel: "Remove member",
                      danger: true,
                      onConfirm: () => api.del(paths.member(ws.id, member.user_id)),
                    }).then((done) => {
                      if (!done) return;
                      toast(`${member.username} was removed.`, "ok");
                      if (member.user_id === ctx.user.id) {
                        ctx.forgetWorkspaces();
                        ctx.go("/workspaces");
                      } else ctx.reload();
                    }),
                },
              },
              "Remove",
            ),
          )
        : null,
    ),
  );
  let addSection = null;
  if (canManage) {
    const error = errorBox("member-error");
    const username = field({ label: "Username", id: "member-username", required: true, autocomplete: "off", autocapitalize: "none" });
    const roles = ["reader", "writer", "admin"].concat(ws.role === "owner" ? ["owner"] : []);
    const role = field({ label: "Role", id: "member-role", type: "select", options: roles, value: "reader" });
    const submit = h("button", { type: "submit", class: "btn btn-primary", id: "member-add" }, "Add member");
    const form = h(
      "form",
      { class: "form form-inline", id: "member-form", novalidate: true },
      username,
      role,
      h("div", { class: "actions" }, submit),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError(error);
      const name = username.control.value.trim();
      if (!name) return showError(error, { message: "Enter the username of an existing account." });
      const restore = busy(submit, "Adding…");
      try {
        const added = await api.post(paths.members(ws.id), { username: name, role: role.control.value });
        toast(`${added.username} is now ${added.role}.`, "ok");
        await ctx.reload();
        document.getElementById("member-username")?.focus();
      } catch (err) {
        restore();
        showError(error, err);
      }
    });
    addSection = h(
      "section",
      { class: "card", "aria-labelledby": "add-member" },
      h("h2", { id: "add-member" }, "Add a member or change a role"),
      h("p", { class: "help" }, "The account must exist already. Adding someone who is already a member changes their role; only owners grant the owner role."),
      form,
    );
  }
  replace(
    ctx.root,
    workspaceHeader(ctx, ws, "members"),
    items.length
      ? table({
          caption: "Members",
          columns: ["Username", "Role", "Added", canManage ? "Actions" : null].filter(Boolean),
          rows,
          testID: "member-list",
          id: "member-list",
        })
      : emptyState("No members."),
    addSection,
  );
}

// Service tokens.

function tokenStatus(token) {
  if (token.revoked) return badge("revoked", "danger");
  if (token.expires_at && new Date(token.expires_at).getTime() < Date.now()) return badge("expired", "warn");
  return badge("active", "ok");
}

export async function tokensPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  ctx.title(`Service tokens · ${ws.name}`);
  if (!atLeast(ws.role, "admin")) {
    replace(ctx.root, workspaceHeader(ctx, ws, "tokens"), notice("Only workspace admins and owners manage service tokens."));
    return;
  }
  const listHolder = h("div", { id: "token-list-holder" });
  const created = h("div", { id: "token-created-holder" });
  const error = errorBox("token-error");
  const name = field({ label: "Name", id: "token-name", required: true, maxlength: "100", autocomplete: "off", help: "What uses it, e.g. “ci-deploy”." });
  const role = field({
    label: "Role",
    id: "token-role",
    type: "select",
    options: [
      ["reader", "reader — read secrets"],
      ["writer", "writer — read and change secrets"],
    ],
    value: "reader",
  });
  const days = field({ label: "Expires after (days)", id: "token-days", type: "number", min: "1", max: "3650", value: "90", required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "token-create" }, "Create token");
  const form = h("form", { class: "form form-inline", id: "token-form", novalidate: true }, name, role, days, h("div", { class: "actions" }, submit), error);

  async function loadList() {
    replace(listHolder, h("p", { class: "loading", role: "status" }, "Loading tokens…"));
    const data = await api.get(paths.tokens(ws.id));
    const items = data.items || [];
    if (!ctx.isCurrent()) return;
    replace(
      listHolder,
      items.length
        ? table({
            caption: "Service tokens",
            columns: ["Name", "Role", "Created", "Expires", "Status", "Actions"],
            testID: "token-list",
            id: "token-list",
            rows: items.map((token) =>
              h(
                "tr",
                { "data-test": "token-row" },
                h("td", {}, token.name),
                h("td", {}, token.role),
                h("td", {}, timeEl(token.created_at)),
                h("td", {}, timeEl(token.expires_at)),
                h("td", {}, tokenStatus(token)),
                h(
                  "td",
                  {},
                  token.revoked
                    ? h("span", { class: "muted" }, "—")
                    : h(
                        "button",
                        {
                          type: "button",
                          class: "btn btn-small btn-danger-quiet",
                          "data-test": "token-revoke",
                          "aria-label": `Revoke ${token.name}`,
                          on: {
                            click: () =>
                              confirmDialog({
                                title: `Revoke “${token.name}”?`,
                                message: "Anything using this token loses access at once. This cannot be undone.",
                                confirmLabel: "Revoke token",
                                danger: true,
                                onConfirm: () => api.del(paths.token(ws.id, token.id)),
                              }).then((done) => {
                                if (!done) return;
                                toast(`Token “${token.name}” revoked.`, "ok");
                                loadList().then(() => {
                                  if (document.activeElement === document.body) document.getElementById("token-list-heading")?.focus();
                                });
                              }),
                          },
                        },
                        "Revoke",
                      ),
                ),
              ),
            ),
          })
        : emptyState("No service tokens yet — create one for a deployment or a CI job.", null, "tokens-empty"),
    );
  }

  function showCreated(token) {
    const status = h("span", { class: "copy-status", id: "token-copy-status", role: "status", "aria-live": "polite" });
    const input = h("input", { type: "text", id: "token-value", class: "mono token-value", readonly: true, value: token.token, autocomplete: "off", spellcheck: "false" });
    const copy = h(
      "button",
      {
        type: "button",
        class: "btn",
        id: "token-copy",
        on: {
          click: async () => {
            if (await copyText(input.value)) status.textContent = "Copied";
            else {
              input.select();
              status.textContent = "Select the token and copy it yourself (this browser allows no clipboard access here).";
            }
          },
        },
      },
      "Copy",
    );
    const done = h(
      "button",
      {
        type: "button",
        class: "btn btn-quiet",
        id: "token-done",
        on: {
          click: () => {
            replace(created);
            name.control.focus();
          },
        },
      },
      "I have stored it",
    );
    replace(
      created,
      h(
        "section",
        { class: "card card-warn", id: "token-created", "data-test": "token-created", "aria-labelledby": "token-created-heading" },
        h("h2", { id: "token-created-heading" }, `Token “${token.name}” created`),
        h("p", { class: "warning", id: "token-warning" }, "Copy it now: Coffer shows this token only once and cannot show it again. If you lose it, revoke it and create another."),
        h("div", { class: "field" }, h("label", { for: "token-value" }, "Token"), h("div", { class: "copy-row" }, input, copy)),
        h("div", { class: "actions" }, status, done),
      ),
    );
    input.focus();
    input.select();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const label = name.control.value.trim();
    const expires = Number(days.control.value);
    if (!label) return showError(error, { message: "Give the token a name." });
    if (!Number.isInteger(expires) || expires < 1 || expires > 3650) return showError(error, { message: "Expiry must be a whole number of days from 1 to 3650." });
    const restore = busy(submit, "Creating…");
    try {
      const token = await api.post(paths.tokens(ws.id), { name: label, role: role.control.value, expires_in_days: expires });
      restore();
      name.control.value = "";
      showCreated(token);
      await loadList();
    } catch (err) {
      restore();
      showError(error, err);
    }
  });

  replace(
    ctx.root,
    workspaceHeader(ctx, ws, "tokens"),
    h("p", { class: "lead" }, "Service tokens let programs read (or write) this workspace's secrets with ", h("code", {}, "Authorization: Bearer"), ". Every use is audited."),
    created,
    h("section", { class: "card", "aria-labelledby": "new-token" }, h("h2", { id: "new-token" }, "New service token"), form),
    h("section", { "aria-labelledby": "token-list-heading" }, h("h2", { id: "token-list-heading", tabindex: "-1" }, "Tokens"), listHolder),
  );
  await loadList();
}

// The workspace's audit trail.

function toLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export async function workspaceAuditPage(ctx) {
  const ws = await ctx.workspace(ctx.params.ws);
  ctx.title(`Audit · ${ws.name}`);
  if (!atLeast(ws.role, "admin")) {
    replace(ctx.root, workspaceHeader(ctx, ws, "audit"), notice("Only workspace admins and owners read the audit trail."));
    return;
  }
  const q = ctx.query;
  const filters = {
    action: q.get("action") || "",
    success: q.get("success") || "",
    since: q.get("since") || "",
  };
  const offset = Math.max(0, Number.parseInt(q.get("offset") || "0", 10) || 0);
  const base = `/workspaces/${encodeURIComponent(ws.id)}/audit`;

  const action = field({ label: "Action", id: "audit-action", type: "select", options: [["", "Any action"], ...AUDIT_ACTIONS], value: filters.action });
  const success = field({
    label: "Result",
    id: "audit-success",
    type: "select",
    options: [
      ["", "Any result"],
      ["true", "Succeeded"],
      ["false", "Failed or denied"],
    ],
    value: filters.success,
  });
  const since = field({ label: "Since", id: "audit-since", type: "datetime-local", value: toLocalInput(filters.since) });
  const error = errorBox("audit-error");
  const form = h(
    "form",
    { class: "form form-inline filters", id: "audit-filters", novalidate: true, role: "search", "aria-label": "Filter audit records" },
    action,
    success,
    since,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary", id: "audit-apply" }, "Apply"),
      h("a", { href: `#${base}`, class: "btn btn-quiet" }, "Clear"),
    ),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let sinceISO = "";
    if (since.control.value) {
      const date = new Date(since.control.value);
      if (Number.isNaN(date.getTime())) return showError(error, { message: "Enter a valid date and time." });
      sinceISO = date.toISOString().replace(/\.\d{3}Z$/, "Z");
    }
    ctx.go(base, { action: action.control.value, success: success.control.value, since: sinceISO });
  });

  const holder = h("div", { id: "audit-results" }, h("p", { class: "loading", role: "status" }, "Loading audit records…"));
  replace(ctx.root, workspaceHeader(ctx, ws, "audit"), form, holder);
  try {
    const [page, names] = await Promise.all([
      api.get(paths.workspaceAudit(ws.id), { ...filters, limit: PAGE_SIZE, offset }),
      memberNames(ws.id),
    ]);
    if (!ctx.isCurrent()) return;
    const items = page.items || [];
    replace(
      holder,
      items.length
        ? [
            auditTable(items, {
              names,
              self: ctx.user,
              caption: `Audit records of ${ws.name}`,
              secretLink: (entry) => `#/workspaces/${encodeURIComponent(ws.id)}/secrets/${encodeURIComponent(entry.secret_id)}`,
            }),
            pager({
              offset,
              limit: PAGE_SIZE,
              count: items.length,
              total: page.total,
              label: "Audit pages",
              onPage: (next) => ctx.go(base, { ...filters, offset: next || "" }),
            }),
          ]
        : emptyState(offset ? "No more records." : "No audit records match these filters.", null, "audit-empty"),
    );
  } catch (err) {
    if (err instanceof ApiError && err.code === "session_ended") throw err;
    replace(holder);
    showError(error, err);
  }
}
