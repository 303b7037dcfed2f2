// Platform settings: the deadline and retention, the ingest password (write-only) and the
// provider keys (write-only). Every change is one PUT with the settings' ETag.
import { ApiError, can, get, request } from "../api.js";
import { t } from "../i18n.js";
import { announce, clearProblems, errorSlot, html, label, problemText, render, showProblems, when } from "../ui.js";

// the API's minimum (ApiSettings: MIN_INGEST_PASSWORD_LENGTH), as the booths it replaces use
const MIN_PASSWORD = 8;

// How hard the password is to guess, as a hint (the API only enforces the length): "short",
// "weak", "fair" or "strong" by its length and the kinds of characters it mixes.
export function passwordStrength(value) {
  if (value.length < MIN_PASSWORD) return "short";
  const kinds = [/[a-zа-яё]/, /[A-ZА-ЯЁ]/, /[0-9]/, /[^a-zA-Zа-яёА-ЯЁ0-9]/].filter((re) => re.test(value)).length;
  const repetitive = new Set(value).size <= Math.ceil(value.length / 3);
  if (repetitive) return "weak";
  if (value.length >= 16 || (value.length >= 12 && kinds >= 3)) return "strong";
  if (value.length >= 10 || kinds >= 3) return "fair";
  return "weak";
}

// Each provider's fleet-wide circuit breaker, budget use and spend today (GET
// /api/providers/health, written by the provider's admission owner among the dispatchers).
async function fillHealth(main) {
  const list = main.querySelector("#provider-health");
  if (!list) return;
  let health;
  try {
    health = await get("/api/providers/health");
  } catch {
    render(list, html`<li class="alert">${t("common.load_failed")}</li>`);
    return;
  }
  const money = (value) => Number(value).toFixed(2);
  render(list, html`${health.items.map((p) => html`
    <li class="health-row" data-provider="${p.id}">
      <h3>${label(p.id)}</h3>
      <p><span class="badge badge-breaker-${p.breaker}" data-breaker="${p.breaker}">${t(`health.breaker_${p.breaker}`)}</span>
        ${p.breaker !== "closed" && p.retry_at ? html`<span class="muted">${t("health.retry_at", { at: when(p.retry_at) })}</span>` : ""}</p>
      <p class="health-budget">${t("health.budget", { used: p.grants_last_minute, rpm: p.requests_per_minute, running: p.in_flight, at_once: p.max_concurrent_jobs })}</p>
      <p class="health-spend">${p.daily_spend_cap
        ? t("health.spend_capped", { spend: money(p.spend_today), cap: money(p.daily_spend_cap) })
        : t("health.spend", { spend: money(p.spend_today) })}</p>
      ${p.reported_at ? "" : html`<p class="muted">${t("health.not_reported")}</p>`}
    </li>`)}`);
}

export async function show(main, target, context) {
  const loaded = await get("/api/settings", { withEtag: true });
  draw(main, loaded.data, loaded.etag, context);
}

function draw(main, settings, etag, context, notice = "") {
  const writable = can("settings:write");
  const password = settings.ingest_password;
  render(main, html`
    <h1>${t("settings.title")}</h1>
    <p class="muted">${settings.updated_by
      ? t("settings.version_changed", { version: settings.version, name: settings.updated_by, at: when(settings.updated_at) })
      : t("settings.version", { version: settings.version })} ${t("settings.apply_next")}</p>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
    <form class="card" id="deadline-form" novalidate>
      <h2>${t("settings.deadline_title")}</h2>
      <div class="alert" id="deadline-problems" role="alert" hidden></div>
      <div class="grid-2">
        <div class="field" data-field="sync_response_seconds">
          <label for="f-sync">${t("settings.sync_label")}</label>
          <input type="number" id="f-sync" name="sync_response_seconds" min="45" max="60" step="1"
                 value="${settings.sync_response_seconds}" aria-describedby="h-sync e-sync" required>
          <p class="hint" id="h-sync">${t("settings.sync_hint")}</p>
          ${errorSlot("sync_response_seconds", "e-sync")}
        </div>
        <div class="field" data-field="result_ttl_hours">
          <label for="f-ttl">${t("settings.ttl_label")}</label>
          <input type="number" id="f-ttl" name="result_ttl_hours" min="1" max="720" step="any"
                 value="${settings.result_ttl_hours}" aria-describedby="h-ttl e-ttl" required>
          <p class="hint" id="h-ttl">${t("settings.ttl_hint")}</p>
          ${errorSlot("result_ttl_hours", "e-ttl")}
        </div>
      </div>
      <button type="submit" ${writable ? "" : "disabled"}>${t("settings.deadline_save")}</button>
    </form>
    <form class="card" id="password-form" novalidate>
      <h2>${t("settings.password_title")}</h2>
      <p id="password-state">${password.is_set
        ? t("settings.password_set", { name: password.updated_by, at: when(password.updated_at) })
        : t("settings.password_unset")}</p>
      <div class="alert" id="password-problems" role="alert" hidden></div>
      <div class="grid-2">
        <div class="field" data-field="ingest_password">
          <label for="f-password">${t("settings.password_new")}</label>
          <input type="password" id="f-password" name="ingest_password" autocomplete="new-password"
                 minlength="8" aria-describedby="h-password e-password" required>
          <p class="hint" id="h-password">${t("settings.password_hint")}</p>
          <p class="strength" id="password-strength" aria-live="polite"></p>
          ${errorSlot("ingest_password", "e-password")}
        </div>
        <div class="field" data-field="confirm">
          <label for="f-confirm">${t("settings.password_repeat")}</label>
          <input type="password" id="f-confirm" name="confirm" autocomplete="new-password" aria-describedby="e-confirm" required>
          ${errorSlot("confirm", "e-confirm")}
        </div>
      </div>
      <button type="submit" ${writable ? "" : "disabled"}>${t("settings.password_rotate")}</button>
    </form>
    <section class="card" aria-labelledby="keys-title">
      <h2 id="keys-title">${t("settings.keys_title")}</h2>
      <p class="muted">${t("settings.keys_intro")}</p>
      <div class="alert" id="keys-problems" role="alert" hidden></div>
      <ul class="key-list">
      ${Object.entries(settings.provider_keys).map(([provider, state]) => html`
        <li class="key-row" data-provider="${provider}">
          <form class="key-form" data-provider="${provider}" novalidate>
            <h3>${label(provider)}</h3>
            <p class="key-state">${state.configured
              ? html`<span class="badge badge-on">${t("settings.key_set")}</span> ${state.source === "settings" ? t("settings.key_from_console", { name: state.updated_by, at: when(state.updated_at) }) : t("settings.key_from_env")}`
              : html`<span class="badge badge-off">${t("settings.key_unset")}</span>`}
              ${state.replicas ? html`<span class="key-replicas">${t("settings.key_replicas", { with: state.replicas_with_key, total: state.replicas })}</span>` : ""}</p>
            <div class="field" data-field="provider_keys.${provider}">
              <label for="key-${provider}">${t("settings.key_new", { provider: label(provider) })}</label>
              <div class="input-with-button">
                <input type="password" id="key-${provider}" name="key" autocomplete="off" spellcheck="false" aria-describedby="e-key-${provider}">
                <button type="submit" ${writable ? "" : "disabled"}>${t("settings.key_save")}</button>
              </div>
              ${errorSlot(`provider_keys.${provider}`, `e-key-${provider}`)}
            </div>
            ${state.source === "settings" ? html`<button type="button" class="secondary key-remove" data-provider="${provider}" ${writable ? "" : "disabled"}>${t("settings.key_remove")}</button>` : ""}
          </form>
        </li>`)}
      </ul>
    </section>
    <section class="card" aria-labelledby="health-title">
      <h2 id="health-title">${t("health.title")}</h2>
      <p class="muted">${t("health.intro")}</p>
      <ul class="health-list" id="provider-health" aria-live="polite"><li class="muted">${t("common.loading")}</li></ul>
    </section>`);
  fillHealth(main);

  async function put(changes, form, summary, done) {
    clearProblems(form, summary);
    try {
      const response = await request("PUT", "/api/settings", { json: changes, headers: { "If-Match": etag }, raw: true });
      const updated = await response.json();
      draw(main, updated, response.headers.get("etag"), context, done);
      announce(done);
      const heading = main.querySelector("h1");
      if (heading) heading.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        showProblems(form, error.problems, summary);
      } else if (error instanceof ApiError && error.status === 412) {
        const latest = await get("/api/settings", { withEtag: true });
        draw(main, latest.data, latest.etag, context,
          t("settings.conflict", { name: latest.data.updated_by, at: when(latest.data.updated_at) }));
      } else {
        summary.hidden = false;
        summary.textContent = problemText(error);
      }
    }
  }

  const deadline = main.querySelector("#deadline-form");
  deadline.addEventListener("submit", (event) => {
    event.preventDefault();
    put(
      { sync_response_seconds: Number(deadline.sync_response_seconds.value), result_ttl_hours: Number(deadline.result_ttl_hours.value) },
      deadline, main.querySelector("#deadline-problems"), t("settings.deadline_saved"),
    );
  });
  const passwordForm = main.querySelector("#password-form");
  const strength = main.querySelector("#password-strength");
  passwordForm.ingest_password.addEventListener("input", () => {
    const value = passwordForm.ingest_password.value;
    const level = value ? passwordStrength(value) : "";
    strength.className = level ? `strength strength-${level === "short" ? "weak" : level}` : "strength";
    strength.textContent = level ? t(`settings.strength_${level}`, { count: MIN_PASSWORD }) : "";
  });
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const summary = main.querySelector("#password-problems");
    const value = passwordForm.ingest_password.value;
    if (value !== passwordForm.confirm.value) {
      showProblems(passwordForm, [{ field: "confirm", message: t("settings.password_differ") }], summary);
      return;
    }
    if (value.length < MIN_PASSWORD) {
      showProblems(passwordForm, [{ field: "ingest_password", message: t("settings.password_short", { count: MIN_PASSWORD }) }], summary);
      return;
    }
    put({ ingest_password: value }, passwordForm, summary, t("settings.password_rotated"));
  });
  for (const form of main.querySelectorAll(".key-form")) {
    const provider = form.dataset.provider;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const summary = main.querySelector("#keys-problems");
      if (!form.key.value.trim()) {
        showProblems(form, [{ field: `provider_keys.${provider}`, message: t("settings.key_enter") }], summary);
        return;
      }
      put({ provider_keys: { [provider]: form.key.value.trim() } }, form, summary, t("settings.key_saved", { provider: label(provider) }));
    });
    const remove = form.querySelector(".key-remove");
    if (remove) {
      remove.addEventListener("click", () =>
        put({ provider_keys: { [provider]: null } }, form, main.querySelector("#keys-problems"), t("settings.key_removed", { provider: label(provider) })));
    }
  }
}
