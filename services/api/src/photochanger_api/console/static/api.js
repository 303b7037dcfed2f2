// The JSON admin API, with the session's token kept in memory only (never in storage or a
// cookie): a reload or a new tab asks for the password again.

let session = null; // {token, username, permissions, expiresAt}
const listeners = new Set();

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
  session = null;
  for (const listener of listeners) listener(reason);
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
  session = {
    token: body.access_token,
    username,
    permissions: body.permissions || [],
    expiresAt: Date.now() + body.expires_in * 1000,
  };
  return session;
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
