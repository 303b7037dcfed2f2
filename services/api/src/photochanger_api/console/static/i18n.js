// The console's languages (Russian and English): the dictionary of the chosen language, `t()`
// for every text an operator reads, and dates, numbers and "… ago" in that language.
//
// Dictionaries are flat JSON files, `i18n/<lang>.json`, keyed by "<area>.<what>"; both files
// have the same keys (a unit test holds them, and every `t("…")` in the code, in step).
// A value may hold `{name}` placeholders, and may be an object of plural forms picked by the
// `count` parameter with the language's plural rules ({"one", "few", "many", "other"}).
//
// The language: the one the operator chose (kept in localStorage, it sticks across reloads
// and tabs), else the first of the browser's languages the console speaks, else English.

export const LANGUAGES = { en: "English", ru: "Русский" };
const STORAGE_KEY = "photochanger.console.language";
const listeners = new Set();
let current = "en";
let words = {};
let fallback = {}; // English, for a key a language lacks (never in a release: the unit test)

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the browser's language then
  }
}

export function preferredLanguage() {
  const chosen = stored();
  if (chosen && LANGUAGES[chosen]) return chosen;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES[base]) return base;
  }
  return "en";
}

async function dictionary(lang) {
  const response = await fetch(`/admin/assets/i18n/${lang}.json`, { credentials: "omit" });
  if (!response.ok) throw new Error(`no dictionary for ${lang}`);
  return response.json();
}

// Loads the language to use (once, before the first page is drawn).
export async function startLanguage() {
  const lang = preferredLanguage();
  fallback = await dictionary("en");
  words = lang === "en" ? fallback : await dictionary(lang).catch(() => fallback);
  current = words === fallback ? "en" : lang;
  applyDocument();
}

// The operator's choice: kept, applied, and every listener (the shell) redraws.
export async function switchLanguage(lang) {
  if (!LANGUAGES[lang]) return;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not kept past this page, still applied
  }
  words = lang === "en" ? fallback : await dictionary(lang);
  current = lang;
  applyDocument();
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

export function language() {
  return current;
}

function applyDocument() {
  document.documentElement.lang = current;
  translateStatic(document);
}

// Elements of index.html: data-i18n sets the text, data-i18n-label the aria-label.
export function translateStatic(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(words, key) || Object.prototype.hasOwnProperty.call(fallback, key);
}

// t(key, {count: 3}) with "common.jobs_count" → "3 jobs" / "3 задания"
export function t(key, params = {}) {
  let value = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : fallback[key];
  if (value === undefined) return key;
  if (typeof value === "object") {
    const form = new Intl.PluralRules(current).select(Number(params.count) || 0);
    value = value[form] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (whole, name) =>
    params[name] === undefined || params[name] === null ? whole : String(params[name]));
}

// -- formatting in the current language ----------------------------------------------------

export function formatDateTime(iso, options) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(current, options || {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function formatTime(date, options) {
  return date.toLocaleTimeString(current, options || { hour: "2-digit", minute: "2-digit" });
}

export function formatNumber(value, options) {
  return new Intl.NumberFormat(current, options).format(value);
}

export function relativeTime(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const format = new Intl.RelativeTimeFormat(current, { numeric: "auto" });
  const magnitude = Math.abs(seconds);
  if (magnitude < 60) return format.format(Math.min(0, seconds), "second");
  if (magnitude < 3600) return format.format(Math.round(seconds / 60), "minute");
  if (magnitude < 86400) return format.format(Math.round(seconds / 3600), "hour");
  return format.format(Math.round(seconds / 86400), "day");
}
