// Platform settings: the deadline and retention, the ingest password (write-only) and the
// provider keys (write-only). Every change is one PUT with the settings' ETag.
import { ApiError, can, get, request } from "../api.js";
import { announce, clearProblems, errorSlot, html, label, problemText, render, showProblems, when } from "../ui.js";

export async function show(main, target, context) {
  const loaded = await get("/api/settings", { withEtag: true });
  draw(main, loaded.data, loaded.etag, context);
}

function draw(main, settings, etag, context, notice = "") {
  const writable = can("settings:write");
  const password = settings.ingest_password;
  render(main, html`
    <h1>Settings</h1>
    <p class="muted">Version ${settings.version}${settings.updated_by ? `, last changed by ${settings.updated_by} on ${when(settings.updated_at)}` : ""}. Changes apply to the next photo, without restarts.</p>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
    <form class="card" id="deadline-form" novalidate>
      <h2>Deadline and retention</h2>
      <div class="alert" id="deadline-problems" role="alert" hidden></div>
      <div class="grid-2">
        <div class="field" data-field="sync_response_seconds">
          <label for="f-sync">Answer deadline, T_sync_response (seconds)</label>
          <input type="number" id="f-sync" name="sync_response_seconds" min="45" max="60" step="1"
                 value="${settings.sync_response_seconds}" aria-describedby="h-sync e-sync" required>
          <p class="hint" id="h-sync">45–60 s. A photobooth gets its image or a 504 within this time.</p>
          ${errorSlot("sync_response_seconds", "e-sync")}
        </div>
        <div class="field" data-field="result_ttl_hours">
          <label for="f-ttl">Result retention (hours)</label>
          <input type="number" id="f-ttl" name="result_ttl_hours" min="1" max="720" step="any"
                 value="${settings.result_ttl_hours}" aria-describedby="h-ttl e-ttl" required>
          <p class="hint" id="h-ttl">Up to 720 h. Results (and their links) are deleted after this.</p>
          ${errorSlot("result_ttl_hours", "e-ttl")}
        </div>
      </div>
      <button type="submit" ${writable ? "" : "disabled"}>Save deadline and retention</button>
    </form>
    <form class="card" id="password-form" novalidate>
      <h2>Ingest password</h2>
      <p id="password-state">${password.is_set
        ? html`Set by <strong>${password.updated_by}</strong> on ${when(password.updated_at)}.`
        : "Not set: every photobooth upload is refused."}</p>
      <div class="alert" id="password-problems" role="alert" hidden></div>
      <div class="grid-2">
        <div class="field" data-field="ingest_password">
          <label for="f-password">New ingest password</label>
          <input type="password" id="f-password" name="ingest_password" autocomplete="new-password"
                 minlength="8" aria-describedby="h-password e-password" required>
          <p class="hint" id="h-password">At least 8 characters. Photobooths need the new one from the next photo on.</p>
          ${errorSlot("ingest_password", "e-password")}
        </div>
        <div class="field" data-field="confirm">
          <label for="f-confirm">Repeat the new password</label>
          <input type="password" id="f-confirm" name="confirm" autocomplete="new-password" aria-describedby="e-confirm" required>
          ${errorSlot("confirm", "e-confirm")}
        </div>
      </div>
      <button type="submit" ${writable ? "" : "disabled"}>Rotate the ingest password</button>
    </form>
    <section class="card" aria-labelledby="keys-title">
      <h2 id="keys-title">Provider API keys</h2>
      <p class="muted">Keys are write-only: the console shows whether one is set and where it comes from, never the key.</p>
      <div class="alert" id="keys-problems" role="alert" hidden></div>
      <ul class="key-list">
      ${Object.entries(settings.provider_keys).map(([provider, state]) => html`
        <li class="key-row" data-provider="${provider}">
          <form class="key-form" data-provider="${provider}" novalidate>
            <h3>${label(provider)}</h3>
            <p class="key-state">${state.configured
              ? html`<span class="badge badge-on">Set</span> from ${state.source === "settings" ? html`the console by ${state.updated_by} on ${when(state.updated_at)}` : "the environment"}`
              : html`<span class="badge badge-off">Not set</span>`}</p>
            <div class="field" data-field="provider_keys.${provider}">
              <label for="key-${provider}">New ${label(provider)} key</label>
              <div class="input-with-button">
                <input type="password" id="key-${provider}" name="key" autocomplete="off" spellcheck="false" aria-describedby="e-key-${provider}">
                <button type="submit" ${writable ? "" : "disabled"}>Save key</button>
              </div>
              ${errorSlot(`provider_keys.${provider}`, `e-key-${provider}`)}
            </div>
            ${state.source === "settings" ? html`<button type="button" class="secondary key-remove" data-provider="${provider}" ${writable ? "" : "disabled"}>Remove the stored key${state.configured ? "" : ""}</button>` : ""}
          </form>
        </li>`)}
      </ul>
    </section>`);

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
          `The settings were changed by ${latest.data.updated_by} at ${when(latest.data.updated_at)} while you were editing. They are reloaded: apply your change again.`);
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
      deadline, main.querySelector("#deadline-problems"), "Deadline and retention saved.",
    );
  });
  const passwordForm = main.querySelector("#password-form");
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const summary = main.querySelector("#password-problems");
    const value = passwordForm.ingest_password.value;
    if (value !== passwordForm.confirm.value) {
      showProblems(passwordForm, [{ field: "confirm", message: "The two passwords differ." }], summary);
      return;
    }
    if (value.length < 8) {
      showProblems(passwordForm, [{ field: "ingest_password", message: "Use at least 8 characters." }], summary);
      return;
    }
    put({ ingest_password: value }, passwordForm, summary, "The ingest password is rotated: photobooths need the new one now.");
  });
  for (const form of main.querySelectorAll(".key-form")) {
    const provider = form.dataset.provider;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const summary = main.querySelector("#keys-problems");
      if (!form.key.value.trim()) {
        showProblems(form, [{ field: `provider_keys.${provider}`, message: "Enter the key." }], summary);
        return;
      }
      put({ provider_keys: { [provider]: form.key.value.trim() } }, form, summary, `${label(provider)} key saved.`);
    });
    const remove = form.querySelector(".key-remove");
    if (remove) {
      remove.addEventListener("click", () =>
        put({ provider_keys: { [provider]: null } }, form, main.querySelector("#keys-problems"), `${label(provider)} key removed.`));
    }
  }
}
