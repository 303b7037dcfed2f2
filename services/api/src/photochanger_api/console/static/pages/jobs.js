// Jobs: filter by slot, state, outcome and time; newest first, a page at a time.
import { get } from "../api.js";
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
    <h1>Jobs</h1>
    <form class="card filters" id="job-filters" role="search" aria-label="Filter jobs">
      <div class="field">
        <label for="q-slot">Slot</label>
        <select id="q-slot" name="slot_id"><option value="">All slots</option>
          ${SLOTS.map((s) => html`<option ${s === params.get("slot_id") ? raw("selected") : ""}>${s}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-status">State</label>
        <select id="q-status" name="status"><option value="">Any state</option>
          ${STATUSES.map((s) => html`<option value="${s}" ${s === params.get("status") ? raw("selected") : ""}>${label(s)}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-outcome">Outcome</label>
        <select id="q-outcome" name="outcome"><option value="">Any outcome</option>
          ${OUTCOMES.map((s) => html`<option value="${s}" ${s === params.get("outcome") ? raw("selected") : ""}>${label(s)}</option>`)}</select>
      </div>
      <div class="field">
        <label for="q-from">Created from</label>
        <input type="datetime-local" id="q-from" name="created_from" value="${localInput(params.get("created_from"))}">
      </div>
      <div class="field">
        <label for="q-to">Created before</label>
        <input type="datetime-local" id="q-to" name="created_to" value="${localInput(params.get("created_to"))}">
      </div>
      <div class="field filter-actions">
        <button type="submit">Show jobs</button>
        <a href="#/jobs" class="button secondary">Clear</a>
      </div>
    </form>
    <div class="table-wrap">
      <table class="data" id="jobs-table">
        <caption class="visually-hidden">Jobs, newest first</caption>
        <thead><tr><th scope="col">Created</th><th scope="col">Slot</th><th scope="col">Provider</th>
          <th scope="col">State</th><th scope="col">Error</th><th scope="col">Job</th></tr></thead>
        <tbody id="jobs-rows"></tbody>
      </table>
    </div>
    <p id="jobs-empty" class="muted" hidden>No job matches these filters.</p>
    <p><button type="button" class="secondary" id="jobs-more" hidden>Load more jobs</button></p>`);

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
    <td><a href="#/jobs/${job.id}">Details<span class="visually-hidden"> of job ${job.id}</span></a></td>
  </tr>`;
}
