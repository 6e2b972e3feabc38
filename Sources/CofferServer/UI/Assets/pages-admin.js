// Rotation across all the caller's workspaces, and the instance administrators' page (health, data-key rotation,
// audit chain verification, accounts).

import { api, ApiError, paths } from "./api.js";
import { badge, busy, clearError, confirmDialog, emptyState, errorBox, field, formatRelative, h, notice, replace, showError, table, timeEl, toast } from "./dom.js";
import { POLICIES, rotationState } from "./pages-secrets.js";

const policyLabel = (policy) => (POLICIES.find(([v]) => v === policy) || [policy, policy])[1];

// Rotation.

export async function rotationPage(ctx) {
  ctx.title("Rotation");
  const days = ["7", "30", "90", "365"].includes(ctx.query.get("days")) ? ctx.query.get("days") : "7";
  const horizon = field({
    label: "Due within",
    id: "rotation-days",
    type: "select",
    options: [
      ["7", "7 days"],
      ["30", "30 days"],
      ["90", "90 days"],
      ["365", "a year"],
    ],
    value: days,
  });
  horizon.control.addEventListener("change", () => ctx.go("/rotation", { days: horizon.control.value === "7" ? "" : horizon.control.value }));
  const holder = h("div", { id: "rotation-results" }, h("p", { class: "loading", role: "status" }, "Checking every workspace…"));
  replace(
    ctx.root,
    h("div", { class: "page-head" }, h("h1", {}, "Rotation")),
    h("p", { class: "lead" }, "Secrets that are overdue or fall due soon, across all your workspaces. Overdue ones come first."),
    h("form", { class: "form form-inline filters", id: "rotation-filter", novalidate: true, on: { submit: (e) => e.preventDefault() } }, horizon),
    holder,
  );
  const workspaces = await ctx.workspaces(true);
  const results = await Promise.allSettled(
    workspaces.map((ws) => api.get(paths.rotationDue(ws.id), { days_ahead: days }).then((data) => ({ ws, items: data.items || [] }))),
  );
  if (!ctx.isCurrent()) return;
  const rows = [];
  const failures = [];
  results.forEach((result, index) => {
    if (result.status === "fulfilled") {
      for (const secret of result.value.items) rows.push({ ws: result.value.ws, secret });
    } else {
      if (result.reason instanceof ApiError && result.reason.code === "session_ended") throw result.reason;
      failures.push(`${workspaces[index].name}: ${result.reason.message}`);
    }
  });
  rows.sort((a, b) => new Date(a.secret.rotation_due_at) - new Date(b.secret.rotation_due_at));
  const overdue = rows.filter((r) => rotationState(r.secret).kind === "overdue").length;
  const summary = h(
    "p",
    { class: "summary", id: "rotation-summary", "data-test": "rotation-summary" },
    workspaces.length === 1 ? "1 workspace checked: " : `${workspaces.length} workspaces checked: `,
    overdue ? badge(`${overdue} overdue`, "danger") : badge("none overdue", "ok"),
    " ",
    badge(`${rows.length - overdue} due within ${days} days`, rows.length - overdue ? "warn" : "neutral"),
  );
  replace(
    holder,
    summary,
    failures.length ? notice(`Some workspaces could not be checked — ${failures.join("; ")}`, "warn", "rotation-failures") : null,
    rows.length
      ? table({
          caption: "Secrets due for rotation",
          columns: ["Secret", "Workspace", "Policy", "Last rotated", "Due", "State"],
          testID: "rotation-list",
          id: "rotation-list",
          rows: rows.map(({ ws, secret }) => {
            const state = rotationState(secret);
            return h(
              "tr",
              { "data-test": "rotation-row", "data-name": secret.name },
              h(
                "th",
                { scope: "row" },
                h("a", { class: "mono", href: `#/workspaces/${encodeURIComponent(ws.id)}/secrets/${encodeURIComponent(secret.id)}` }, secret.name),
              ),
              h("td", {}, h("a", { href: `#/workspaces/${encodeURIComponent(ws.id)}` }, ws.name)),
              h("td", {}, policyLabel(secret.rotation_policy)),
              h("td", {}, timeEl(secret.last_rotated_at)),
              h("td", {}, timeEl(secret.rotation_due_at)),
              h("td", {}, state.badge || badge(`due ${formatRelative(secret.rotation_due_at)}`, "neutral")),
            );
          }),
        })
      : emptyState(
          workspaces.length ? `Nothing is due for rotation in the next ${days} days.` : "You are in no workspace yet.",
          workspaces.length ? null : h("a", { href: "#/workspaces" }, "Create a workspace"),
          "rotation-empty",
        ),
  );
}

// Administration.

function healthSection() {
  const holder = h("div", { id: "health-results" }, h("p", { class: "loading", role: "status" }, "Checking…"));
  const again = h("button", { type: "button", class: "btn btn-small", id: "admin-health-refresh" }, "Check again");
  async function load() {
    const restore = busy(again, "Checking…");
    const [server, encryption] = await Promise.allSettled([api.get(paths.health), api.get(paths.encryptionHealth)]);
    restore();
    for (const r of [server, encryption]) {
      if (r.status === "rejected" && r.reason instanceof ApiError && r.reason.code === "session_ended") return;
    }
    const serverOK = server.status === "fulfilled" && server.value && server.value.status === "ok";
    const rows = [];
    rows.push(
      h(
        "tr",
        {},
        h("th", { scope: "row" }, "Server (store and keys)"),
        h("td", { id: "health-server", "data-test": "health-server" }, serverOK ? badge("ok", "ok") : badge("unhealthy", "danger")),
        h("td", { class: "small wrap" }, server.status === "fulfilled" ? "" : server.reason.message),
      ),
    );
    if (encryption.status === "fulfilled") {
      const data = encryption.value || {};
      const providers = Object.entries(data.health_status || {});
      for (const [name, info] of providers) {
        rows.push(
          h(
            "tr",
            {},
            h("th", { scope: "row" }, `Encryption: ${name}`, name === data.current_backend ? h("span", { class: "muted" }, " (current)") : null),
            h("td", { "data-test": "health-encryption" }, info && info.healthy ? badge("healthy", "ok") : badge("unhealthy", "danger")),
            h("td", { class: "small wrap" }, info && info.key_id ? `key ${info.key_id}` : "", info && info.last_check ? [" · checked ", timeEl(info.last_check)] : null),
          ),
        );
      }
    } else {
      rows.push(h("tr", {}, h("th", { scope: "row" }, "Encryption"), h("td", {}, badge("unknown", "warn")), h("td", {}, encryption.reason.message)));
    }
    replace(holder, table({ caption: "Health", columns: ["Component", "State", "Details"], rows, id: "health-table" }));
  }
  again.addEventListener("click", load);
  return {
    element: h(
      "section",
      { class: "card", "aria-labelledby": "health-heading" },
      h("div", { class: "card-head" }, h("h2", { id: "health-heading" }, "Health"), again),
      holder,
    ),
    load,
  };
}

function keyRotationSection(ctx) {
  const holder = h("div", { id: "key-rotation-status" }, h("p", { class: "loading", role: "status" }, "Loading…"));
  const error = errorBox("key-rotation-error");
  const start = h("button", { type: "button", class: "btn btn-primary", id: "admin-rotate-key" }, "Start key rotation");
  const refresh = h("button", { type: "button", class: "btn btn-small", id: "admin-rotation-refresh" }, "Refresh");
  let poll = null;
  ctx.cleanup(() => clearTimeout(poll));

  async function load() {
    clearTimeout(poll);
    let status;
    try {
      status = await api.get(paths.rotationStatus);
    } catch (err) {
      if (err instanceof ApiError && err.code === "session_ended") return;
      return showError(error, err);
    }
    if (!ctx.isCurrent()) return;
    const jobs = status.jobs || [];
    replace(
      holder,
      h(
        "p",
        { id: "key-rotation-state", "data-test": "key-rotation-state" },
        status.in_progress ? badge("re-encrypting", "warn") : badge("idle", "ok"),
        " ",
        status.in_progress ? "A background job is re-encrypting older versions with the new data keys." : "No re-encryption is running.",
      ),
      jobs.length
        ? table({
            caption: "Key rotation jobs",
            columns: ["Started", "Scope", "Status", "Done", "Failed", "Remaining", "Finished"],
            id: "key-rotation-jobs",
            rows: jobs.map((job) =>
              h(
                "tr",
                {},
                h("td", {}, timeEl(job.started_at)),
                h("td", { class: "small" }, job.workspace_id ? h("span", { class: "mono" }, `${job.workspace_id.slice(0, 8)}…`) : "all workspaces"),
                h("td", {}, badge(job.status, job.status === "completed" ? "ok" : "warn")),
                h("td", { class: "num" }, `${job.done} / ${job.total}`),
                h("td", { class: "num" }, String(job.failed)),
                h("td", { class: "num" }, String(job.remaining)),
                h("td", {}, timeEl(job.finished_at)),
              ),
            ),
          })
        : h("p", { class: "muted" }, "No key rotation has run yet."),
    );
    if (status.in_progress) poll = setTimeout(load, 3000);
  }

  start.addEventListener("click", () =>
    confirmDialog({
      title: "Start key rotation?",
      message:
        "Coffer makes a new data key for every workspace. New writes use it at once; a background job re-encrypts older versions. Secrets stay readable throughout.",
      confirmLabel: "Start key rotation",
      danger: true,
      onConfirm: () => api.post(paths.rotateKey),
    }).then((job) => {
      if (!job) return;
      toast("Key rotation started.", "ok");
      load();
    }),
  );
  refresh.addEventListener("click", () => {
    clearError(error);
    load();
  });
  return {
    element: h(
      "section",
      { class: "card span-all", "aria-labelledby": "key-rotation-heading" },
      h("div", { class: "card-head" }, h("h2", { id: "key-rotation-heading" }, "Data-key rotation"), refresh),
      holder,
      error,
      h("div", { class: "actions" }, start),
    ),
    load,
  };
}

function auditVerifySection() {
  const result = h("div", { id: "audit-verify-result", "data-test": "audit-verify-result", role: "status", "aria-live": "polite" });
  const error = errorBox("audit-verify-error");
  const button = h("button", { type: "button", class: "btn btn-primary", id: "admin-verify-audit" }, "Verify the audit chain");
  button.addEventListener("click", async () => {
    clearError(error);
    replace(result);
    delete result.dataset.intact;
    const restore = busy(button, "Verifying…");
    try {
      const check = await api.get(paths.verifyAudit);
      result.dataset.intact = String(Boolean(check.intact));
      replace(
        result,
        check.intact
          ? notice(`Intact: all ${check.checked} records verified; the hash chain is unbroken.`, "ok")
          : notice(`Broken: the chain fails at record ${check.first_bad_sequence} (${check.checked} records checked). The audit trail may have been tampered with.`, "danger"),
      );
    } catch (err) {
      showError(error, err);
    } finally {
      restore();
    }
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "audit-verify-heading" },
    h("h2", { id: "audit-verify-heading" }, "Audit chain"),
    h("p", { class: "help" }, "Recomputes the hash chain over every audit record to show that none was changed or removed."),
    h("div", { class: "actions" }, button),
    result,
    error,
  );
}

function accountSection() {
  const error = errorBox("register-error");
  const username = field({ label: "Username", id: "register-username", required: true, autocomplete: "off", autocapitalize: "none", help: "3 to 64 letters, digits and . _ @ -" });
  const password = field({ label: "Initial password", id: "register-password", type: "password", required: true, autocomplete: "new-password", help: "At least 12 characters; ask them to change it." });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "register-submit" }, "Create account");
  const form = h("form", { class: "form", id: "register-form", novalidate: true }, username, password, error, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    if (!username.control.value.trim() || !password.control.value) return showError(error, { message: "Enter a username and a password." });
    const restore = busy(submit, "Creating…");
    try {
      const user = await api.post(paths.register, { username: username.control.value.trim(), password: password.control.value });
      username.control.value = "";
      password.control.value = "";
      toast(`Account ${user.username} created. Add it to a workspace from the workspace's Members tab.`, "ok");
    } catch (err) {
      showError(error, err);
    } finally {
      restore();
    }
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "register-heading" },
    h("h2", { id: "register-heading" }, "New account"),
    form,
  );
}

export async function adminPage(ctx) {
  ctx.title("Administration");
  const health = healthSection();
  const rotation = keyRotationSection(ctx);
  replace(
    ctx.root,
    h("div", { class: "page-head" }, h("h1", {}, "Administration")),
    h("p", { class: "lead" }, "Instance-wide checks and operations. Only instance administrators see this page."),
    h("div", { class: "detail-grid" }, health.element, auditVerifySection(), rotation.element, accountSection()),
  );
  await Promise.all([health.load(), rotation.load()]);
}
