// The cited passage in a dialog (chat), loaded from /app/api/documents/{id}/passages/{n}.
import { api, clear, el, explain, passageHref } from "./common.js";

export async function loadPassage(documentId, position) {
  return api(`/app/api/documents/${encodeURIComponent(documentId)}/passages/${encodeURIComponent(position)}`);
}

export function passageMeta(passage) {
  const d = passage.document;
  return `${d.author} · ${d.kind} · passage ${passage.position + 1} of ${passage.passages}`;
}

export async function showPassage(documentId, position, title) {
  const dialog = document.getElementById("passage-dialog");
  const body = clear(document.getElementById("passage-dialog-body"));
  document.getElementById("passage-dialog-title").textContent = title || "Cited passage";
  body.append(el("p", { class: "meta", role: "status" }, "Loading the passage…"));
  if (!dialog.open) dialog.showModal();
  try {
    const passage = await loadPassage(documentId, position);
    clear(body);
    body.append(
      el("p", { class: "meta" }, passageMeta(passage)),
      el("blockquote", { class: "passage-text", "data-document": documentId }, passage.text),
      el(
        "p",
        {},
        el("a", { href: passageHref(documentId, position) }, "Open as a page"),
        passage.document.url ? " · " : "",
        passage.document.url ? el("a", { href: passage.document.url, rel: "noopener noreferrer", target: "_blank" }, "Original") : "",
      ),
    );
  } catch (error) {
    clear(body);
    const { title: heading, text } = explain(error);
    body.append(el("div", { class: "notice error", role: "alert" }, el("strong", {}, heading), text));
  }
}
