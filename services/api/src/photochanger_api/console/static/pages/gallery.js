// The latest results of every slot: look, download, or hand a guest a link that expires.
import { ApiError, can, get, loadApiImages, request } from "../api.js";
import { t } from "../i18n.js";
import { announce, html, problemText, render, when, wireCopyButtons } from "../ui.js";

export async function show(main) {
  const slots = await get("/api/slots");
  const withResults = slots.items
    .map((slot) => ({ slot, results: slot.recent_results.filter((r) => !r.expired) }))
    .filter((entry) => entry.results.length);
  render(main, html`
    <h1>${t("gallery.title")}</h1>
    <div class="card share-settings">
      <label for="share-minutes">${t("gallery.valid_for")}</label>
      <select id="share-minutes">
        <option value="5">${t("common.minutes", { count: 5 })}</option>
        <option value="15" selected>${t("common.minutes", { count: 15 })}</option>
        <option value="60">${t("common.hours", { count: 1 })}</option>
        <option value="240">${t("common.hours", { count: 4 })}</option>
      </select>
    </div>
    ${withResults.length ? "" : html`<p class="muted">${t("gallery.empty")}</p>`}
    ${withResults.map(({ slot, results }) => html`
      <section class="gallery-slot" aria-labelledby="g-${slot.id}">
        <h2 id="g-${slot.id}">${slot.name} <span class="muted">${slot.id}</span></h2>
        <ul class="gallery-grid">
          ${results.map((r) => html`
            <li class="card gallery-item" data-job="${r.job_id}">
              <img data-api-src="/api/jobs/${r.job_id}/images/result" alt="${t("gallery.result_alt", { name: slot.name, at: when(r.completed_at) })}">
              <p class="muted">${when(r.completed_at)} · ${t("gallery.kept_until", { at: when(r.result_expires_at) })}</p>
              <div class="actions">
                <a class="button secondary" href="#/gallery" data-api-download="/api/jobs/${r.job_id}/result" data-filename="${slot.id}-${r.job_id}">${t("gallery.download")}<span class="visually-hidden"> ${t("gallery.the_result_from", { at: when(r.completed_at) })}</span></a>
                ${can("jobs:read") ? html`<button type="button" class="share" data-job="${r.job_id}">${t("gallery.share")}<span class="visually-hidden"> ${t("gallery.for_the_result_from", { at: when(r.completed_at) })}</span></button>` : ""}
              </div>
              <div class="share-box" id="share-${r.job_id}" hidden></div>
            </li>`)}
        </ul>
      </section>`)}`);

  loadApiImages(main);
  for (const button of main.querySelectorAll("button.share")) {
    button.addEventListener("click", async () => {
      const jobId = button.dataset.job;
      const box = main.querySelector(`#share-${CSS.escape(jobId)}`);
      const minutes = Number(main.querySelector("#share-minutes").value);
      try {
        const link = await request("POST", `/api/jobs/${jobId}/share`, { json: { minutes } });
        const url = link.url.startsWith("http") ? link.url : `${location.origin}${link.path}`;
        const inputId = `share-url-${jobId}`;
        render(box, html`
          <label for="${inputId}">${t("gallery.link_label", { at: when(link.expires_at) })}</label>
          <div class="input-with-button">
            <input id="${inputId}" class="share-url" value="${url}" readonly>
            <button type="button" class="secondary" data-copy="${inputId}">${t("copy.button")}</button>
          </div>`);
        box.hidden = false;
        wireCopyButtons(box);
        box.querySelector("input").focus();
        announce(t("gallery.link_made", { count: minutes }));
      } catch (error) {
        render(box, html`<p class="field-error">${error instanceof ApiError && error.status === 410
          ? t("gallery.expired")
          : t("gallery.no_link", { reason: problemText(error) })}</p>`);
        box.hidden = false;
      }
    });
  }
}
