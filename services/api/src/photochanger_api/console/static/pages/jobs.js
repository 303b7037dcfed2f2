// Jobs: filter by slot, state, outcome and time; newest first, a page at a time.
import { get } from "../api.js";
import { t } from "../i18n.js";
import { html, label, outcomeBadge, raw, render, when } from "../ui.js";

const SLOTS = Array.from({ length: 15 }, (_, i) => `slot-${String(i + 1).padStart(3, "0")}`);
const OUTCOMES = ["succeeded", "timeout", "provider_error", "cancelled"];
const STATUSES = ["pending", "processing", "finalized"];

function localInput(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  const shifted = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

export async function show(main, target, context) {
  const params = target.params;
  const query = new URLSearchParams();
  for (const key of ["slot_id", "status", "outcome", "created_from", "created_to"]) {
    if (params.get(key)) query.set(key, params.get(key));
  }
  query.set("limit", "25");
  render(main, html`
    <h1>${t("jobs.title")}</h1>
    <form class="card filters" id="job-filters" role="search" aria-label="${t("jobs.filter")}">
      <div class="field">
        <label for="q-slot">${t("common.slot")}</label>
        <select id="q-slot" name="slot_id"><option value="">${t("jobs.all_slots")}</option>
          ${SLOTS.map((s) => html`<option ${s === params.get("slot_id") ? raw("selected") : ""}>${s}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-status">${t("common.state")}</label>
        <select id="q-status" name="status"><option value="">${t("jobs.any_state")}</option>
          ${STATUSES.map((s) => html`<option value="${s}" ${s === params.get("status") ? raw("selected") : ""}>${label(s)}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-outcome">${t("common.outcome")}</label>
        <select id="q-outcome" name="outcome"><option value="">${t("jobs.any_outcome")}</option>
          ${OUTCOMES.map((s) => html`<option value="${s}" ${s === params.get("outcome") ? raw("selected") : ""}>${label(s)}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-from">${t("jobs.created_from")}</label>
        <input type="datetime-local" id="q-from" name="created_from" value="${localInput(params.get("created_from"))}">
      </div>
      <div class="field">
        <label for="q-to">${t("jobs.created_before")}</label>
        <input type="datetime-local" id="q-to" name="created_to" value="${localInput(params.get("created_to"))}">
      </div>
      <div class="field filter-actions">
        <button type="submit">${t("jobs.show")}</button>
        <a href="#/jobs" class="button secondary">${t("jobs.clear")}</a>
      </div>
    </form>
    <div class="table-wrap">
      <table class="data" id="jobs-table">
        <caption class="visually-hidden">${t("jobs.caption")}</caption>
        <thead><tr><th scope="col">${t("common.created")}</th><th scope="col">${t("common.slot")}</th><th scope="col">${t("common.provider")}</th>
          <th scope="col">${t("common.state")}</th><th scope="col">${t("common.error")}</th><th scope="col">${t("common.job")}</th></tr></thead>
        <tbody id="jobs-rows"></tbody>
      </table>
    </div>
    <p id="jobs-empty" class="muted" hidden>${t("jobs.empty")}</p>
    <p><button type="button" class="secondary" id="jobs-more" hidden>${t("jobs.more")}</button></p>`);

  const form = main.querySelector("#job-filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const key of ["slot_id", "status", "outcome"]) if (form[key].value) next.set(key, form[key].value);
    for (const key of ["created_from", "created_to"]) {
      if (form[key].value) next.set(key, new Date(form[key].value).toISOString());
    }
    context.navigate(`#/jobs${next.toString() ? `?${next}` : ""}`);
  });

  const rows = main.querySelector("#jobs-rows");
  const more = main.querySelector("#jobs-more");
  let cursor = null;
  async function load() {
    if (cursor) query.set("cursor", cursor);
    const page = await get(`/api/jobs?${query}`);
    if (!context.alive()) return;
    rows.insertAdjacentHTML("beforeend", html`${page.items.map(row)}`.text);
    main.querySelector("#jobs-empty").hidden = rows.children.length > 0;
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", async () => {
    const before = rows.children.length;
    await load();
    const first = rows.children[before];
    if (first) first.querySelector("a").focus();
  });
  await load();
}

function row(job) {
  return html`<tr data-job="${job.id}">
    <td>${when(job.created_at)}</td>
    <td>${job.slot_id}</td>
    <td>${label(job.provider)}</td>
    <td>${outcomeBadge(job.outcome, job.status)}</td>
    <td>${job.error_code ? html`<code>${job.error_code}</code>` : ""}</td>
    <td><a href="#/jobs/${job.id}">${t("jobs.details")}<span class="visually-hidden"> ${t("jobs.details_of", { id: job.id })}</span></a></td>
  </tr>`;
}
