// Turning what people add (files, JSONL) into twin.v1 IngestDocuments in the browser, with a rejection and its
// reason for everything that cannot be one - the same reasons `twin ingest` reports (invalid, empty, too_large,
// binary, bad_encoding, unsupported).

export const MAX_DOCUMENT_BYTES = 1_000_000;
const KINDS = ["article", "post", "repository", "note"];
const RECORD_FIELDS = new Set(["id", "content", "kind", "title", "url", "language", "tags", "metadata"]);
const TEXT_TYPES = { ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html" };
const JSONL_TYPES = [".jsonl", ".ndjson"];

export function rejection(externalId, reason, detail) {
  return { external_id: externalId, reason, detail };
}

function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot).toLowerCase();
}

function checkText(text, externalId) {
  if (text.includes("\u0000")) return rejection(externalId, "binary", "contains NUL characters (binary content)");
  if (!text.trim()) return rejection(externalId, "empty", "no text after removing whitespace");
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_DOCUMENT_BYTES) return rejection(externalId, "too_large", `${size} bytes is over the limit of ${MAX_DOCUMENT_BYTES}`);
  return null;
}

/** Front matter (--- key: value ---) and the first "# " heading of Markdown. */
function markdownParts(text) {
  let body = text;
  const meta = {};
  const front = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (front) {
    body = text.slice(front[0].length);
    for (const line of front[1].split(/\r?\n/)) {
      const match = /^([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
      if (match) meta[match[1].toLowerCase()] = match[2].trim().replace(/^["']|["']$/g, "");
    }
  }
  const heading = /^#\s+(.+)$/m.exec(body);
  return { body, title: meta.title || (heading ? heading[1].trim() : ""), meta };
}

function htmlParts(text) {
  const doc = new DOMParser().parseFromString(text, "text/html");
  for (const node of doc.querySelectorAll("script, style, noscript, template")) node.remove();
  const blocks = [];
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) blocks.push(child.textContent);
      else if (child.nodeType === Node.ELEMENT_NODE) {
        const block = /^(P|DIV|BR|LI|H[1-6]|PRE|TR|SECTION|ARTICLE|BLOCKQUOTE|HEADER|FOOTER|TABLE|UL|OL)$/.test(child.tagName);
        if (block) blocks.push("\n");
        walk(child);
        if (block) blocks.push("\n");
      }
    }
  };
  if (doc.body) walk(doc.body);
  const body = blocks.join("").replace(/[ \t]+/g, " ").replace(/\n\s*\n+/g, "\n\n").trim();
  return { body, title: (doc.title || "").trim() };
}

/** One file (File object) -> {documents, rejections}. */
export async function readFile(file, defaults) {
  const name = file.webkitRelativePath || file.name;
  const ext = extension(name);
  if (JSONL_TYPES.includes(ext)) return parseJsonl(await decode(file, name), defaults, name);
  if (!TEXT_TYPES[ext]) {
    return { documents: [], rejections: [rejection(name, "unsupported", `file type ${ext || "(none)"} is not one of .htm, .html, .jsonl, .markdown, .md, .ndjson, .txt`)] };
  }
  if (file.size > MAX_DOCUMENT_BYTES) {
    return { documents: [], rejections: [rejection(name, "too_large", `${file.size} bytes is over the limit of ${MAX_DOCUMENT_BYTES}`)] };
  }
  let text;
  try {
    text = await decode(file, name);
  } catch (problem) {
    return { documents: [], rejections: [problem] };
  }
  let parts = { body: text, title: "" };
  let kind = defaults.kind;
  if (TEXT_TYPES[ext] === "markdown") {
    parts = markdownParts(text);
    if (parts.meta.kind) {
      if (!KINDS.includes(parts.meta.kind)) {
        return { documents: [], rejections: [rejection(name, "invalid", `front matter kind '${parts.meta.kind}' is not one of ${KINDS.join(", ")}`)] };
      }
      kind = parts.meta.kind;
    }
  } else if (TEXT_TYPES[ext] === "html") parts = htmlParts(text);
  const problem = checkText(parts.body, name);
  if (problem) return { documents: [], rejections: [problem] };
  const stem = name.split("/").pop().replace(/\.[^.]+$/, "");
  return {
    documents: [{ external_id: name, kind, title: parts.title || stem, content: parts.body, tags: defaults.tags }],
    rejections: [],
  };
}

async function decode(file, name) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.slice(0, 8192).includes(0)) throw rejection(name, "binary", "contains NUL bytes (binary content)");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw rejection(name, "bad_encoding", "not valid UTF-8");
  }
}

/** JSONL text -> {documents, rejections}: one document per line, each line's problem its own rejection. */
export function parseJsonl(text, defaults, source = "jsonl") {
  const documents = [];
  const rejections = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const number = index + 1;
    if (!raw.trim()) return;
    let record;
    try {
      record = JSON.parse(raw);
    } catch (error) {
      rejections.push(rejection(`${source}:line ${number}`, "invalid", `line ${number}: not JSON (${error.message})`));
      return;
    }
    const id = record && typeof record === "object" && typeof record.id === "string" && record.id ? record.id : `${source}:line ${number}`;
    const problem = checkRecord(record, number);
    if (problem) {
      rejections.push(rejection(id, "invalid", problem));
      return;
    }
    const textProblem = checkText(record.content, id);
    if (textProblem) {
      rejections.push(textProblem);
      return;
    }
    documents.push({
      external_id: record.id,
      kind: record.kind || defaults.kind,
      title: record.title || "",
      url: record.url || "",
      language: record.language || "",
      content: record.content,
      tags: record.tags && record.tags.length ? record.tags : defaults.tags,
      metadata: Object.fromEntries(Object.entries(record.metadata || {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
    });
  });
  return { documents, rejections };
}

function checkRecord(record, number) {
  const at = `line ${number}`;
  if (!record || typeof record !== "object" || Array.isArray(record)) return `${at}: record: must be a JSON object`;
  const unknown = Object.keys(record).filter((k) => !RECORD_FIELDS.has(k));
  if (unknown.length) return `${at}: ${unknown[0]}: extra fields not permitted`;
  if (typeof record.id !== "string" || !record.id) return `${at}: id: a non-empty string is required`;
  if (typeof record.content !== "string") return `${at}: content: a string is required`;
  if (record.kind !== undefined && !KINDS.includes(record.kind)) return `${at}: kind: must be one of ${KINDS.join(", ")}`;
  for (const field of ["title", "url", "language"]) {
    if (record[field] !== undefined && record[field] !== null && typeof record[field] !== "string") return `${at}: ${field}: must be a string`;
  }
  if (record.tags !== undefined && (!Array.isArray(record.tags) || record.tags.some((t) => typeof t !== "string" || !t))) {
    return `${at}: tags: must be a list of non-empty strings`;
  }
  if (record.metadata !== undefined && (typeof record.metadata !== "object" || record.metadata === null || Array.isArray(record.metadata))) {
    return `${at}: metadata: must be an object`;
  }
  return null;
}

/** Documents in requests of at most `maxDocuments` and about `maxBytes` of JSON each. */
export function batches(documents, maxDocuments = 500, maxBytes = 1_500_000) {
  const out = [];
  let current = [];
  let size = 0;
  for (const document of documents) {
    const bytes = new TextEncoder().encode(JSON.stringify(document)).length;
    if (current.length && (current.length >= maxDocuments || size + bytes > maxBytes)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(document);
    size += bytes;
  }
  if (current.length) out.push(current);
  return out;
}
