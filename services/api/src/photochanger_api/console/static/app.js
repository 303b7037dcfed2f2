// The console's shell: sign-in, navigation between pages (hash routes), and the session.
import { ApiError, currentSession, endSession, login, onSessionEnd } from "./api.js";
import { announce, html, render } from "./ui.js";

const pages = {
  dashboard: () => import("./pages/dashboard.js"),
  slot: () => import("./pages/slot.js"),
  settings: () => import("./pages/settings.js"),
  jobs: () => import("./pages/jobs.js"),
  job: () => import("./pages/job.js"),
  stats: () => import("./pages/stats.js"),
  gallery: () => import("./pages/gallery.js"),
};

const main = document.getElementById("main");
let visit = 0; // bumps on every navigation: a page's timers stop when it is no longer shown
let cleanups = [];
let loginNotice = "";

function parse(hash) {
  const [path, query] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) return { page: "dashboard", params };
  if (parts[0] === "slots" && parts[1]) return { page: "slot", id: decodeURIComponent(parts[1]), params };
  if (parts[0] === "jobs" && parts[1]) return { page: "job", id: decodeURIComponent(parts[1]), params };
  if (pages[parts[0]]) return { page: parts[0], params };
  return { page: "missing", params };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (location.hash && !location.hash.startsWith("#/")) return; // e.g. the skip link
  visit += 1;
  const mine = visit;
  for (const cleanup of cleanups.splice(0)) cleanup();
  const target = parse(location.hash || "#/");
  if (!currentSession()) {
    showLogin();
    return;
  }
  showShell(target.page);
  if (target.page === "missing") {
    render(main, html`<h1 tabindex="-1">Page not found</h1><p><a href="#/">Back to the dashboard</a></p>`);
    focusHeading();
    return;
  }
  const context = {
    alive: () => visit === mine,
    onLeave: (cleanup) => cleanups.push(cleanup),
    navigate,
  };
  render(main, html`<p class="loading" role="status">Loading…</p>`);
  try {
    const module = await pages[target.page]();
    if (!context.alive()) return;
    await module.show(main, target, context);
    if (context.alive()) focusHeading();
  } catch (error) {
    if (!context.alive()) return;
    if (error instanceof ApiError && error.status === 401) return; // back at the sign-in form
    render(main, html`<h1 tabindex="-1">Something went wrong</h1>
      <p class="alert" role="alert">${error.message || String(error)}</p>
      <p><button type="button" id="retry">Try again</button></p>`);
    main.querySelector("#retry").addEventListener("click", route);
    focusHeading();
  }
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
    document.title = `${heading.textContent.trim()} · PhotoChanger console`;
  }
}

function showShell(page) {
  document.getElementById("topbar").hidden = false;
  document.getElementById("who").textContent = `Signed in as ${currentSession().username}`;
  const section = page === "slot" ? "dashboard" : page === "job" ? "jobs" : page;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showLogin() {
  document.getElementById("topbar").hidden = true;
  document.title = "Sign in · PhotoChanger console";
  render(main, html`
    <section class="login card" aria-labelledby="login-title">
      <h1 id="login-title">PhotoChanger console</h1>
      <p class="muted">Sign in with your admin account.</p>
      ${loginNotice ? html`<p class="notice" role="status">${loginNotice}</p>` : ""}
      <form id="login-form" novalidate>
        <div class="field">
          <label for="login-username">User name</label>
          <input id="login-username" name="username" autocomplete="username" required
                 autocapitalize="none" spellcheck="false">
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input id="login-password" name="password" type="password" required
                 autocomplete="current-password">
        </div>
        <p class="alert" id="login-error" role="alert" hidden></p>
        <button type="submit" id="login-submit">Sign in</button>
      </form>
    </section>`);
  const form = main.querySelector("#login-form");
  const error = main.querySelector("#login-error");
  main.querySelector("#login-username").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    error.hidden = true;
    if (!username || !password) {
      error.textContent = "Enter your user name and password.";
      error.hidden = false;
      (username ? form.password : form.username).focus();
      return;
    }
    const submit = main.querySelector("#login-submit");
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await login(username, password);
      loginNotice = "";
      announce(`Signed in as ${username}`);
      route();
    } catch (exc) {
      error.textContent = loginMessage(exc);
      error.hidden = false;
      form.password.value = "";
      form.password.focus();
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
}

function loginMessage(exc) {
  if (!(exc instanceof ApiError)) return "Signing in failed. Try again.";
  if (exc.status === 401) return "Unknown user name or wrong password.";
  if (exc.status === 429) {
    const seconds = Number(exc.details.retry_after_seconds || exc.headers?.get("retry-after") || 0);
    const minutes = Math.max(1, Math.ceil(seconds / 60));
    const until = new Date(Date.now() + seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return `Too many failed sign-ins: signing in is locked for about ${minutes} minute${minutes === 1 ? "" : "s"} (until ${until}). Wait, then try again.`;
  }
  if (exc.status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (exc.status === 422) return "Enter your user name and password.";
  return `Signing in failed: ${exc.message}`;
}

onSessionEnd((reason) => {
  visit += 1; // the page that was shown stops its timers
  for (const cleanup of cleanups.splice(0)) cleanup();
  loginNotice = reason === "expired" ? "Your session has ended. Sign in again to continue." : "";
  showLogin();
});

document.getElementById("logout").addEventListener("click", () => {
  endSession("signed-out");
  loginNotice = "You are signed out.";
  showLogin();
  announce("Signed out");
});

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  const heading = main.querySelector("h1");
  (heading || main).focus();
});

window.addEventListener("hashchange", route);
route();
