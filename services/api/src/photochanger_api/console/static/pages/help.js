// How the console is used: one short section per task, in the console's language.
import { t } from "../i18n.js";
import { html, render } from "../ui.js";

// each topic: a heading and its paragraphs, "help.<topic>.title" and "help.<topic>.<n>"
export const TOPICS = {
  booths: 2,
  slots: 2,
  test_runs: 1,
  jobs: 2,
  statistics: 1,
  gallery: 1,
  password: 1,
  session: 2,
  language: 1,
};

export async function show(main) {
  render(main, html`
    <h1>${t("help.title")}</h1>
    <div class="card help">
      ${Object.entries(TOPICS).map(([topic, count]) => html`
        <section aria-labelledby="help-${topic}">
          <h2 id="help-${topic}">${t(`help.${topic}.title`)}</h2>
          ${Array.from({ length: count }, (_, i) => html`<p>${t(`help.${topic}.${i + 1}`)}</p>`)}
        </section>`)}
    </div>`);
}
