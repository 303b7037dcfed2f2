// The JSON admin API. The bearer token lives in memory only (never in storage); what keeps
// the operator signed in across a reload is the session cookie (HttpOnly, SameSite=Strict,
// sent only to /api/session) that `resumeSession()` trades for a new token, with the CSRF
// token the page reads from its own cookie (ADR-0013, admin/sessions.py). Without input for
// the session's idle timeout the console signs out.

let session = null; // {token, username, permissions, expiresAt, idleSeconds}
const listeners = new Set();
const CSRF_COOKIE = "photochanger_csrf";
let lastInput = Date.now();
let lastRefresh = Date.now();
let refreshing = null; // the refresh in flight, shared by every caller
let idleTimer = null;

import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body, headers) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.details = error.details || {};
    this.headers = headers;
  }
  get problems() {
    return Array.isArray(this.details.problems) ? this.details.problems : [];
  }
}

export function currentSession() {
  return session;
}

export function can(permission) {
  return !!session && session.permissions.includes(permission);
}

export function onSessionEnd(listener) {
  listeners.add(listener);
}

export function endSession(reason) {
  const hadSession = session !== null;
  session = null;
  if (idleTimer) clearInterval(idleTimer);
  idleTimer = null;
  if (hadSession || reason === "signed-out") endServerSession();
  for (const listener of listeners) listener(reason);
}

function csrfToken() {
  const found = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return found ? decodeURIComponent(found.slice(CSRF_COOKIE.length + 1)) : null;
}

function sessionPost(path, headers = {}) {
  return fetch(path, {
    method: "POST",
    headers: { Accept: "application/json", ...headers },
    credentials: "same-origin", // the session cookie goes only to /api/session
    cache: "no-store",
  });
}

async function endServerSession() {
  const csrf = csrfToken();
  if (!csrf) return;
  try {
    await sessionPost("/api/session/end", { "X-CSRF-Token": csrf });
  } catch {
    // offline: the session lapses on the server by itself
  }
}

function adopt(body) {
  session = {
    token: body.access_token,
    username: body.username,
    permissions: body.permissions || [],
    expiresAt: Date.now() + body.expires_in * 1000,
    idleSeconds: body.idle_seconds || 1800,
  };
  lastRefresh = Date.now();
  watchIdle();
  return session;
}

// Sign out after the session's idle timeout without input; while the operator works, keep the
// server's idle timeout moving and the token fresh.
function watchIdle() {
  if (idleTimer) clearInterval(idleTimer);
  idleTimer = setInterval(() => {
    if (!session) return;
    const now = Date.now();
    if (now - lastInput >= session.idleSeconds * 1000) {
      endSession("idle");
      return;
    }
    const halfIdle = (session.idleSeconds * 1000) / 2;
    const nearExpiry = session.expiresAt - now < 120_000;
    if (csrfToken() && (now - lastRefresh > halfIdle || nearExpiry)) resumeSession();
  }, 15_000);
}

for (const event of ["pointerdown", "keydown", "wheel", "touchstart"]) {
  window.addEventListener(event, () => {
    lastInput = Date.now();
  }, { passive: true, capture: true });
}

// A bearer token for the session cookie (after a reload, or to renew one); null when there
// is no session to resume. Concurrent callers share one request.
export function resumeSession() {
  if (refreshing) return refreshing;
  const csrf = csrfToken();
  if (!csrf) return Promise.resolve(null);
  refreshing = (async () => {
    try {
      const response = await sessionPost("/api/session/refresh", { "X-CSRF-Token": csrf });
      if (!response.ok) return null;
      lastInput = Math.max(lastInput, Date.now() - 1); // a reload is the operator's doing
      return adopt(await response.json());
    } catch {
      return null;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function login(username, password) {
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username, password }),
    credentials: "omit",
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body, response.headers);
  lastInput = Date.now();
  // keep the operator signed in across reloads: a session cookie for this token
  try {
    const started = await sessionPost("/api/session/start", { Authorization: `Bearer ${body.access_token}` });
    if (started.ok) return adopt(await started.json());
  } catch {
    // signed in for this page only
  }
  return adopt({ ...body, username });
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return null;
}

// Any call: `options.json` is sent as JSON, `options.form` as multipart; answers parsed JSON,
// or the Response itself with `options.raw`. 401 ends the session.
export async function request(method, path, options = {}) {
  if (!session) {
    throw new ApiError(401, { error: { code: "unauthorized", message: "not signed in" } });
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${session.token}` };
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  Object.assign(headers, options.headers || {});
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, { error: { code: "network", message: "the server cannot be reached" } });
  }
  if (response.status === 401) {
    // the token lapsed (or the password changed): the session cookie may get a new one
    const sent = headers.Authorization;
    if (!options.retried && session && (await resumeSession()) && session && `Bearer ${session.token}` !== sent) {
      return request(method, path, { ...options, retried: true });
    }
    endSession("expired");
    throw new ApiError(401, await readBody(response), response.headers);
  }
  if (!response.ok) throw new ApiError(response.status, await readBody(response), response.headers);
  if (options.raw) return response;
  if (response.status === 204) return null;
  const data = await readBody(response);
  if (options.withEtag) return { data, etag: response.headers.get("etag") };
  return data;
}

export const get = (path, options) => request("GET", path, options);

// An image behind the token, as an object URL for an <img> (revoked by the caller's page).
export async function imageUrl(path) {
  const response = await request("GET", path, { raw: true, headers: { Accept: "image/*" } });
  return URL.createObjectURL(await response.blob());
}

// Images behind the token in a rendered page: every <img data-api-src="/api/..."> gets its
// picture once it comes near the viewport (the page shows many), and every
// <a data-api-download="/api/..."> downloads its file when clicked.
export function loadApiImages(root) {
  const load = async (img) => {
    try {
      const url = await imageUrl(img.dataset.apiSrc);
      img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      img.src = url;
    } catch {
      img.replaceWith(Object.assign(document.createElement("span"), {
        className: "muted", textContent: t("common.gone"),
      }));
    }
  };
  const images = [...root.querySelectorAll("img[data-api-src]")];
  if ("IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        load(entry.target);
      }
    }, { rootMargin: "200px" });
    images.forEach((img) => observer.observe(img));
  } else {
    images.forEach(load);
  }
  for (const link of root.querySelectorAll("a[data-api-download]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const url = await imageUrl(link.dataset.apiDownload);
      const save = Object.assign(document.createElement("a"), { href: url, download: link.dataset.filename || "" });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);  // after the browser took it
    });
  }
}
