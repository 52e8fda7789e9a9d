import { api, apiKey, explain, signIn } from "./common.js";

const form = document.getElementById("signin-form");
const input = document.getElementById("api-key");
const status = document.getElementById("signin-status");

if (apiKey()) location.replace("/app/");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) {
    status.textContent = "Paste your API key first.";
    status.className = "status error";
    input.focus();
    return;
  }
  status.textContent = "Checking the key…";
  status.className = "status";
  try {
    const session = await api("/app/api/session", { key });
    signIn(key, session);
    input.value = "";
    const next = sessionStorage.getItem("twin.next");
    sessionStorage.removeItem("twin.next");
    location.assign(next && next.startsWith("/app/") && !next.startsWith("/app/signin") ? next : "/app/");
  } catch (error) {
    const { title, text } = explain(error);
    status.textContent = `${title}: ${text}`;
    status.className = "status error";
    input.focus();
  }
});
input.focus();
