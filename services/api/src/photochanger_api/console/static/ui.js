// Small helpers shared by the pages: escaped HTML templates, formatting, announcements,
// copying, and showing an API's 422 problems next to the fields they name — in the console's
// language (i18n.js).
import { formatDateTime, formatNumber, has, relativeTime, t } from "./i18n.js";

class Raw {
  constructor(text) {
    this.text = text;
  }
}

export const raw = (text) => new Raw(text);

export function escape(value) {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function part(value) {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  return escape(value);
}

// html`<p>${text}</p>`: every interpolation is escaped unless it is raw() or nested html``.
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => {
    out += part(value) + strings[i + 1];
  });
  return new Raw(out);
}

export function render(target, template) {
  target.innerHTML = part(template);
}

export function announce(message) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // a fresh text node each time, so the same message is read out again
  setTimeout(() => {
    region.textContent = message;
  }, 30);
}

export function when(iso) {
  return formatDateTime(iso);
}

export function ago(iso) {
  return iso ? relativeTime(iso) : t("common.never");
}

export function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return formatNumber(rate, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value >= 1000) {
    return t("common.seconds", { value: formatNumber(value / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  }
  return t("common.milliseconds", { value: formatNumber(Math.round(value)) });
}

// A name from the API (an outcome, state, operation, log event…): its translation when the
// dictionary has one ("label.<name>"), else the name made readable.
export function label(key) {
  if (has(`label.${key}`)) return t(`label.${key}`);
  const text = String(key).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function outcomeBadge(outcome, status) {
  const value = outcome || status || "unknown";
  return html`<span class="badge badge-${value}">${label(value)}</span>`;
}

export async function copyText(text, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection copy (plain http on a venue LAN has no clipboard API)
  }
  if (input) {
    input.focus();
    input.select();
    return document.execCommand("copy");
  }
  return false;
}

// Wire every [data-copy] button to copy the value of the input it names.
export function wireCopyButtons(root) {
  for (const button of root.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      const done = await copyText(input.value, input);
      button.textContent = done ? t("copy.done") : t("copy.press_keys");
      announce(done ? t("copy.announce_done") : t("copy.announce_select"));
      setTimeout(() => {
        button.textContent = t("copy.button");
      }, 2000);
    });
  }
}

// 422 problems next to the fields: a field is an element with data-field="<path>"; a problem
// whose path names no element goes to its nearest named parent, else to the summary.
export function showProblems(form, problems, summary, prefixes = ["body.", "slot."]) {
  clearProblems(form, summary);
  const unplaced = [];
  let first = null;
  for (const problem of problems) {
    let field = problem.field || "";
    for (const prefix of prefixes) if (field.startsWith(prefix)) field = field.slice(prefix.length);
    let path = field;
    let target = null;
    while (path && !target) {
      target = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (!target) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    const message = problemMessage(problem);
    if (!target) {
      unplaced.push(`${field || t("problems.request")}: ${message}`);
      continue;
    }
    const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    if (slot) {
      slot.hidden = false;
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + message;
    } else {
      unplaced.push(`${field}: ${message}`);
    }
    const control = target.matches("input, select, textarea")
      ? target
      : target.querySelector("input, select, textarea");
    if (control) control.setAttribute("aria-invalid", "true");
    first = first || control || target;
  }
  if (summary) {
    const count = problems.length;
    summary.hidden = false;
    render(summary, html`<p><strong>${t("problems.summary", { count })}</strong></p>${unplaced.length ? html`<ul>${unplaced.map((t) => html`<li>${t}</li>`)}</ul>` : ""}`);
  }
  if (first && first.focus) first.focus();
}

export function clearProblems(form, summary) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  if (summary) {
    summary.hidden = true;
    summary.textContent = "";
  }
}

// A field-level error slot, referenced by the control's aria-describedby.
export function errorSlot(path, id) {
  return html`<p class="field-error" id="${id}" data-error-for="${path}" hidden></p>`;
}

// One 422 problem in the console's language: by its kind and limits when the API names them
// (`type`, `limit`), else the API's own text.
export function problemMessage(problem) {
  if (problem.type && has(`problem.${problem.type}`)) {
    return t(`problem.${problem.type}`, { limit: problem.limit, ...(problem.ctx || {}) });
  }
  return problem.message;
}

// An API error in the console's language: by its code when the dictionary has it
// ("error.<code>", with the details as parameters), else the API's message.
export function problemText(error) {
  if (error.status === 0) return t("error.network");
  if (error.status === 403) return t("error.forbidden", { permission: error.details.required || t("error.a_permission") });
  if (error.code && has(`error.${error.code}`)) return t(`error.${error.code}`, error.details || {});
  return error.message;
}
