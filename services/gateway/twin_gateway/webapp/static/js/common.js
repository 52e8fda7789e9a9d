// Shared by every page: the API key in sessionStorage (never in a URL), calls to the gateway, errors people can
// read, and a tiny DOM builder (text only: nothing from the server or the model is parsed as HTML).

const KEY = "twin.apiKey";
const SESSION = "twin.session";

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function signIn(key, session) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(SESSION, JSON.stringify(session));
}

export function signOut() {
  sessionStorage.clear(); // the key, and the conversation kept for this tab
  location.assign("/app/signin");
}

export function cachedSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

/** The session of the signed-in key, or a redirect to the sign-in page (coming back here afterwards). */
export async function requireSession() {
  if (!apiKey()) {
    sessionStorage.setItem("twin.next", location.pathname + location.search + location.hash);
    location.replace("/app/signin");
    return new Promise(() => {});
  }
  let session = cachedSession();
  try {
    session = await api("/app/api/session");
    sessionStorage.setItem(SESSION, JSON.stringify(session));
  } catch (error) {
    if (error.status === 401) {
      signOut();
      return new Promise(() => {});
    }
    if (!session) throw error;
  }
  const who = document.getElementById("who");
  if (who) {
    document.getElementById("tenant-label").textContent = session.tenant_id;
    document.getElementById("sign-out").addEventListener("click", signOut);
    who.hidden = false;
  }
  return session;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.reason = error.reason || "";
    this.field = error.field || "";
    this.retryAfter = retryAfter;
  }
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers.get("Retry-After"));
}

/** JSON from the gateway with the key as a bearer token; throws ApiError on a refusal. */
export async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = options.key || apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body = options.body;
  if (body !== undefined && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body, signal: options.signal });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** What a refusal means, in words: guardrail blocks, quotas, keys, bad input. */
export function explain(error) {
  if (!(error instanceof ApiError)) {
    return { kind: "error", title: "Something went wrong", text: String(error && error.message ? error.message : error) };
  }
  if (error.code === "FAILED_PRECONDITION" || error.reason === "content_filter") {
    return {
      kind: "blocked",
      title: "Blocked by a guardrail",
      text: `${error.message}. Nothing was sent to the model; rephrase the request without it.`,
    };
  }
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    return { kind: "quota", title: "Quota reached", text: `${error.message}.${wait}` };
  }
  if (error.status === 401) return { kind: "error", title: "Your key was refused", text: error.message };
  if (error.status === 403) return { kind: "error", title: "Not allowed with this key", text: error.message };
  if (error.status === 400 || error.status === 413) {
    return { kind: "error", title: "The request was refused", text: error.message };
  }
  if (error.status === 503) return { kind: "error", title: "Temporarily unavailable", text: error.message };
  return { kind: "error", title: `Error ${error.status}`, text: error.message };
}

export function notice(error) {
  const { kind, title, text } = explain(error);
  return el("div", { class: `notice ${kind}`, role: "alert" }, el("strong", {}, title), text);
}

/** el("a", {href: "/x", class: "y"}, "text", child...) - attributes set as attributes, children as text/nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function seconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 90) return `${value.toFixed(1)} s`;
  return `${Math.round(value / 60)} min`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(typeof iso === "number" ? iso : iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function passageHref(documentId, position) {
  const params = new URLSearchParams({ document: documentId, position: String(position) });
  return `/app/passage?${params}`;
}
