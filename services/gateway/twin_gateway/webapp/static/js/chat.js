// Chat: answers stream in over Server-Sent Events (POST /v1/ask/stream read with fetch), citations open the cited
// passage, feedback goes to POST /v1/feedback, guardrail blocks and retractions are explained, cache hits marked.
import { ApiError, api, apiKey, clear, el, errorFrom, explain, notice, passageHref, requireSession } from "./common.js";
import { showPassage } from "./passage_view.js";

const HISTORY_KEY = "twin.chat.history";
const HISTORY_TURNS = 8; // earlier turns sent along as context

const form = document.getElementById("ask-form");
const question = document.getElementById("question");
const messages = document.getElementById("messages");
const empty = document.getElementById("empty-chat");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const routeSelect = document.getElementById("route");
const authorSelect = document.getElementById("author");
let running = null; // the AbortController of the answer on its way

function history() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
  } catch {
    return [];
  }
}

function remember(turns) {
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(turns.slice(-2 * HISTORY_TURNS)));
}

const conversation = document.querySelector(".conversation");

function scrollToEnd() {
  conversation.scrollTop = conversation.scrollHeight;
}

/** While an answer streams, follow it - unless the reader scrolled up to read something else. */
function followIfAtEnd() {
  if (conversation.scrollHeight - conversation.scrollTop - conversation.clientHeight < 120) scrollToEnd();
}

/** The answer's text with its [n] markers as links to the cited passages. */
function renderAnswer(node, text, citations) {
  clear(node);
  const byNumber = new Map(citations.map((c) => [String(c.number), c]));
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byNumber.get(match[1]);
    if (!citation) continue;
    node.append(text.slice(last, match.index));
    node.append(citationLink(citation, `[${match[1]}]`, "cite-ref", `Source ${match[1]}: ${citation.title || "untitled"}`));
    last = match.index + match[0].length;
  }
  node.append(text.slice(last));
}

function citationLink(citation, label, className, ariaLabel) {
  const link = el(
    "a",
    {
      href: passageHref(citation.document_id, citation.position),
      class: className,
      "aria-label": ariaLabel,
      "data-document": citation.document_id,
      "data-position": citation.position,
    },
    label,
  );
  link.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab: the page
    event.preventDefault();
    showPassage(citation.document_id, citation.position, citation.title);
  });
  return link;
}

function citationList(citations) {
  if (!citations.length) return null;
  return el(
    "ol",
    { class: "citations", "aria-label": "Sources" },
    citations.map((c) =>
      el(
        "li",
        { value: c.number },
        citationLink(c, c.title || c.url || "untitled", "citation", null),
        c.url ? el("span", { class: "meta" }, " · ", el("a", { href: c.url, rel: "noopener noreferrer", target: "_blank" }, "original")) : null,
      ),
    ),
  );
}

function versionLabel(version) {
  if (!version) return "";
  return /^\d+$/.test(version) ? ` v${version}` : ` (${version})`;
}

function metaLine(final, timings) {
  const parts = [];
  if (final.cache_hit) {
    const similarity = final.cache_kind === "semantic" && final.cache_similarity ? `, similarity ${final.cache_similarity.toFixed(2)}` : "";
    parts.push(el("span", { class: "badge cache", "data-cache": final.cache_kind }, `cached answer (${final.cache_kind}${similarity})`));
  }
  if (final.model) parts.push(el("span", {}, `model ${final.model}${versionLabel(final.model_version)}`));
  if (final.route) parts.push(el("span", {}, `route ${final.route}`));
  if (final.intent) parts.push(el("span", {}, final.intent.replaceAll("_", " ")));
  if (timings.firstToken !== null) parts.push(el("span", {}, `first words after ${(timings.firstToken / 1000).toFixed(1)} s`));
  parts.push(el("span", {}, `${(timings.total / 1000).toFixed(1)} s`));
  return el("div", { class: "answer-meta" }, parts);
}

function feedbackControls(requestId) {
  const status = el("span", { class: "status feedback-status", role: "status", "aria-live": "polite" });
  const up = el("button", { type: "button", class: "secondary", "aria-pressed": "false", "data-rating": "1" }, "✓ Helpful");
  const down = el("button", { type: "button", class: "secondary", "aria-pressed": "false", "data-rating": "-1" }, "✗ Not helpful");
  const correct = el("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Correct this answer");
  const correctionText = el("textarea", { rows: 3, class: "correction-text", "aria-label": "The corrected answer" });
  const correctionSend = el("button", { type: "submit", class: "primary" }, "Send correction");
  const correction = el(
    "form",
    { class: "correction", hidden: true },
    el("label", {}, "What should the answer have been?", correctionText),
    correctionSend,
  );

  async function send(rating, correctedAnswer) {
    status.textContent = "Sending…";
    try {
      await api("/v1/feedback", {
        method: "POST",
        body: { request_id: requestId, rating, comment: "", corrected_answer: correctedAnswer || "" },
      });
      status.textContent = correctedAnswer ? "Thanks: your correction was sent." : "Thanks: feedback sent.";
      return true;
    } catch (error) {
      const { title, text } = explain(error);
      status.textContent = `${title}: ${text}`;
      return false;
    }
  }

  for (const button of [up, down]) {
    button.addEventListener("click", async () => {
      const rating = Number(button.dataset.rating);
      if (await send(rating, "")) {
        up.setAttribute("aria-pressed", String(rating === 1));
        down.setAttribute("aria-pressed", String(rating === -1));
      }
    });
  }
  correct.addEventListener("click", () => {
    correction.hidden = !correction.hidden;
    correct.setAttribute("aria-expanded", String(!correction.hidden));
    if (!correction.hidden) correctionText.focus();
  });
  correction.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = correctionText.value.trim();
    if (!text) {
      correctionText.focus();
      return;
    }
    if (await send(-1, text)) {
      correction.hidden = true;
      correct.setAttribute("aria-expanded", "false");
    }
  });
  return el("div", { class: "feedback", role: "group", "aria-label": "Rate this answer" }, up, down, correct, status, correction);
}

function addMessage(role, text) {
  empty.hidden = true;
  const item = el("li", { class: `message ${role}` });
  if (role === "user") item.append(text);
  messages.append(item);
  return item;
}

/** Server-Sent Events from a fetch body: yields {event, data}. */
async function* serverSentEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

function options() {
  const filters = {};
  if (authorSelect.value) filters.author_ids = [authorSelect.value];
  const kind = document.getElementById("kind").value;
  if (kind) filters.kinds = [kind];
  const tag = document.getElementById("tag").value.trim();
  if (tag) filters.tags = [tag];
  return {
    filters,
    generation: { max_tokens: Number(document.getElementById("max-tokens").value), model: routeSelect.value || "" },
    bypass_cache: document.getElementById("bypass-cache").checked,
  };
}

async function ask(text) {
  const turns = history();
  addMessage("user", text);
  const item = addMessage("twin");
  item.dataset.state = "waiting";
  const answer = el("div", { class: "answer streaming" });
  item.append(answer);
  scrollToEnd();
  running = new AbortController();
  sendButton.disabled = true;
  stopButton.hidden = false;
  const started = performance.now();
  const timings = { firstToken: null, total: 0 };
  let received = "";
  let final = null;
  try {
    const response = await fetch("/v1/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", Authorization: `Bearer ${apiKey()}` },
      body: JSON.stringify({ question: text, history: turns.slice(-2 * HISTORY_TURNS), ...options() }),
      signal: running.signal,
    });
    if (!response.ok) throw await errorFrom(response);
    item.dataset.state = "streaming";
    for await (const { event, data } of serverSentEvents(response)) {
      if (event === "error") throw new ApiError(data.error && data.error.code === "RESOURCE_EXHAUSTED" ? 429 : 500, data, null);
      if (!data.done) {
        if (timings.firstToken === null) timings.firstToken = performance.now() - started;
        received += data.delta;
        answer.textContent = received;
        followIfAtEnd();
        item.dataset.requestId = data.request_id;
      } else {
        final = data;
      }
    }
    timings.total = performance.now() - started;
    answer.classList.remove("streaming");
    if (!final) throw new Error("the answer ended before its last chunk");
    item.dataset.requestId = final.request_id;
    if (final.retracted) {
      item.dataset.state = "retracted";
      const rail = (final.guardrails || []).find((g) => g.decision === "retract");
      clear(answer);
      item.replaceChild(
        el(
          "div",
          { class: "notice retracted", role: "alert" },
          el("strong", {}, "Answer withdrawn by a guardrail"),
          `The output rail ${rail ? rail.rail : ""} retracted this answer while it was being written, so it is not shown.`,
        ),
        answer,
      );
    } else {
      item.dataset.state = "done";
      renderAnswer(answer, received, final.citations || []);
      const list = citationList(final.citations || []);
      if (list) item.append(list);
      remember([...turns, { role: "user", content: text }, { role: "assistant", content: received }]);
    }
    item.append(metaLine(final, timings));
    if (final.request_id) item.append(feedbackControls(final.request_id));
  } catch (error) {
    answer.classList.remove("streaming");
    if (error.name === "AbortError") {
      item.dataset.state = "stopped";
      item.append(el("p", { class: "meta" }, "Stopped."));
    } else {
      const { kind } = explain(error);
      item.dataset.state = kind === "blocked" ? "blocked" : kind === "quota" ? "quota" : "error";
      if (!received) answer.remove();
      item.append(notice(error));
    }
  } finally {
    running = null;
    sendButton.disabled = false;
    stopButton.hidden = true;
    scrollToEnd();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (!text || running) return;
  question.value = "";
  ask(text);
});
question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
stopButton.addEventListener("click", () => running?.abort());
document.getElementById("new-chat").addEventListener("click", () => {
  sessionStorage.removeItem(HISTORY_KEY);
  clear(messages);
  empty.hidden = false;
  question.focus();
});

async function start() {
  const session = await requireSession();
  for (const route of session.routes) {
    routeSelect.append(el("option", { value: route.id, selected: route.default }, route.description ? `${route.id} — ${route.description}` : route.id));
  }
  if (!session.routes.length) routeSelect.append(el("option", { value: "" }, "no route for this key"));
  if (session.scopes.includes("search") || session.scopes.includes("admin")) {
    try {
      const library = await api("/app/api/library?limit=0");
      for (const author of library.facets.authors) authorSelect.append(el("option", { value: author.id }, author.name));
      const tags = document.getElementById("tag-list");
      for (const tag of library.facets.tags) tags.append(el("option", { value: tag.tag }));
    } catch {
      // filters stay "any": the chat works without them
    }
  }
  const turns = history();
  for (let i = 0; i + 1 < turns.length; i += 2) {
    addMessage("user", turns[i].content);
    const item = addMessage("twin");
    item.dataset.state = "earlier";
    item.append(el("div", { class: "answer" }, turns[i + 1].content));
  }
  question.focus();
}

start();
