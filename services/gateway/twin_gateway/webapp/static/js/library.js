// Library: the tenant's documents (search, filter by author/kind/tag), add by paste, file upload, URL or JSONL,
// delete; each document's journey (stored -> change captured -> indexed) followed live, import reports with every
// rejection and its reason.
import { api, clear, el, notice, passageHref, requireSession, seconds, when } from "./common.js";
import { batches, parseJsonl, readFile, rejection } from "./importers.js";

const PAGE = 50;
const POLL_MS = 1500;
const table = document.querySelector("#documents tbody");
const report = document.getElementById("import-report");
const state = { limit: PAGE, polling: null, deleting: new Map(), facetsLoaded: false };

// --- tabs (WAI-ARIA tabs pattern: arrows move between tabs) ----------------------------------------------------
const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab, focus = true) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const i = tabs.indexOf(tab);
    if (event.key === "ArrowRight") selectTab(tabs[(i + 1) % tabs.length]);
    if (event.key === "ArrowLeft") selectTab(tabs[(i - 1 + tabs.length) % tabs.length]);
  });
}

// --- imports ------------------------------------------------------------------------------------------------
function importDefaults() {
  const author = document.getElementById("import-author").value.trim();
  const tags = document.getElementById("import-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  return { author, kind: document.getElementById("import-kind").value, tags };
}

function needAuthor() {
  const input = document.getElementById("import-author");
  if (input.value.trim()) {
    localStorage.setItem("twin.lastAuthor", input.value.trim());
    return false;
  }
  showReport(null, [], "Name the author of what you add.");
  input.focus();
  return true;
}

function showReport(result, localRejections, message) {
  clear(report);
  if (message) {
    report.append(el("div", { class: "notice error", role: "alert" }, message));
    return;
  }
  const rejected = [...localRejections, ...(result ? result.rejected : [])];
  const counts = result ? result : { stored: 0, updated: 0, unchanged: 0 };
  report.append(
    el(
      "div",
      { class: `notice ${rejected.length ? "quota" : "ok"}`, "data-testid": "import-summary" },
      el("strong", {}, "Import report"),
      `stored ${counts.stored}, updated ${counts.updated}, unchanged ${counts.unchanged}, rejected ${rejected.length}`,
    ),
  );
  if (rejected.length) {
    report.append(
      el(
        "table",
        { class: "rejections" },
        el("caption", { class: "visually-hidden" }, "Rejected items and why"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Item"), el("th", { scope: "col" }, "Reason"), el("th", { scope: "col" }, "Detail"))),
        el("tbody", {}, rejected.map((r) => el("tr", {}, el("td", {}, r.external_id), el("td", {}, el("code", {}, r.reason)), el("td", {}, r.detail)))),
      ),
    );
  }
}

async function ingest(documents, localRejections) {
  const { author } = importDefaults();
  const total = { stored: 0, updated: 0, unchanged: 0, rejected: [] };
  try {
    for (const batch of batches(documents)) {
      const result = await api("/v1/documents", { method: "POST", body: { author, documents: batch } });
      total.stored += result.stored;
      total.updated += result.updated;
      total.unchanged += result.unchanged;
      total.rejected.push(...result.rejected);
    }
  } catch (error) {
    clear(report);
    report.append(notice(error));
    return;
  }
  showReport(total, localRejections);
  await refresh();
}

function busy(form, on) {
  for (const button of form.querySelectorAll("button")) button.disabled = on;
  if (on) {
    clear(report);
    report.append(el("p", { class: "meta" }, "Adding…"));
  }
}

document.getElementById("panel-paste").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (needAuthor()) return;
  const form = event.currentTarget;
  const text = document.getElementById("paste-text").value;
  const title = document.getElementById("paste-title").value.trim();
  const { kind, tags } = importDefaults();
  const slug = (title || text.trim().split("\n")[0]).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "untitled";
  const externalId = `pasted/${slug}`;
  busy(form, true);
  if (!text.trim()) {
    showReport({ stored: 0, updated: 0, unchanged: 0, rejected: [] }, [rejection(externalId, "empty", "no text after removing whitespace")]);
  } else {
    await ingest([{ external_id: externalId, kind, title: title || slug, content: text, tags }], []);
    document.getElementById("paste-text").value = "";
    document.getElementById("paste-title").value = "";
  }
  busy(form, false);
});

document.getElementById("panel-files").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (needAuthor()) return;
  const form = event.currentTarget;
  const files = [...document.getElementById("file-input").files];
  if (!files.length) {
    showReport(null, [], "Choose one or more files first.");
    return;
  }
  busy(form, true);
  const documents = [];
  const rejections = [];
  for (const file of files) {
    const read = await readFile(file, importDefaults());
    documents.push(...read.documents);
    rejections.push(...read.rejections);
  }
  if (documents.length) await ingest(documents, rejections);
  else showReport({ stored: 0, updated: 0, unchanged: 0, rejected: [] }, rejections);
  document.getElementById("file-input").value = "";
  busy(form, false);
});

document.getElementById("panel-jsonl").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (needAuthor()) return;
  const form = event.currentTarget;
  busy(form, true);
  const { documents, rejections } = parseJsonl(document.getElementById("jsonl-text").value, importDefaults());
  if (documents.length) await ingest(documents, rejections);
  else showReport({ stored: 0, updated: 0, unchanged: 0, rejected: [] }, rejections);
  busy(form, false);
});

document.getElementById("panel-url").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (needAuthor()) return;
  const form = event.currentTarget;
  const urls = document.getElementById("url-list").value.split(/\s+/).map((u) => u.trim()).filter(Boolean);
  if (!urls.length) {
    showReport(null, [], "Give at least one URL.");
    return;
  }
  busy(form, true);
  try {
    const result = await api("/app/api/imports/urls", { method: "POST", body: { author: importDefaults().author, urls } });
    showReport(result, []);
    await refresh();
  } catch (error) {
    clear(report);
    report.append(notice(error));
  }
  busy(form, false);
});

// --- the documents and their journeys ---------------------------------------------------------------------------
const STEP_LABELS = { stored: "stored", captured: "change captured", indexed: "indexed" };

function journeyCell(journey) {
  const steps = el(
    "ol",
    { class: "journey", "aria-label": `Journey: ${journey.state}` },
    journey.steps.map((step) =>
      el(
        "li",
        { class: step.done ? "done" : "", title: step.at ? when(step.at) : "" },
        step.done ? "✓" : "…",
        " ",
        STEP_LABELS[step.name] || step.name,
        step.name === "indexed" && step.done && journey.chunks ? ` (${journey.chunks} chunk${journey.chunks === 1 ? "" : "s"})` : "",
      ),
    ),
  );
  const notes = [];
  if (journey.state === "indexed" && journey.freshness_s !== null) notes.push(`searchable ${seconds(journey.freshness_s)} after it was stored`);
  if (journey.state === "indexed" && journey.freshness_s === null) notes.push("searchable");
  if (journey.waiting_s !== null && journey.state !== "indexed") notes.push(`waiting ${seconds(journey.waiting_s)}`);
  if (journey.previous_version_indexed) notes.push("the previous version is still what search finds");
  return el(
    "td",
    { class: "journey-cell" },
    el("span", { class: `badge state-${journey.state}`, "data-state": journey.state }, journey.state),
    steps,
    notes.length ? el("span", { class: "journey-note" }, notes.join(" · ")) : null,
  );
}

function documentRow(document) {
  const deleteButton = el("button", { type: "button", class: "danger", "aria-label": `Delete ${document.title || document.external_id}` }, "Delete");
  deleteButton.addEventListener("click", () => remove(document, deleteButton));
  const first = document.journey.state === "indexed" ? el("a", { href: passageHref(document.document_id, 0) }, document.title || document.external_id) : document.title || document.external_id;
  return el(
    "tr",
    { "data-document-id": document.document_id, "data-external-id": document.external_id, "data-state": document.journey.state },
    el(
      "td",
      {},
      el("span", { class: "doc-title" }, first),
      el("span", { class: "doc-id" }, document.external_id),
      el("span", { class: "doc-id" }, `updated ${when(document.updated_at)} · ${document.characters} characters`),
      document.url ? el("a", { href: document.url, rel: "noopener noreferrer", target: "_blank", class: "doc-id" }, "original") : null,
    ),
    el("td", {}, document.author),
    el("td", {}, document.kind, el("br"), document.tags.map((t) => el("span", { class: "tag" }, t))),
    journeyCell(document.journey),
    el("td", {}, deleteButton),
  );
}

async function remove(document, button) {
  if (!confirm(`Delete "${document.title || document.external_id}"? It leaves the index too.`)) return;
  button.disabled = true;
  try {
    await api(`/v1/documents/${encodeURIComponent(document.document_id)}`, { method: "DELETE" });
    document.journey = {
      document_id: document.document_id,
      state: "deleting",
      steps: [
        { name: "deleted", done: true, at: null },
        { name: "captured", done: false, at: null },
        { name: "removed from the index", done: false, at: null },
      ],
    };
    state.deleting.set(document.document_id, document);
    schedule();
    await refresh();
  } catch (error) {
    button.disabled = false;
    clear(report);
    report.append(notice(error));
  }
}

function filters() {
  const params = new URLSearchParams();
  const q = document.getElementById("search").value.trim();
  if (q) params.set("q", q);
  for (const [id, name] of [["filter-author", "author"], ["filter-kind", "kind"], ["filter-tag", "tag"]]) {
    const value = document.getElementById(id).value;
    if (value) params.append(name, value);
  }
  params.set("limit", String(state.limit));
  return params;
}

function fillFacets(facets) {
  const authorSelect = document.getElementById("filter-author");
  const tagSelect = document.getElementById("filter-tag");
  const names = document.getElementById("author-names");
  const keep = [authorSelect.value, tagSelect.value];
  for (const node of [authorSelect, tagSelect]) while (node.options.length > 1) node.remove(1);
  clear(names);
  for (const author of facets.authors) {
    authorSelect.append(el("option", { value: author.id }, `${author.name} (${author.documents})`));
    names.append(el("option", { value: author.name }));
  }
  for (const tag of facets.tags) tagSelect.append(el("option", { value: tag.tag }, `${tag.tag} (${tag.documents})`));
  [authorSelect.value, tagSelect.value] = keep;
}

async function refresh() {
  let library;
  try {
    library = await api(`/app/api/library?${filters()}`);
  } catch (error) {
    clear(table);
    table.append(el("tr", {}, el("td", { colspan: 5 }, notice(error))));
    return;
  }
  fillFacets(library.facets);
  clear(table);
  const shown = new Set();
  for (const document of library.documents) {
    shown.add(document.document_id);
    table.append(documentRow(document));
  }
  for (const [id, document] of state.deleting) {
    if (!shown.has(id)) table.prepend(deletingRow(document));
  }
  document.getElementById("document-count").textContent = `(${library.total})`;
  document.getElementById("no-documents").hidden = library.documents.length > 0 || state.deleting.size > 0;
  document.getElementById("more").hidden = library.documents.length >= library.total;
  const note = document.getElementById("tracker-note");
  note.hidden = library.tracker.running;
  note.textContent = "The journey tracker is not reading Kafka right now: 'change captured' shows once a document is indexed.";
  const travelling = library.documents.some((d) => !["indexed", "deleted"].includes(d.journey.state));
  if (travelling) schedule();
}

function deletingRow(document) {
  const journey = document.journey;
  return el(
    "tr",
    { "data-document-id": document.document_id, "data-external-id": document.external_id, "data-state": journey.state, class: "deleting" },
    el("td", {}, el("span", { class: "doc-title" }, document.title || document.external_id), el("span", { class: "doc-id" }, document.external_id)),
    el("td", {}, document.author),
    el("td", {}, document.kind),
    el(
      "td",
      {},
      el("span", { class: `badge state-${journey.state}`, "data-state": journey.state }, journey.state),
      el("ol", { class: "journey" }, journey.steps.map((s) => el("li", { class: s.done ? "done" : "" }, s.done ? "✓ " : "… ", s.name))),
    ),
    el("td", {}),
  );
}

async function followDeletes() {
  if (!state.deleting.size) return false;
  const ids = [...state.deleting.keys()];
  const params = new URLSearchParams(ids.map((id) => ["id", id]));
  try {
    const { journeys } = await api(`/app/api/journeys?${params}`);
    for (const journey of journeys) {
      const document = state.deleting.get(journey.document_id);
      if (!document) continue;
      document.journey = journey;
      if (journey.state === "deleted") {
        state.deleting.delete(journey.document_id);
        announce(`"${document.title || document.external_id}" was removed from the index.`);
      }
    }
  } catch {
    return true;
  }
  return state.deleting.size > 0;
}

function announce(text) {
  report.append(el("p", { class: "meta", "data-testid": "removed" }, text));
}

function schedule() {
  if (state.polling) return;
  state.polling = setTimeout(async () => {
    state.polling = null;
    const more = await followDeletes();
    await refresh();
    if (more) schedule();
  }, POLL_MS);
}

let searchTimer = null;
document.getElementById("filters").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.limit = PAGE;
    refresh();
  }, 250);
});
document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
document.getElementById("more").addEventListener("click", () => {
  state.limit += PAGE;
  refresh();
});

async function start() {
  await requireSession();
  document.getElementById("import-author").value = localStorage.getItem("twin.lastAuthor") || "";
  await refresh();
}

start();
