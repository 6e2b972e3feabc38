// Coffer's fetch wrapper: same-origin cookies, the CSRF header on every state-changing request, one shared
// session refresh on 401, and the API's error body turned into an ApiError whose message is safe to show.
//
// Nothing here logs, stores or keeps a response body: a secret's value passes through to the caller only.

const CSRF_COOKIE = "coffer_csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
// A 401 means "the session is missing or stale" (worth one refresh) unless its code is `invalid_credentials`: a
// wrong password (e.g. the current password on a password change) is an answer about the form, not the session.
const isSessionProblem = (code) => code !== "invalid_credentials";
// Calls that must never trigger a refresh themselves.
const NO_REFRESH = new Set(["/api/auth/login", "/api/auth/refresh"]);

export const SESSION_ENDED_MESSAGE = "Your session has ended; sign in again.";

/** An API failure: `status` (0 when the server could not be reached), the stable `code`, a safe `message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The current value of the `coffer_csrf` cookie, read now (a refresh may have replaced it). */
export function csrfToken() {
  const cookies = document.cookie ? document.cookie.split(";") : [];
  for (const part of cookies) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === CSRF_COOKIE) return part.slice(eq + 1).trim();
  }
  return "";
}

let sessionEndedHandler = null;

/** Called (once per failing call) when the session is gone and could not be refreshed. */
export function onSessionEnded(handler) {
  sessionEndedHandler = handler;
}

function buildURL(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

async function send(method, url, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(url, init);
  } catch {
    throw new ApiError(0, "network_error", "Cannot reach the Coffer server. Check your connection and try again.");
  }
}

/** Reads a response: the JSON body, `null` for 204, or throws the API's error as an ApiError. */
async function read(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  let data = null;
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const detail = data && typeof data === "object" && data.error && typeof data.error === "object" ? data.error : null;
  const code = detail && typeof detail.code === "string" ? detail.code : `http_${response.status}`;
  let message = detail && typeof detail.message === "string" ? detail.message : "";
  if (!message) message = `The server answered ${response.status} ${response.statusText || ""}`.trim() + ".";
  const error = new ApiError(response.status, code, message);
  const retry = response.headers.get("Retry-After");
  if (retry) error.retryAfter = Number(retry);
  throw error;
}

async function errorCode(response) {
  try {
    const data = await response.clone().json();
    return data && data.error && typeof data.error.code === "string" ? data.error.code : "";
  } catch {
    return "";
  }
}

// One refresh at a time in this tab; across tabs, a Web Lock (where the browser has them) so that two tabs never
// present the same single-use refresh token (the server would take that as reuse and end the session).
let refreshing = null;

function refreshOnce(csrfAtSend) {
  if (!refreshing) {
    const run = async () => {
      // Another tab refreshed since our request was sent: its new cookies are ours too.
      if (csrfAtSend && csrfToken() && csrfToken() !== csrfAtSend) return true;
      try {
        const response = await send("POST", "/api/auth/refresh");
        return response.ok;
      } catch {
        return false;
      }
    };
    const locked =
      navigator.locks && typeof navigator.locks.request === "function"
        ? navigator.locks.request("coffer-session-refresh", run)
        : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Makes one API call. `options.body` is sent as JSON; `options.query` becomes the query string (empty values
 * left out). Resolves to the parsed JSON (or `null` for 204); rejects with an ApiError.
 */
export async function request(method, path, options = {}) {
  const url = buildURL(path, options.query);
  const csrfAtSend = csrfToken();
  let response = await send(method, url, options.body);
  if (response.status === 401 && !NO_REFRESH.has(path) && isSessionProblem(await errorCode(response))) {
    const refreshed = await refreshOnce(csrfAtSend);
    if (refreshed) response = await send(method, url, options.body);
    if (!refreshed || (response.status === 401 && isSessionProblem(await errorCode(response)))) {
      if (sessionEndedHandler) sessionEndedHandler();
      throw new ApiError(401, "session_ended", SESSION_ENDED_MESSAGE);
    }
  }
  return read(response);
}

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body, query) => request("POST", path, { body, query }),
  patch: (path, body) => request("PATCH", path, { body }),
  del: (path, query) => request("DELETE", path, { query }),
};

// Paths, so that every page builds them the same way (ids are encoded: they come from the server, but a path
// segment is never trusted to be plain).
const seg = encodeURIComponent;
export const paths = {
  login: "/api/auth/login",
  logout: "/api/auth/logout",
  me: "/api/auth/me",
  password: "/api/auth/password",
  register: "/api/auth/register",
  workspaces: "/api/workspaces",
  members: (ws) => `/api/workspaces/${seg(ws)}/members`,
  member: (ws, user) => `/api/workspaces/${seg(ws)}/members/${seg(user)}`,
  tokens: (ws) => `/api/workspaces/${seg(ws)}/tokens`,
  token: (ws, id) => `/api/workspaces/${seg(ws)}/tokens/${seg(id)}`,
  secrets: (ws) => `/api/secrets/workspaces/${seg(ws)}/secrets`,
  secret: (ws, id) => `/api/secrets/workspaces/${seg(ws)}/secrets/${seg(id)}`,
  secretPart: (ws, id, part) => `/api/secrets/workspaces/${seg(ws)}/secrets/${seg(id)}/${part}`,
  rotationDue: (ws) => `/api/secrets/workspaces/${seg(ws)}/secrets/rotation-due`,
  workspaceAudit: (ws) => `/api/secrets/workspaces/${seg(ws)}/audit`,
  health: "/health",
  encryptionHealth: "/api/secrets/admin/encryption/health",
  rotationStatus: "/api/secrets/admin/encryption/rotation-status",
  rotateKey: "/api/secrets/admin/encryption/rotate-key",
  verifyAudit: "/api/secrets/admin/audit/verify",
};
