// Small helpers shared by the pages: escaped HTML templates, formatting, announcements,
// copying, and showing an API's 422 problems next to the fields they name.

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
  if (!iso) return "—";
  const moment = new Date(iso);
  return moment.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function label(key) {
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
      button.textContent = done ? "Copied" : "Press Ctrl+C";
      announce(done ? "Copied to the clipboard" : "Select the text and copy it");
      setTimeout(() => {
        button.textContent = "Copy";
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
    if (!target) {
      unplaced.push(`${field || "request"}: ${problem.message}`);
      continue;
    }
    const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    if (slot) {
      slot.hidden = false;
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + problem.message;
    } else {
      unplaced.push(`${field}: ${problem.message}`);
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
    render(summary, html`<p><strong>${count === 1 ? "One field needs" : `${count} fields need`}
      attention.</strong></p>${unplaced.length ? html`<ul>${unplaced.map((t) => html`<li>${t}</li>`)}</ul>` : ""}`);
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

export function problemText(error) {
  if (error.status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (error.status === 403) return `Your account may not do this (needs ${error.details.required || "a permission"}).`;
  return error.message;
}
