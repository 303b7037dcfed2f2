// One job: its facts, photo and result while they exist, the processing-log timeline, and
// cancel while it is not final. Refreshes itself until the job is final.
import { ApiError, can, get, imageUrl, request } from "../api.js";
import { t } from "../i18n.js";
import { announce, html, label, ms, outcomeBadge, problemText, render, when } from "../ui.js";

const REFRESH_MS = 1000;

export async function show(main, target, context) {
  const urls = [];
  context.onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  let job = await get(`/api/jobs/${encodeURIComponent(target.id)}`);
  draw(job);
  previews(job);
  refresh(); // not awaited: the page is shown now and follows the job from here

  async function refresh() {
    while (job.status !== "finalized") {
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
      if (!context.alive()) return;
      let next;
      try {
        next = await get(`/api/jobs/${encodeURIComponent(target.id)}`);
      } catch {
        continue; // the next round tries again; a 401 has shown the sign-in form already
      }
      if (!context.alive()) return;
      const changed = next.status !== job.status || next.processing_log.length !== job.processing_log.length;
      job = next;
      if (changed) {
        const focused = document.activeElement && document.activeElement.id;
        const status = main.querySelector("#cancel-status").textContent;
        draw(job);
        main.querySelector("#cancel-status").textContent = status;
        previews(job);
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        if (job.status === "finalized") announce(t("job.ended", { outcome: label(job.outcome) }));
      }
    }
  }

  function draw(job) {
    const final = job.status === "finalized";
    render(main, html`
      <p class="breadcrumb"><a href="#/jobs">${t("jobs.title")}</a> › ${job.id}</p>
      <h1>${t("job.title", { id: job.id.slice(0, 8) })}</h1>
      <div class="card">
        <dl class="facts wide">
          <div><dt>${t("common.state")}</dt><dd id="job-state">${outcomeBadge(job.outcome, job.status)}</dd></div>
          <div><dt>${t("common.slot")}</dt><dd><a href="#/slots/${job.slot_id}">${job.slot_id}</a> (${t("common.version", { version: job.slot_version })})</dd></div>
          <div><dt>${t("common.provider")}</dt><dd>${label(job.provider)} · ${label(job.operation)}</dd></div>
          <div><dt>${t("common.created")}</dt><dd>${when(job.created_at)}</dd></div>
          <div><dt>${t("job.deadline")}</dt><dd>${when(job.expires_at)}</dd></div>
          <div><dt>${t("job.finalized")}</dt><dd>${when(job.finalized_at)}</dd></div>
          <div><dt>${t("job.attempt")}</dt><dd>${job.attempt}</dd></div>
          ${job.error ? html`<div><dt>${t("common.error")}</dt><dd><code>${job.error.code}</code> ${job.error.message}${job.error.provider_status ? ` (${t("job.provider_status", { status: job.error.provider_status })})` : ""}</dd></div>` : ""}
          ${job.result_expires_at ? html`<div><dt>${t("job.result_kept_until")}</dt><dd>${when(job.result_expires_at)}</dd></div>` : ""}
          ${Object.keys(job.metadata || {}).length ? html`<div><dt>${t("job.client_fields")}</dt><dd>${Object.entries(job.metadata).map(([k, v]) => html`<code>${k}=${v}</code> `)}</dd></div>` : ""}
        </dl>
        ${!final && can("jobs:write") ? html`
          <div class="actions" id="cancel-area">
            <button type="button" class="danger" id="cancel-job">${t("job.cancel")}</button>
          </div>` : ""}
        <p id="cancel-status" role="status"></p>
      </div>
      <div class="previews">
        <figure class="card"><figcaption>${t("job.photo")}</figcaption><div class="preview" id="preview-photo"><span class="muted">${final ? t("job.photo_deleted") : t("common.loading")}</span></div></figure>
        <figure class="card"><figcaption>${t("job.result")}</figcaption><div class="preview" id="preview-result"><span class="muted">${job.outcome === "succeeded" ? t("common.loading") : t("job.no_result")}</span></div></figure>
      </div>
      <section class="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">${t("job.log")}</h2>
        <ol class="timeline" id="timeline">
          ${job.processing_log.map((entry) => html`<li>
            <time datetime="${entry.at}">${when(entry.at)}</time>
            <span class="event">${label(entry.event)}</span>
            ${entry.attempt ? html`<span class="muted">${t("job.log_attempt", { attempt: entry.attempt })}</span>` : ""}
            ${entry.duration_ms !== null && entry.duration_ms !== undefined ? html`<span class="muted">${ms(entry.duration_ms)}</span>` : ""}
            ${entry.provider_status ? html`<span>${t("job.log_provider_status")} <code>${entry.provider_status}</code></span>` : ""}
            ${entry.error_code ? html`<code>${entry.error_code}</code>` : ""}
            ${entry.error_message ? html`<span class="error-text">${entry.error_message}</span>` : ""}
          </li>`)}
        </ol>
        ${final ? "" : html`<p class="muted">${t("job.log_grows")}</p>`}
      </section>`);
    const cancel = main.querySelector("#cancel-job");
    if (cancel) cancel.addEventListener("click", () => confirmCancel(job));
  }

  function confirmCancel(job) {
    const area = main.querySelector("#cancel-area");
    render(area, html`<p>${t("job.cancel_question", { id: job.id.slice(0, 8) })}</p>
      <button type="button" class="danger" id="cancel-confirm">${t("job.cancel_yes")}</button>
      <button type="button" class="secondary" id="cancel-keep">${t("job.cancel_keep")}</button>`);
    main.querySelector("#cancel-confirm").focus();
    main.querySelector("#cancel-keep").addEventListener("click", () => draw(job));
    main.querySelector("#cancel-confirm").addEventListener("click", async () => {
      const status = main.querySelector("#cancel-status");
      try {
        await request("POST", `/api/jobs/${job.id}/cancel`);
        area.hidden = true;
        status.textContent = t("job.cancel_requested");
      } catch (error) {
        status.textContent = error instanceof ApiError && error.status === 409
          ? t("job.already_ended")
          : t("job.not_cancelled", { reason: problemText(error) });
      }
    });
  }

  async function previews(job) {
    const final = job.status === "finalized";
    const wanted = [];
    if (!final) wanted.push(["photo", "#preview-photo"]);
    if (job.outcome === "succeeded") wanted.push(["result", "#preview-result"]);
    for (const [which, selector] of wanted) {
      const box = main.querySelector(selector);
      try {
        const url = await imageUrl(`/api/jobs/${job.id}/images/${which}`);
        urls.push(url);
        if (!context.alive()) return;
        render(box, html`<img src="${url}" alt="${which === "photo" ? t("job.photo_alt") : t("job.result_alt")}">`);
      } catch (error) {
        if (!context.alive()) return;
        render(box, html`<span class="muted">${error instanceof ApiError && (error.status === 410 || error.status === 404) ? t("common.gone") : t("common.load_failed")}</span>`);
      }
    }
  }
}
