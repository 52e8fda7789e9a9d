// A cited passage as its own page: /app/passage?document=<id>&position=<n> (ids in the URL, never the key).
import { explain, passageHref, requireSession } from "./common.js";
import { loadPassage, passageMeta } from "./passage_view.js";

async function start() {
  await requireSession();
  const params = new URLSearchParams(location.search);
  const documentId = params.get("document") || "";
  const position = Number(params.get("position") || "0");
  const status = document.getElementById("passage-status");
  try {
    const passage = await loadPassage(documentId, position);
    document.getElementById("passage-title").textContent = passage.document.title || passage.document.external_id;
    document.title = `${passage.document.title || "Passage"} · LLM Twin`;
    document.getElementById("passage-meta").textContent = passageMeta(passage);
    document.getElementById("passage-text").textContent = passage.text;
    for (const [id, target] of [["passage-previous", passage.previous], ["passage-next", passage.next]]) {
      const link = document.getElementById(id);
      if (target !== null && target !== undefined) {
        link.href = passageHref(documentId, target);
        link.hidden = false;
      }
    }
  } catch (error) {
    const { title, text } = explain(error);
    status.textContent = `${title}: ${text}`;
    status.className = "status error";
  }
}

start();
