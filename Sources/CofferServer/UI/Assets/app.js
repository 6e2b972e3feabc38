// Coffer's web interface: the shell, the hash router, sign-in and the account page. The other pages live in
// pages-*.js; each page is `async (ctx) => void` and renders into `ctx.root`.

import { api, ApiError, onSessionEnded, paths, SESSION_ENDED_MESSAGE } from "./api.js";
import { busy, clearError, errorBox, field, h, notice, replace, showError, timeEl, toast } from "./dom.js";
import { membersPage, tokensPage, workspaceAuditPage, workspacesPage } from "./pages-workspace.js";
import { secretAuditPage, secretCreatePage, secretDetailPage, secretEditPage, secretsListPage } from "./pages-secrets.js";
import { adminPage, rotationPage } from "./pages-admin.js";

const state = {
  user: null,
  // A message for the sign-in page (why the user is there), shown once.
  flash: null,
  workspaces: null,
  workspacesAt: 0,
};

const routes = [
  { pattern: "/login", page: loginPage, public: true },
  { pattern: "/workspaces", page: workspacesPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws", page: secretsListPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/secrets/new", page: secretCreatePage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/secrets/:secret", page: secretDetailPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/secrets/:secret/edit", page: secretEditPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/secrets/:secret/audit", page: secretAuditPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/members", page: membersPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/tokens", page: tokensPage, nav: "workspaces" },
  { pattern: "/workspaces/:ws/audit", page: workspaceAuditPage, nav: "workspaces" },
  { pattern: "/rotation", page: rotationPage, nav: "rotation" },
  { pattern: "/account", page: accountPage, nav: "account" },
  { pattern: "/admin", page: adminPage, nav: "admin", admin: true },
];

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const route of routes) {
    const want = route.pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length; i += 1) {
      if (want[i].startsWith(":")) {
        try {
          params[want[i].slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          ok = false;
        }
      } else if (want[i] !== parts[i]) ok = false;
      if (!ok) break;
    }
    if (ok) return { route, params };
  }
  return null;
}

/** The current hash as `{path, query}`; only hashes that start with `#/` are routes. */
function current() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(1) : "/workspaces";
  const q = hash.indexOf("?");
  return { path: q < 0 ? hash : hash.slice(0, q), query: new URLSearchParams(q < 0 ? "" : hash.slice(q + 1)), full: hash };
}

/** A route's href, with a query built from an object (empty values left out). */
export function href(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

function go(path, query) {
  const target = href(path, query);
  if (location.hash === target) render();
  else location.hash = target;
}

// Only routes of this app are accepted as a place to return to after signing in.
function safeNext(next) {
  return typeof next === "string" && /^\/[A-Za-z0-9/_\-.?=&%]*$/.test(next) && !next.startsWith("/login") ? next : null;
}

function toLogin(message) {
  const here = current();
  const next = here.path.startsWith("/login") ? here.query.get("next") : here.full;
  state.user = null;
  state.workspaces = null;
  state.flash = message || null;
  updateShell();
  go("/login", { next: safeNext(next) });
}

let booting = true;

onSessionEnded(() => {
  // At start-up a missing session simply means "not signed in": start() shows the sign-in page itself.
  if (booting || current().path === "/login") return;
  toLogin(state.user ? SESSION_ENDED_MESSAGE : null);
});

// The shell.

function updateShell() {
  const signedIn = Boolean(state.user);
  document.getElementById("mainnav").hidden = !signedIn;
  document.getElementById("session").hidden = !signedIn;
  document.getElementById("nav-admin").hidden = !(state.user && state.user.is_admin);
  document.getElementById("whoami").textContent = signedIn ? state.user.username : "";
}

function markNav(nav) {
  for (const link of document.querySelectorAll("#mainnav a[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function signOut() {
  const button = document.getElementById("logout-button");
  const restore = busy(button, "Signing out…");
  try {
    await api.post(paths.logout);
  } catch (error) {
    // Already signed out (or the server is gone): the cookies are the server's to clear; nothing to keep here.
    if (!(error instanceof ApiError)) throw error;
  } finally {
    restore();
  }
  state.user = null;
  state.workspaces = null;
  state.flash = "You have signed out.";
  updateShell();
  go("/login");
}

// Workspaces are looked up by many pages; one list, refreshed when older than 30 s or after a change.
async function workspaces(force = false) {
  if (force || !state.workspaces || Date.now() - state.workspacesAt > 30000) {
    const data = await api.get(paths.workspaces);
    state.workspaces = data.items || [];
    state.workspacesAt = Date.now();
  }
  return state.workspaces;
}

async function workspace(id) {
  let found = (await workspaces()).find((w) => w.id === id);
  if (!found) found = (await workspaces(true)).find((w) => w.id === id);
  if (!found) throw new ApiError(404, "workspace_not_found", "Workspace not found, or you are not a member of it.");
  return found;
}

// Rendering.

let sequence = 0;
let cleanups = [];
let firstRender = true;

async function render() {
  const here = current();
  sequence += 1;
  const mine = sequence;
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // a page's cleanup failing must not stop the next page
    }
  }
  const root = document.getElementById("page");
  const found = match(here.path);
  if (!found) {
    document.title = "Not found · Coffer";
    markNav(null);
    replace(root, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/workspaces" }, "Go to your workspaces")));
    return focusHeading(root);
  }
  const { route, params } = found;
  if (!route.public && !state.user) return toLogin(null);
  if (route.pattern === "/login" && state.user) return go("/workspaces");
  if (route.admin && !state.user.is_admin) {
    document.title = "Not allowed · Coffer";
    replace(root, h("h1", { tabindex: "-1" }, "Administrators only"), h("p", {}, "This page is for instance administrators."));
    return focusHeading(root);
  }
  markNav(route.nav || null);
  root.setAttribute("aria-busy", "true");
  replace(root, h("p", { class: "loading", role: "status" }, "Loading…"));
  const ctx = {
    root,
    params,
    query: here.query,
    path: here.path,
    user: state.user,
    href,
    go,
    title: (text) => {
      if (mine === sequence) document.title = `${text} · Coffer`;
    },
    isCurrent: () => mine === sequence,
    cleanup: (fn) => {
      if (mine === sequence) cleanups.push(fn);
      else fn();
    },
    // Renders this page again in place (after a change it made), keeping focus somewhere sensible.
    reload: async () => {
      if (mine !== sequence) return;
      try {
        await route.page(ctx);
      } catch (error) {
        if (mine !== sequence || (error instanceof ApiError && error.code === "session_ended")) return;
        toast(error.message || String(error), "error");
      }
      if (mine === sequence && (!document.activeElement || document.activeElement === document.body)) {
        const heading = root.querySelector("h1");
        if (heading) {
          heading.setAttribute("tabindex", "-1");
          heading.focus();
        }
      }
    },
    workspace,
    workspaces,
    forgetWorkspaces: () => {
      state.workspaces = null;
    },
    signedOut: (message) => {
      state.user = null;
      state.flash = message;
      updateShell();
      go("/login");
    },
    setUser: (user) => {
      state.user = user;
      updateShell();
    },
  };
  try {
    await route.page(ctx);
  } catch (error) {
    if (mine !== sequence) return;
    if (error instanceof ApiError && error.code === "session_ended") return;
    document.title = "Error · Coffer";
    replace(
      root,
      h("h1", { tabindex: "-1" }, error instanceof ApiError && error.status === 404 ? "Not found" : "Something went wrong"),
      h("p", { class: "form-error", role: "alert", "data-test": "page-error" }, error.message || String(error)),
      h("p", {}, h("a", { href: "#/workspaces" }, "Back to your workspaces")),
    );
  }
  if (mine !== sequence) return;
  root.removeAttribute("aria-busy");
  focusHeading(root);
}

function focusHeading(root) {
  // On the first load the browser's own focus order is right; after a navigation, focus the new page's heading
  // so that screen readers announce it and Tab continues from the top of the content.
  if (firstRender) {
    firstRender = false;
    return;
  }
  const heading = root.querySelector("h1");
  if (heading && !root.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

// Pages kept here: sign-in and the account.

async function loginPage(ctx) {
  ctx.title("Sign in");
  const message = state.flash;
  state.flash = null;
  const error = errorBox("login-error");
  const username = field({ label: "Username", id: "login-username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = field({ label: "Password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "login-submit" }, "Sign in");
  const form = h("form", { class: "form", id: "login-form", novalidate: true }, username, password, error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const name = username.control.value.trim();
    if (!name || !password.control.value) {
      showError(error, { message: "Enter your username and password." });
      (name ? password : username).control.focus();
      return;
    }
    const restore = busy(submit, "Signing in…");
    try {
      await api.post(paths.login, { username: name, password: password.control.value, cookie: true });
      const me = await api.get(paths.me);
      password.control.value = "";
      state.user = me;
      state.workspaces = null;
      updateShell();
      const next = safeNext(ctx.query.get("next"));
      const target = next || "/workspaces";
      location.hash = `#${target}`;
    } catch (err) {
      restore();
      showError(error, err);
      password.control.value = "";
      password.control.focus();
    }
  });
  replace(
    ctx.root,
    h(
      "section",
      { class: "auth-card", "aria-labelledby": "login-heading" },
      h("img", { src: document.querySelector("link[rel=icon]").href, alt: "", width: "40", height: "40", class: "auth-logo" }),
      h("h1", { id: "login-heading" }, "Sign in to Coffer"),
      message && notice(message, "info", "login-message"),
      form,
    ),
  );
  if (!document.activeElement || document.activeElement === document.body) username.control.focus();
}

async function accountPage(ctx) {
  ctx.title("Account");
  const me = await api.get(paths.me);
  ctx.setUser(me);
  const error = errorBox("password-error");
  const current = field({ label: "Current password", id: "password-current", type: "password", autocomplete: "current-password", required: true });
  const next = field({
    label: "New password",
    id: "password-new",
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: "12",
    help: "At least 12 characters.",
  });
  const confirm = field({ label: "Confirm new password", id: "password-confirm", type: "password", autocomplete: "new-password", required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "password-submit" }, "Change password");
  const form = h(
    "form",
    { class: "form", id: "password-form", novalidate: true },
    // For password managers: which account this password belongs to.
    h("input", { type: "text", name: "username", autocomplete: "username", value: me.username, readonly: true, hidden: true, tabindex: "-1", "aria-hidden": "true" }),
    current,
    next,
    confirm,
    h("p", { class: "help" }, "Changing your password signs you out everywhere, this browser included."),
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    if (!current.control.value) return showError(error, { message: "Enter your current password." });
    if (next.control.value.length < 12) return showError(error, { message: "The new password must be at least 12 characters." });
    if (next.control.value !== confirm.control.value) {
      confirm.control.focus();
      return showError(error, { message: "The new password and its confirmation differ." });
    }
    const restore = busy(submit, "Changing…");
    try {
      await api.post(paths.password, { current_password: current.control.value, new_password: next.control.value });
      for (const f of [current, next, confirm]) f.control.value = "";
      ctx.signedOut("Your password was changed and every session was signed out. Sign in with your new password.");
    } catch (err) {
      restore();
      if (!(err instanceof ApiError && err.code === "session_ended")) showError(error, err);
    }
  });
  replace(
    ctx.root,
    h("h1", {}, "Your account"),
    h(
      "section",
      { class: "card", "aria-labelledby": "account-heading" },
      h("h2", { id: "account-heading" }, "Signed in as"),
      h(
        "dl",
        { class: "facts", "data-test": "account-facts" },
        h("dt", {}, "Username"),
        h("dd", { id: "account-username" }, me.username),
        h("dt", {}, "Role"),
        h("dd", {}, me.is_admin ? "Instance administrator" : "User"),
        h("dt", {}, "Account created"),
        h("dd", {}, timeEl(me.created_at)),
        h("dt", {}, "User ID"),
        h("dd", { class: "mono" }, me.id),
      ),
    ),
    h("section", { class: "card", "aria-labelledby": "password-heading" }, h("h2", { id: "password-heading" }, "Change password"), form),
  );
}

// Start-up.

function start() {
  document.getElementById("logout-button").addEventListener("click", () => {
    signOut();
  });
  document.getElementById("skip-link").addEventListener("click", (event) => {
    // The hash is the router's: move focus without touching it.
    event.preventDefault();
    const main = document.getElementById("main");
    main.focus();
    main.scrollIntoView();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/") || location.hash === "") render();
  });
  api
    .get(paths.me)
    .then((me) => {
      state.user = me;
    })
    .catch((error) => {
      if (!(error instanceof ApiError) || error.code !== "session_ended") {
        if (error instanceof ApiError && error.status !== 401) toast(error.message, "error");
      }
    })
    .finally(() => {
      booting = false;
      updateShell();
      if (!location.hash.startsWith("#/")) history.replaceState(null, "", state.user ? "#/workspaces" : "#/login");
      render();
    });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
