// The slot editor: provider, operation and the provider's options (rendered from the JSON
// schema GET /api/providers gives), template images by drag and drop, save with the ETag,
// and a test run of the unsaved form with its progress.
import { ApiError, can, get, imageUrl, request } from "../api.js";
import { t } from "../i18n.js";
import {
  announce, clearProblems, errorSlot, html, label, ms, problemText, raw, render, showProblems, when,
} from "../ui.js";

// settings the editor has a section of its own for, or keeps as they are
const OWN_SECTION = new Set(["template_media"]);
const KEPT = new Set(["fallback", "safety_settings"]);
const FIRST = ["prompt", "model", "image_config", "output"];
const POLL_MS = 400;

export async function show(main, target, context) {
  const slotId = target.id;
  const [providers, loaded] = await Promise.all([
    get("/api/providers"),
    get(`/api/slots/${encodeURIComponent(slotId)}`, { withEtag: true }),
  ]);
  const editor = new SlotEditor(main, context, providers.items, loaded.data, loaded.etag);
  editor.draw();
}

class SlotEditor {
  constructor(main, context, providers, slot, etag) {
    this.main = main;
    this.context = context;
    this.providers = providers;
    this.slot = slot;
    this.etag = etag;
    this.bindings = (slot.settings.template_media || []).map((b) => ({ ...b }));
    this.kept = {}; // settings the form does not show, sent back unchanged
    for (const key of KEPT) if (slot.settings[key] !== undefined) this.kept[key] = slot.settings[key];
    this.previews = [];
    context.onLeave(() => this.previews.forEach((url) => URL.revokeObjectURL(url)));
  }

  provider(id) {
    return this.providers.find((p) => p.id === id);
  }

  operation(providerId, operation) {
    const provider = this.provider(providerId);
    return provider && provider.operations.find((o) => o.operation === operation);
  }

  draw() {
    const slot = this.slot;
    const writable = can("slots:write");
    render(this.main, html`
      <p class="breadcrumb"><a href="#/">${t("dashboard.title")}</a> › ${slot.id}</p>
      <h1>${t("slot.title", { id: slot.id, name: slot.name })}</h1>
      <p class="muted" id="slot-version">${versionLine(slot)}</p>
      <div class="alert" id="conflict" role="alert" hidden></div>
      <form id="slot-form" novalidate>
        <div class="alert" id="form-problems" role="alert" tabindex="-1" hidden></div>
        <fieldset class="card">
          <legend>${t("common.slot")}</legend>
          <div class="grid-2">
            <div class="field" data-field="name">
              <label for="f-name">${t("slot.name")}</label>
              <input id="f-name" name="name" value="${slot.name}" maxlength="100" required aria-describedby="e-name">
              ${errorSlot("name", "e-name")}
            </div>
            <div class="field checkbox" data-field="is_active">
              <input type="checkbox" id="f-active" name="is_active" ${slot.is_active ? raw("checked") : ""}>
              <label for="f-active">${t("slot.active_label")}</label>
            </div>
            <div class="field" data-field="provider">
              <label for="f-provider">${t("common.provider")}</label>
              <select id="f-provider" name="provider" aria-describedby="e-provider">
                ${this.providers.map((p) => html`<option value="${p.id}" ${p.id === slot.provider ? raw("selected") : ""}>${p.display_name}${p.configured ? "" : ` (${t("slot.no_key")})`}</option>`)}
              </select>
              ${errorSlot("provider", "e-provider")}
            </div>
            <div class="field" data-field="operation">
              <label for="f-operation">${t("slot.operation")}</label>
              <select id="f-operation" name="operation" aria-describedby="e-operation"></select>
              ${errorSlot("operation", "e-operation")}
            </div>
          </div>
        </fieldset>
        <fieldset class="card" data-field="settings">
          <legend>${t("slot.provider_settings")}</legend>
          ${errorSlot("settings", "e-settings")}
          <div id="settings-fields"></div>
        </fieldset>
        <fieldset class="card" data-field="settings.template_media">
          <legend>${t("slot.templates")}</legend>
          <p class="muted" id="template-hint"></p>
          ${errorSlot("settings.template_media", "e-templates")}
          <ul class="template-list" id="template-list" aria-label="${t("slot.templates_of_slot")}"></ul>
          <div class="dropzone" id="dropzone">
            <p>${t("slot.drop_here")}</p>
            <input type="file" id="template-file" class="file-input" accept="image/jpeg,image/png,image/webp" multiple>
            <label for="template-file" class="button secondary">${t("slot.choose_templates")}</label>
          </div>
        </fieldset>
        <div class="actions">
          <button type="submit" id="save" ${writable ? "" : raw("disabled")}>${t("slot.save")}</button>
          <span id="save-status" class="muted" role="status"></span>
        </div>
      </form>
      <section class="card" aria-labelledby="test-title">
        <h2 id="test-title">${t("slot.test_title")}</h2>
        <p class="muted">${t("slot.test_intro")}</p>
        <div class="field">
          <label for="test-photo">${t("slot.test_photo")}</label>
          <input type="file" id="test-photo" accept="image/jpeg,image/png,image/webp" aria-describedby="test-error">
          <p class="field-error" id="test-error" hidden></p>
        </div>
        <button type="button" id="run-test" ${writable ? "" : raw("disabled")}>${t("slot.test_run")}</button>
      </section>
      <dialog id="test-dialog" aria-labelledby="test-dialog-title">
        <h2 id="test-dialog-title">${t("slot.test_title")}</h2>
        <ol class="steps" id="test-steps">
          <li data-step="upload">${t("slot.step_upload")}</li>
          <li data-step="queued">${t("slot.step_queued")}</li>
          <li data-step="at_provider">${t("slot.step_at_provider")}</li>
          <li data-step="done">${t("slot.step_done")}</li>
        </ol>
        <p id="test-message" role="status" aria-live="polite"></p>
        <div id="test-result" class="test-result"></div>
        <form method="dialog"><button type="submit" id="test-close">${t("common.close")}</button></form>
      </dialog>`);
    this.form = this.main.querySelector("#slot-form");
    this.summary = this.main.querySelector("#form-problems");
    const providerSelect = this.form.querySelector("#f-provider");
    const operationSelect = this.form.querySelector("#f-operation");
    this.fillOperations(slot.provider, slot.operation);
    this.drawSettings(slot.settings);
    this.drawTemplates();
    providerSelect.addEventListener("change", () => {
      const carried = this.settingsValue();
      this.fillOperations(providerSelect.value, operationSelect.value);
      this.drawSettings(carried);
      this.drawTemplates();
    });
    operationSelect.addEventListener("change", () => {
      this.drawSettings(this.settingsValue());
      this.drawTemplates();
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.wireDropzone();
    this.main.querySelector("#run-test").addEventListener("click", () => this.testRun());
  }

  fillOperations(providerId, wanted) {
    const select = this.form.querySelector("#f-operation");
    const provider = this.provider(providerId);
    const operations = provider ? provider.operations.map((o) => o.operation) : [];
    const chosen = operations.includes(wanted) ? wanted : operations[0];
    render(select, html`${operations.map((o) => html`<option value="${o}" ${o === chosen ? raw("selected") : ""}>${label(o)}</option>`)}`);
  }

  currentOperation() {
    return this.operation(this.form.querySelector("#f-provider").value, this.form.querySelector("#f-operation").value);
  }

  // -- provider settings from the JSON schema ----------------------------------------------

  drawSettings(values) {
    const operation = this.currentOperation();
    const schema = (operation && operation.settings_schema) || { properties: {} };
    this.schema = schema;
    const keys = Object.keys(schema.properties || {}).filter((k) => !OWN_SECTION.has(k) && !KEPT.has(k));
    keys.sort((a, b) => rank(a) - rank(b));
    const container = this.form.querySelector("#settings-fields");
    render(container, html`${keys.map((key) => this.field(["settings", key], schema.properties[key], values ? values[key] : undefined, key === "prompt" && operation && operation.needs_prompt))}`);
  }

  resolve(node) {
    let schema = node || {};
    let nullable = false;
    if (schema.$ref) schema = this.schema.$defs[schema.$ref.split("/").pop()];
    if (Array.isArray(schema.anyOf)) {
      const branches = schema.anyOf.filter((b) => b.type !== "null");
      nullable = branches.length !== schema.anyOf.length;
      const merged = { ...branches[0], default: schema.default, title: schema.title, description: schema.description };
      schema = merged.$ref ? { ...this.schema.$defs[merged.$ref.split("/").pop()], default: schema.default } : merged;
    }
    return { schema, nullable };
  }

  field(path, node, value, required) {
    const { schema } = this.resolve(node);
    const name = path.join(".");
    const id = `f-${path.join("-")}`;
    const errorId = `e-${path.join("-")}`;
    const title = label(path[path.length - 1]);
    if (schema.type === "object" || schema.properties) {
      const properties = schema.properties || {};
      const inner = value && typeof value === "object" ? value : {};
      return html`<fieldset class="nested" data-field="${name}">
        <legend>${title}</legend>${errorSlot(name, errorId)}
        ${Object.keys(properties).map((key) => this.field([...path, key], properties[key], inner[key], false))}
      </fieldset>`;
    }
    if (schema.type === "array") return "";
    const hints = [];
    if (schema.minimum !== undefined && schema.maximum !== undefined) hints.push(`${schema.minimum}–${schema.maximum}`);
    else if (schema.minimum !== undefined) hints.push(t("slot.hint_at_least", { value: schema.minimum }));
    if (schema.default !== undefined && schema.default !== null && schema.default !== "") hints.push(t("slot.hint_default", { value: schema.default }));
    if (!required && schema.default !== undefined && schema.default !== null) hints.push(t("slot.hint_empty_default"));
    else if (!required) hints.push(t("slot.hint_optional"));
    const hintId = `h-${path.join("-")}`;
    const describedBy = `${hints.length ? hintId : ""} ${errorId}`.trim();
    const current = value === undefined || value === null ? "" : String(value);
    let control;
    if (Array.isArray(schema.enum) || schema.type === "boolean") {
      const options = schema.type === "boolean" ? ["true", "false"] : schema.enum.map(String);
      control = html`<select id="${id}" name="${name}" data-kind="${schema.type === "boolean" ? "boolean" : "string"}" aria-describedby="${describedBy}">
        <option value="">${schema.default !== undefined && schema.default !== null ? t("slot.option_default", { value: schema.default }) : t("slot.option_unset")}</option>
        ${options.map((o) => html`<option value="${o}" ${o === current ? raw("selected") : ""}>${o === "true" ? t("common.yes") : o === "false" ? t("common.no") : o}</option>`)}
      </select>`;
    } else if (schema.type === "integer" || schema.type === "number") {
      control = html`<input type="number" id="${id}" name="${name}" data-kind="${schema.type}" value="${current}"
        ${schema.minimum !== undefined ? raw(`min="${schema.minimum}"`) : ""} ${schema.maximum !== undefined ? raw(`max="${schema.maximum}"`) : ""}
        step="${schema.type === "integer" ? "1" : "any"}" inputmode="${schema.type === "integer" ? "numeric" : "decimal"}" aria-describedby="${describedBy}">`;
    } else if ((schema.maxLength || 0) > 300) {
      control = html`<textarea id="${id}" name="${name}" data-kind="string" rows="4" maxlength="${schema.maxLength}" ${required ? raw("required") : ""} aria-describedby="${describedBy}">${current}</textarea>`;
    } else {
      control = html`<input id="${id}" name="${name}" data-kind="string" value="${current}" ${schema.maxLength ? raw(`maxlength="${schema.maxLength}"`) : ""} aria-describedby="${describedBy}">`;
    }
    return html`<div class="field" data-field="${name}">
      <label for="${id}">${title}${required ? html` <span class="required">(${t("slot.required")})</span>` : ""}</label>
      ${control}
      ${hints.length ? html`<p class="hint" id="${hintId}">${hints.join(", ")}</p>` : ""}
      ${errorSlot(name, errorId)}
    </div>`;
  }

  settingsValue() {
    const settings = {};
    for (const control of this.form.querySelectorAll("#settings-fields [data-kind]")) {
      const raw = control.value;
      if (raw === "") continue;
      let value = raw;
      if (control.dataset.kind === "integer" || control.dataset.kind === "number") {
        value = Number(raw);
        if (Number.isNaN(value)) value = raw; // sent as typed: the API names the field
      } else if (control.dataset.kind === "boolean") {
        value = raw === "true";
      }
      const path = control.name.split(".").slice(1);
      let into = settings;
      for (const key of path.slice(0, -1)) into = into[key] = into[key] || {};
      into[path[path.length - 1]] = value;
    }
    const known = new Set(Object.keys((this.schema && this.schema.properties) || {}));
    for (const [key, value] of Object.entries(this.kept)) if (known.has(key)) settings[key] = value;
    if (this.bindings.some((b) => b.media_id)) {
      settings.template_media = this.bindings.filter((b) => b.media_id).map((b) => ({
        role: b.role, media_id: b.media_id, ...(b.optional ? { optional: true } : {}),
      }));
    }
    return settings;
  }

  body() {
    return {
      name: this.form.querySelector("#f-name").value,
      provider: this.form.querySelector("#f-provider").value,
      operation: this.form.querySelector("#f-operation").value,
      is_active: this.form.querySelector("#f-active").checked,
      settings: this.settingsValue(),
    };
  }

  // -- template images ----------------------------------------------------------------------

  drawTemplates() {
    const operation = this.currentOperation();
    const roles = (operation && operation.required_template_roles) || [];
    this.main.querySelector("#template-hint").textContent = roles.length
      ? t("slot.needs_roles", { operation: label(operation.operation), roles: roles.map((r) => `“${r}”`).join(", ") })
      : t("slot.templates_optional");
    const list = this.main.querySelector("#template-list");
    render(list, html`${this.bindings.map((b, i) => html`
      <li class="template-item" data-index="${i}" data-media-id="${b.media_id || ""}">
        <div class="template-thumb">${b.preview ? html`<img src="${b.preview}" alt="${t("slot.template_alt", { name: b.filename || b.media_id || "" })}">` : html`<span class="muted">…</span>`}</div>
        <div class="template-meta">
          <p class="template-name">${b.filename || b.media_id || t("slot.uploading")}</p>
          ${b.error ? html`<p class="field-error">${b.error}</p>` : ""}
          <label for="role-${i}">${t("slot.role")}</label>
          <input id="role-${i}" class="template-role" data-index="${i}" value="${b.role}" list="template-roles">
          <div class="checkbox">
            <input type="checkbox" id="optional-${i}" class="template-optional" data-index="${i}" ${b.optional ? raw("checked") : ""}>
            <label for="optional-${i}">${t("slot.optional")}</label>
          </div>
          <button type="button" class="secondary template-remove" data-index="${i}">${t("slot.remove")}${b.filename ? ` ${b.filename}` : ""}</button>
        </div>
      </li>`)}
      <datalist id="template-roles">${[...new Set([...roles, "style", "base", "reference"])].map((r) => html`<option value="${r}">`)}</datalist>`);
    for (const input of list.querySelectorAll(".template-role")) {
      input.addEventListener("input", () => (this.bindings[Number(input.dataset.index)].role = input.value));
    }
    for (const box of list.querySelectorAll(".template-optional")) {
      box.addEventListener("change", () => (this.bindings[Number(box.dataset.index)].optional = box.checked));
    }
    for (const button of list.querySelectorAll(".template-remove")) {
      button.addEventListener("click", () => {
        this.bindings.splice(Number(button.dataset.index), 1);
        this.drawTemplates();
        announce(t("slot.template_removed"));
        this.main.querySelector("#template-file").focus();
      });
    }
    this.bindings.forEach((binding) => {
      if (!binding.preview && binding.media_id && !binding.loading) {
        binding.loading = true;
        imageUrl(`/api/template-media/${encodeURIComponent(binding.media_id)}/content`)
          .then((url) => {
            this.previews.push(url);
            binding.preview = url;
            if (this.context.alive()) this.drawTemplates();
          })
          .catch(() => {
            binding.error = t("slot.preview_unavailable");
            if (this.context.alive()) this.drawTemplates();
          });
      }
    });
  }

  wireDropzone() {
    const zone = this.main.querySelector("#dropzone");
    const input = this.main.querySelector("#template-file");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.addTemplates([...event.dataTransfer.files]);
    });
    input.addEventListener("change", () => {
      this.addTemplates([...input.files]);
      input.value = "";
    });
  }

  addTemplates(files) {
    const operation = this.currentOperation();
    for (const file of files) {
      const roles = (operation && operation.required_template_roles) || [];
      const missing = roles.find((r) => !this.bindings.some((b) => b.role === r));
      const preview = URL.createObjectURL(file);
      this.previews.push(preview);
      const binding = { role: missing || "reference", media_id: null, preview, filename: file.name, loading: true };
      this.bindings.push(binding);
      const form = new FormData();
      form.append("file", file, file.name);
      request("POST", "/api/template-media/register", { form })
        .then((template) => {
          binding.media_id = template.id;
          announce(t("slot.template_uploaded", { name: file.name }));
        })
        .catch((error) => {
          binding.error = t("slot.not_uploaded", { reason: problemText(error) });
          announce(binding.error);
        })
        .finally(() => {
          if (this.context.alive()) this.drawTemplates();
        });
    }
    this.drawTemplates();
  }

  // -- save -----------------------------------------------------------------------------------

  async save() {
    const status = this.main.querySelector("#save-status");
    const conflict = this.main.querySelector("#conflict");
    clearProblems(this.form, this.summary);
    if (this.bindings.some((b) => !b.media_id && !b.error)) {
      status.textContent = t("slot.wait_upload");
      return;
    }
    conflict.hidden = true;
    status.textContent = t("slot.saving");
    try {
      const response = await request("PUT", `/api/slots/${this.slot.id}`, {
        json: this.body(),
        headers: { "If-Match": this.etag },
        raw: true,
      });
      this.slot = await response.json();
      this.etag = response.headers.get("etag");
      status.textContent = t("slot.saved", { version: this.slot.version });
      this.main.querySelector("#slot-version").textContent = versionLine(this.slot);
      announce(t("slot.saved_announce"));
    } catch (error) {
      status.textContent = "";
      if (error instanceof ApiError && error.status === 422) {
        showProblems(this.form, error.problems, this.summary);
      } else if (error instanceof ApiError && error.status === 412) {
        await this.explainConflict();
      } else {
        status.textContent = t("slot.not_saved", { reason: problemText(error) });
      }
    }
  }

  async explainConflict() {
    const conflict = this.main.querySelector("#conflict");
    const latest = await get(`/api/slots/${this.slot.id}`, { withEtag: true });
    render(conflict, html`
      <p><strong>${t("slot.conflict_who", { name: latest.data.updated_by, at: when(latest.data.updated_at) })}</strong>
      ${t("slot.conflict_rest", { version: latest.data.version })}</p>
      <p class="actions">
        <button type="button" id="conflict-reload">${t("slot.conflict_reload")}</button>
        <button type="button" class="secondary" id="conflict-overwrite">${t("slot.conflict_overwrite")}</button>
      </p>`);
    conflict.hidden = false;
    conflict.querySelector("#conflict-reload").addEventListener("click", () => this.context.navigate(`#/slots/${this.slot.id}`));
    conflict.querySelector("#conflict-overwrite").addEventListener("click", () => {
      this.etag = latest.etag;
      this.save();
    });
    conflict.querySelector("#conflict-reload").focus();
  }

  // -- test run --------------------------------------------------------------------------------

  async testRun() {
    const photoInput = this.main.querySelector("#test-photo");
    const photoError = this.main.querySelector("#test-error");
    photoError.hidden = true;
    clearProblems(this.form, this.summary);
    const photo = photoInput.files[0];
    if (!photo) {
      photoError.textContent = t("slot.test_choose_photo");
      photoError.hidden = false;
      photoInput.setAttribute("aria-invalid", "true");
      photoInput.focus();
      return;
    }
    photoInput.removeAttribute("aria-invalid");
    const form = new FormData();
    form.append("slot", JSON.stringify(this.body()));
    form.append("file", photo, photo.name);
    const dialog = this.main.querySelector("#test-dialog");
    this.step("upload", t("slot.test_uploading"));
    this.main.querySelector("#test-result").textContent = "";
    dialog.showModal();
    let run;
    try {
      run = await request("POST", `/api/slots/${this.slot.id}/test-runs`, { form });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        dialog.close();
        showProblems(this.form, error.problems, this.summary);
        return;
      }
      if (error instanceof ApiError && (error.status === 415 || error.status === 413 || error.status === 400)) {
        dialog.close();
        photoError.textContent = problemText(error);
        photoError.hidden = false;
        photoInput.focus();
        return;
      }
      this.finish(t("slot.test_not_started", { reason: problemText(error) }), true);
      return;
    }
    this.followRun(run);
  }

  step(stage, message) {
    const order = ["upload", "queued", "at_provider", "done"];
    const reached = order.indexOf(stage);
    for (const item of this.main.querySelectorAll("#test-steps li")) {
      const index = order.indexOf(item.dataset.step);
      item.classList.toggle("done", index < reached || (stage === "done" && index === reached));
      item.classList.toggle("current", index === reached && stage !== "done");
      if (index === reached) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    }
    this.main.querySelector("#test-message").textContent = message;
  }

  async followRun(run) {
    const messages = {
      queued: t("slot.test_queued"),
      at_provider: t("slot.test_at_provider", { provider: label(this.body().provider) }),
    };
    const dialog = this.main.querySelector("#test-dialog");
    while (run.stage !== "done") {
      this.step(run.stage, messages[run.stage]);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!this.context.alive() || !dialog.open) return;
      try {
        run = await get(`/api/slots/${this.slot.id}/test-runs/${run.job_id}`);
      } catch (error) {
        this.finish(t("slot.test_lost", { reason: problemText(error) }), true);
        return;
      }
    }
    if (run.outcome === "succeeded" && run.result_url) {
      const url = await imageUrl(run.result_url);
      this.previews.push(url);
      this.step("done", t("slot.test_done_in", { duration: ms(new Date(run.finalized_at) - new Date(run.created_at)) }));
      render(this.main.querySelector("#test-result"), html`
        <img id="test-result-image" src="${url}" alt="${t("slot.test_result_alt")}">
        <p><a href="#/jobs/${run.job_id}">${t("job.title", { id: run.job_id })}</a></p>`);
    } else {
      const error = run.error ? `${run.error.code}: ${run.error.message}` : label(run.outcome);
      this.finish(t("slot.test_ended", { outcome: label(run.outcome || "unknown"), error }), true, run.job_id);
    }
  }

  finish(message, failed, jobId) {
    this.step("done", message);
    const result = this.main.querySelector("#test-result");
    render(result, html`<p class="alert" role="alert">${message}</p>${jobId ? html`<p><a href="#/jobs/${jobId}">${t("job.title", { id: jobId })}</a></p>` : ""}`);
    if (failed) this.main.querySelector("#test-steps li[data-step=done]").classList.add("failed");
    const dialog = this.main.querySelector("#test-dialog");
    if (!dialog.open) dialog.showModal();
  }
}

function versionLine(slot) {
  return t("slot.version_line", { version: slot.version, name: slot.updated_by, at: when(slot.updated_at) });
}

function rank(key) {
  const index = FIRST.indexOf(key);
  if (index >= 0) return index;
  return key === "retry_policy" ? 100 : 50;
}
