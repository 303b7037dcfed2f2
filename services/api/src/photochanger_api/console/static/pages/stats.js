// Statistics over any window up to 30 days: platform cards, final jobs over time, each slot's
// service levels and the latest failures — one request (GET /api/stats/overview).
import { get } from "../api.js";
import { formatDateTime, t } from "../i18n.js";
import { ago, escape, html, label, ms, percent, raw, render, when } from "../ui.js";

const MAX_MINUTES = 30 * 24 * 60;
const UNITS = { minutes: 1, hours: 60, days: 1440 };
const PRESETS = [["minutes", 15, 15], ["hours", 1, 60], ["hours", 24, 1440], ["days", 7, 10080], ["days", 30, 43200]];
const COLOURS = { succeeded: "#15803d", provider_error: "#b91c1c", timeout: "#c2410c", cancelled: "#6b7280" };

function split(minutes) {
  if (minutes % 1440 === 0) return [minutes / 1440, "days"];
  if (minutes % 60 === 0) return [minutes / 60, "hours"];
  return [minutes, "minutes"];
}

export async function show(main, target, context) {
  const minutes = Math.min(MAX_MINUTES, Math.max(1, Number(target.params.get("minutes")) || 60));
  const [amount, unit] = split(minutes);
  const data = await get(`/api/stats/overview?minutes=${minutes}&buckets=24`);
  const totals = data.totals;
  render(main, html`
    <h1>${t("stats.title")}</h1>
    <form class="card window-form" id="window-form" novalidate aria-describedby="window-hint">
      <div class="field">
        <label for="w-amount">${t("stats.window_last")}</label>
        <input type="number" id="w-amount" name="amount" min="1" step="1" value="${amount}" aria-describedby="window-error">
      </div>
      <div class="field">
        <label for="w-unit">${t("stats.unit")}</label>
        <select id="w-unit" name="unit">${Object.keys(UNITS).map((u) => html`<option value="${u}" ${u === unit ? raw("selected") : ""}>${t(`stats.unit_${u}`)}</option>`)}</select>
      </div>
      <div class="field"><button type="submit">${t("stats.show")}</button></div>
      <p class="hint" id="window-hint">${t("stats.window_hint")}</p>
      <p class="field-error" id="window-error" hidden></p>
      <div class="presets" role="group" aria-label="${t("stats.presets")}">
        ${PRESETS.map(([unitName, count, value]) => html`<a class="button secondary" href="#/stats?minutes=${value}" ${value === minutes ? raw('aria-current="true"') : ""}>${t(`common.${unitName}`, { count })}</a>`)}
      </div>
    </form>
    <p class="muted">${t("stats.range", { from: when(data.since), to: when(data.until), seconds: data.deadline_seconds })}
      ${data.truncated ? t("stats.truncated", { count: data.sampled }) : ""}</p>
    <ul class="cards" aria-label="${t("stats.totals")}">
      ${card(t("stats.jobs"), totals.total, t("stats.in_flight", { count: totals.in_flight }))}
      ${card(t("stats.success_rate"), percent(totals.success_rate), t("stats.of_final", { succeeded: totals.by_outcome.succeeded, count: totals.finalized }))}
      ${card(t("stats.p50"), ms(totals.latency.p50_ms), t("stats.photo_to_result"))}
      ${card(t("stats.p95"), ms(totals.latency.p95_ms), t("stats.succeeded_jobs", { count: totals.latency.samples }))}
      ${card(t("stats.timeouts"), totals.by_outcome.timeout, t("stats.timeouts_note"))}
      ${card(t("stats.provider_errors"), totals.by_outcome.provider_error, t("stats.cancelled_count", { count: totals.by_outcome.cancelled }))}
    </ul>
    <section class="card" aria-labelledby="chart-title">
      <h2 id="chart-title">${t("stats.chart_title")}</h2>
      ${chart(data)}
    </section>
    <section class="card" aria-labelledby="sla-title">
      <h2 id="sla-title">${t("stats.sla_title")}</h2>
      <div class="table-wrap">
        <table class="data" id="sla-table">
          <thead><tr><th scope="col">${t("common.slot")}</th><th scope="col">${t("stats.jobs")}</th><th scope="col">${t("label.succeeded")}</th>
            <th scope="col">${t("stats.timeouts")}</th><th scope="col">${t("stats.provider_errors")}</th><th scope="col">${t("stats.success_rate")}</th>
            <th scope="col">p50</th><th scope="col">p95</th><th scope="col">${t("stats.last_success")}</th><th scope="col">${t("stats.last_error")}</th></tr></thead>
          <tbody>${data.slots.map(slotRow)}</tbody>
        </table>
      </div>
    </section>
    <section class="card" aria-labelledby="failures-title">
      <h2 id="failures-title">${t("stats.failures_title")}</h2>
      ${data.recent_failures.length ? html`<div class="table-wrap"><table class="data" id="failures-table">
        <thead><tr><th scope="col">${t("stats.when")}</th><th scope="col">${t("common.slot")}</th><th scope="col">${t("common.provider")}</th><th scope="col">${t("common.outcome")}</th>
          <th scope="col">${t("stats.code")}</th><th scope="col">${t("stats.provider_status")}</th><th scope="col">${t("stats.message")}</th></tr></thead>
        <tbody>${data.recent_failures.map((f) => html`<tr>
          <td><a href="#/jobs/${f.job_id}">${when(f.finalized_at || f.created_at)}</a></td><td>${f.slot_id}</td><td>${label(f.provider)}</td>
          <td>${label(f.outcome)}</td><td>${f.error_code ? html`<code>${f.error_code}</code>` : "—"}</td>
          <td>${f.provider_status || "—"}</td><td>${f.message || ""}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted" id="no-failures">${t("stats.no_failures")}</p>`}
    </section>`);

  const form = main.querySelector("#window-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const error = main.querySelector("#window-error");
    const wanted = Math.round(Number(form.amount.value) * UNITS[form.unit.value]);
    if (!Number.isFinite(wanted) || wanted < 1 || wanted > MAX_MINUTES) {
      error.textContent = t("stats.window_invalid");
      error.hidden = false;
      form.amount.setAttribute("aria-invalid", "true");
      form.amount.focus();
      return;
    }
    context.navigate(`#/stats?minutes=${wanted}`);
  });
}

function card(title, value, note) {
  return html`<li class="card stat"><p class="stat-title">${title}</p><p class="stat-value">${value}</p><p class="muted">${note}</p></li>`;
}

function slotRow(slot) {
  return html`<tr data-slot="${slot.slot_id}">
    <th scope="row"><a href="#/slots/${slot.slot_id}">${slot.slot_id}</a> <span class="muted">${slot.name}</span></th>
    <td>${slot.total}</td><td>${slot.by_outcome.succeeded}</td><td>${slot.by_outcome.timeout}</td>
    <td>${slot.by_outcome.provider_error}</td><td>${percent(slot.success_rate)}</td>
    <td>${ms(slot.latency.p50_ms)}</td><td>${ms(slot.latency.p95_ms)}</td>
    <td>${slot.last_success ? html`<a href="#/jobs/${slot.last_success.job_id}">${ago(slot.last_success.at)}</a>` : t("common.never")}</td>
    <td>${slot.last_error ? html`<a href="#/jobs/${slot.last_error.job_id}">${ago(slot.last_error.at)}</a> <code>${slot.last_error.error_code || slot.last_error.outcome}</code>` : t("common.none")}</td>
  </tr>`;
}

// A stacked bar per bucket, drawn as SVG (no chart library), with a text summary for screen
// readers and a legend.
function chart(data) {
  const width = 720, height = 220, left = 40, bottom = 28, top = 10;
  const points = data.series;
  const totals = points.map((p) => Object.values(p.by_outcome).reduce((a, b) => a + b, 0));
  const peak = Math.max(1, ...totals);
  const step = (width - left) / Math.max(1, points.length);
  const scale = (height - top - bottom) / peak;
  const bars = [];
  points.forEach((point, i) => {
    let y = height - bottom;
    for (const outcome of Object.keys(COLOURS)) {
      const n = point.by_outcome[outcome] || 0;
      if (!n) continue;
      const h = n * scale;
      y -= h;
      bars.push(`<rect x="${(left + i * step + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, step - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLOURS[outcome]}"><title>${escape(`${n} ${label(outcome)}`)}</title></rect>`);
    }
  });
  const time = (iso) => formatDateTime(iso, data.minutes > 1440 ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" });
  const ticks = points.length ? [0, Math.floor(points.length / 2), points.length - 1] : [];
  const anchors = ["start", "middle", "end"];
  const labels = ticks.map((i, n) => {
    const x = n === 2 ? width : left + i * step + (n === 1 ? step / 2 : 0);
    return `<text x="${x.toFixed(1)}" y="${height - 8}" text-anchor="${anchors[n]}" class="axis">${time(n === 2 ? data.until : points[i].start)}</text>`;
  });
  const sum = (outcome) => points.reduce((a, p) => a + (p.by_outcome[outcome] || 0), 0);
  const summary = t("stats.chart_summary", {
    count: totals.reduce((a, b) => a + b, 0),
    steps: points.length,
    minutes: Math.round(data.bucket_seconds / 60) || 1,
    parts: Object.keys(COLOURS).map((o) => `${label(o)}: ${sum(o)}`).join(", "),
    peak,
  });
  return html`
    <svg id="stats-chart" class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-desc" focusable="false">
      <desc id="chart-desc">${summary}</desc>
      <line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" class="axis-line"/>
      <text x="0" y="${top + 10}" class="axis">${peak}</text>
      <text x="0" y="${height - bottom}" class="axis">0</text>
      ${raw(bars.join(""))}${raw(labels.join(""))}
    </svg>
    <ul class="legend">${Object.entries(COLOURS).map(([o, c]) => html`<li><span class="swatch swatch-${o}"></span>${label(o)}: ${sum(o)}</li>`)}</ul>`;
}
