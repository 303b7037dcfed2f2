// The console's shell: sign-in, navigation between pages (hash routes), and the session.
import { ApiError, currentSession, endSession, login, onSessionEnd, resumeSession } from "./api.js";
import { formatTime, language, onLanguageChange, startLanguage, switchLanguage, t } from "./i18n.js";
import { announce, html, problemText, render } from "./ui.js";

const pages = {
  dashboard: () => import("./pages/dashboard.js"),
  slot: () => import("./pages/slot.js"),
  settings: () => import("./pages/settings.js"),
  jobs: () => import("./pages/jobs.js"),
  job: () => import("./pages/job.js"),
  stats: () => import("./pages/stats.js"),
  gallery: () => import("./pages/gallery.js"),
  help: () => import("./pages/help.js"),
  keys: () => import("./pages/keys.js"),
};

const main = document.getElementById("main");
let visit = 0; // bumps on every navigation: a page's timers stop when it is no longer shown
let cleanups = [];
let loginNotice = ""; // a dictionary key

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
    render(main, html`<h1 tabindex="-1">${t("shell.not_found")}</h1><p><a href="#/">${t("shell.back_to_dashboard")}</a></p>`);
    focusHeading();
    return;
  }
  const context = {
    alive: () => visit === mine,
    onLeave: (cleanup) => cleanups.push(cleanup),
    navigate,
  };
  render(main, html`<p class="loading" role="status">${t("common.loading")}</p>`);
  try {
    const module = await pages[target.page]();
    if (!context.alive()) return;
    await module.show(main, target, context);
    if (context.alive()) focusHeading();
  } catch (error) {
    if (!context.alive()) return;
    if (error instanceof ApiError && error.status === 401) return; // back at the sign-in form
    render(main, html`<h1 tabindex="-1">${t("shell.failed")}</h1>
      <p class="alert" role="alert">${error instanceof ApiError ? problemText(error) : error.message || String(error)}</p>
      <p><button type="button" id="retry">${t("shell.retry")}</button></p>`);
    main.querySelector("#retry").addEventListener("click", route);
    focusHeading();
  }
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
    document.title = `${heading.textContent.trim()} · ${t("shell.title")}`;
  }
}

function showShell(page) {
  document.getElementById("topbar").hidden = false;
  document.getElementById("who").textContent = t("shell.signed_in_as", { name: currentSession().username });
  const section = page === "slot" ? "dashboard" : page === "job" ? "jobs" : page;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showLogin() {
  document.getElementById("topbar").hidden = true;
  document.title = `${t("login.submit")} · ${t("shell.title")}`;
  render(main, html`
    <section class="login card" aria-labelledby="login-title">
      <h1 id="login-title">${t("shell.title")}</h1>
      <p class="muted">${t("login.intro")}</p>
      ${loginNotice ? html`<p class="notice" role="status">${t(loginNotice)}</p>` : ""}
      <form id="login-form" novalidate>
        <div class="field">
          <label for="login-username">${t("login.username")}</label>
          <input id="login-username" name="username" autocomplete="username" required
                 autocapitalize="none" spellcheck="false">
        </div>
        <div class="field">
          <label for="login-password">${t("login.password")}</label>
          <input id="login-password" name="password" type="password" required
                 autocomplete="current-password">
        </div>
        <p class="alert" id="login-error" role="alert" hidden></p>
        <button type="submit" id="login-submit">${t("login.submit")}</button>
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
      error.textContent = t("login.enter_both");
      error.hidden = false;
      (username ? form.password : form.username).focus();
      return;
    }
    const submit = main.querySelector("#login-submit");
    submit.disabled = true;
    submit.textContent = t("login.signing_in");
    try {
      await login(username, password);
      loginNotice = "";
      announce(t("shell.signed_in_as", { name: username }));
      route();
    } catch (exc) {
      error.textContent = loginMessage(exc);
      error.hidden = false;
      form.password.value = "";
      form.password.focus();
      submit.disabled = false;
      submit.textContent = t("login.submit");
    }
  });
}

function loginMessage(exc) {
  if (!(exc instanceof ApiError)) return t("login.failed");
  if (exc.status === 401) return t("login.wrong");
  if (exc.status === 429) {
    const seconds = Number(exc.details.retry_after_seconds || exc.headers?.get("retry-after") || 0);
    const minutes = Math.max(1, Math.ceil(seconds / 60));
    const until = formatTime(new Date(Date.now() + seconds * 1000));
    return t("login.locked", { count: minutes, until });
  }
  if (exc.status === 0) return t("error.network");
  if (exc.status === 422) return t("login.enter_both");
  return t("login.failed_because", { reason: problemText(exc) });
}

onSessionEnd((reason) => {
  visit += 1; // the page that was shown stops its timers
  for (const cleanup of cleanups.splice(0)) cleanup();
  loginNotice = { expired: "login.session_ended", idle: "login.idle", "signed-out": "login.signed_out" }[reason] || "";
  showLogin();
});

document.getElementById("logout").addEventListener("click", () => {
  endSession("signed-out"); // shows the sign-in form
  announce(t("login.signed_out"));
});

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  const heading = main.querySelector("h1");
  (heading || main).focus();
});

// the language switch: kept by the browser, applied at once to the page shown
const languageSelect = document.getElementById("language");
onLanguageChange(() => {
  languageSelect.value = language();
  if (currentSession()) route();
  else showLogin();
});
languageSelect.addEventListener("change", () => switchLanguage(languageSelect.value));

window.addEventListener("hashchange", route);
await startLanguage();
languageSelect.value = language();
await resumeSession(); // signed in still, after a reload or in a new tab
route();
