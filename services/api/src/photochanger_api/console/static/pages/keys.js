// Client keys (one per app or booth): make one — its key and webhook secret are shown once —,
// see each key's slots, rate and usage, revoke it; and the webhook delivery log.
import { can, get, request } from "../api.js";
import { t } from "../i18n.js";
import { announce, html, problemText, render, when, wireCopyButtons } from "../ui.js";

export async function show(main, target, context) {
  const [keys, deliveries] = await Promise.all([
    get("/api/client-keys"),
    can("jobs:read") ? get("/api/webhook-deliveries?limit=50") : Promise.resolve({ items: [] }),
  ]);
  const writable = can("settings:write");
  render(main, html`
    <h1>${t("keys.title")}</h1>
    <p class="muted">${t("keys.intro")}</p>
    <div id="created" aria-live="polite"></div>
    ${writable ? html`<form class="card" id="key-form" novalidate>
      <h2>${t("keys.new")}</h2>
      <div class="field"><label for="key-label">${t("keys.label")}</label>
        <input id="key-label" name="label" required maxlength="120"></div>
      <div class="field"><label for="key-slots">${t("keys.slots")}</label>
        <input id="key-slots" name="slots" placeholder="slot-001, slot-002" aria-describedby="key-slots-hint">
        <p class="hint" id="key-slots-hint">${t("keys.slots_hint")}</p></div>
      <div class="field"><label for="key-rate">${t("keys.rate")}</label>
        <input id="key-rate" name="rate" type="number" min="1" max="10000" value="60"></div>
      <p class="alert" id="key-error" role="alert" hidden></p>
      <button type="submit">${t("keys.create")}</button>
    </form>` : ""}
    <section class="card" aria-labelledby="keys-list">
      <h2 id="keys-list">${t("keys.list")}</h2>
      ${keys.items.length ? html`<div class="table-wrap"><table class="data" id="keys-table">
        <thead><tr><th scope="col">${t("keys.label")}</th><th scope="col">${t("keys.id")}</th>
          <th scope="col">${t("keys.slots")}</th><th scope="col">${t("keys.rate")}</th>
          <th scope="col">${t("keys.usage")}</th><th scope="col">${t("common.created")}</th>
          <th scope="col">${t("common.state")}</th></tr></thead>
        <tbody>${keys.items.map((k) => html`<tr data-key="${k.id}">
          <td>${k.label}</td><td><code>${k.id}</code></td>
          <td>${k.slots.length ? k.slots.join(", ") : t("keys.all_slots")}</td>
          <td>${k.rate_limit_per_minute}</td>
          <td>${t("keys.usage_value", { jobs: k.usage.jobs, succeeded: k.usage.succeeded })}</td>
          <td>${when(k.created_at)}</td>
          <td>${k.revoked_at ? t("keys.revoked_at", { when: when(k.revoked_at) })
            : writable ? html`<button type="button" class="secondary" data-revoke="${k.id}">${t("keys.revoke")}</button>`
            : t("keys.active")}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted" id="no-keys">${t("keys.none")}</p>`}
    </section>
    <section class="card" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">${t("keys.deliveries")}</h2>
      ${deliveries.items.length ? html`<div class="table-wrap"><table class="data" id="deliveries-table">
        <thead><tr><th scope="col">${t("common.job")}</th><th scope="col">${t("keys.id")}</th>
          <th scope="col">${t("keys.url")}</th><th scope="col">${t("common.state")}</th>
          <th scope="col">${t("keys.attempts")}</th><th scope="col">${t("keys.last_answer")}</th></tr></thead>
        <tbody>${deliveries.items.map((d) => {
          const last = d.attempts[d.attempts.length - 1];
          return html`<tr><td><a href="#/jobs/${d.job_id}">${when(d.created_at)}</a></td><td><code>${d.key_id}</code></td>
            <td><code>${d.url}</code></td><td>${t(`keys.delivery_${d.state}`)}</td><td>${d.attempts.length}</td>
            <td>${last ? (last.status_code ? String(last.status_code) : last.error || "—") : "—"}</td></tr>`;
        })}</tbody></table></div>`
        : html`<p class="muted" id="no-deliveries">${t("keys.no_deliveries")}</p>`}
    </section>`);

  for (const button of main.querySelectorAll("[data-revoke]")) {
    button.addEventListener("click", async () => {
      if (!window.confirm(t("keys.revoke_confirm"))) return;
      await request("DELETE", `/api/client-keys/${encodeURIComponent(button.dataset.revoke)}`);
      announce(t("keys.revoked"));
      if (context.alive()) await show(main, target, context);
    });
  }
  const form = main.querySelector("#key-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = main.querySelector("#key-error");
    error.hidden = true;
    const slots = form.slots.value.split(/[\s,]+/).filter(Boolean);
    try {
      const created = await request("POST", "/api/client-keys", {
        json: { label: form.label.value.trim(), slots, rate_limit_per_minute: Number(form.rate.value) || 60 },
      });
      if (!context.alive()) return;
      await show(main, target, context);
      const box = main.querySelector("#created");
      render(box, html`<div class="card notice" id="created-key">
        <h2>${t("keys.created_title", { label: created.label })}</h2>
        <p>${t("keys.shown_once")}</p>
        <div class="field"><label for="new-key">${t("keys.key")}</label>
          <div class="copy-row"><input id="new-key" readonly value="${created.key}">
          <button type="button" class="secondary" data-copy="new-key">${t("copy.button")}</button></div></div>
        <div class="field"><label for="new-secret">${t("keys.webhook_secret")}</label>
          <div class="copy-row"><input id="new-secret" readonly value="${created.webhook_secret}">
          <button type="button" class="secondary" data-copy="new-secret">${t("copy.button")}</button></div></div>
      </div>`);
      wireCopyButtons(box);
      announce(t("keys.created_title", { label: created.label }));
    } catch (exc) {
      error.textContent = problemText(exc);
      error.hidden = false;
    }
  });
}
