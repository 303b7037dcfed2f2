// The 15 slots at a glance: what each runs, its last result, how it has been doing, and the
// URL a photobooth posts to.
import { can, get, loadApiImages } from "../api.js";
import { t } from "../i18n.js";
import { ago, html, label, percent, render, wireCopyButtons } from "../ui.js";

const WINDOW_MINUTES = 24 * 60;

export async function show(main) {
  const [slots, overview] = await Promise.all([
    get("/api/slots"),
    can("stats:read") ? get(`/api/stats/overview?minutes=${WINDOW_MINUTES}&buckets=1`) : null,
  ]);
  const statsBySlot = new Map((overview ? overview.slots : []).map((s) => [s.slot_id, s]));
  const active = slots.items.filter((s) => s.is_active).length;
  render(main, html`
    <h1>${t("dashboard.title")}</h1>
    <p class="muted">${t("dashboard.summary", { count: slots.items.length, active })}</p>
    <ul class="slot-grid" aria-label="${t("dashboard.slots")}">
      ${slots.items.map((slot) => card(slot, statsBySlot.get(slot.id)))}
    </ul>`);
  wireCopyButtons(main);
  loadApiImages(main);
}

function card(slot, stats) {
  const last = slot.recent_results.find((r) => !r.expired);
  const ingestUrl = `${location.origin}/ingest/${slot.id}`;
  const inputId = `ingest-${slot.id}`;
  return html`
    <li class="slot-card card" data-slot="${slot.id}">
      <div class="slot-card-head">
        <h2><a href="#/slots/${slot.id}">${slot.name}</a></h2>
        <span class="badge ${slot.is_active ? "badge-on" : "badge-off"}">${slot.is_active ? t("slot.active") : t("slot.inactive")}</span>
      </div>
      <p class="slot-id muted">${slot.id} · ${label(slot.provider)} · ${label(slot.operation)}</p>
      <div class="thumb">
        ${last
          ? html`<img data-api-src="/api/jobs/${last.job_id}/images/result" alt="${t("dashboard.last_result_of", { name: slot.name })}" width="160" height="120">`
          : html`<span class="muted">${t("dashboard.no_result")}</span>`}
      </div>
      <dl class="facts">
        <div><dt>${t("stats.success_rate")}</dt><dd>${stats ? percent(stats.success_rate) : "—"}${stats && stats.finalized ? html` <span class="muted">(${t("common.jobs_count", { count: stats.finalized })})</span>` : ""}</dd></div>
        <div><dt>${t("stats.last_success")}</dt><dd>${stats && stats.last_success ? html`<a href="#/jobs/${stats.last_success.job_id}">${ago(stats.last_success.at)}</a>` : t("common.never")}</dd></div>
        <div><dt>${t("stats.last_error")}</dt><dd>${stats && stats.last_error
          ? html`<a href="#/jobs/${stats.last_error.job_id}">${ago(stats.last_error.at)}</a> <code>${stats.last_error.error_code || stats.last_error.outcome}</code>`
          : t("common.none")}</dd></div>
      </dl>
      <div class="copy-row">
        <label for="${inputId}">${t("dashboard.ingest_url")}</label>
        <div class="input-with-button">
          <input id="${inputId}" value="${ingestUrl}" readonly>
          <button type="button" class="secondary" data-copy="${inputId}" aria-label="${t("dashboard.copy_url_of", { name: slot.name })}">${t("copy.button")}</button>
        </div>
      </div>
    </li>`;
}
