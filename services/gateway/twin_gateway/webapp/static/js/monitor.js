// Monitor: the drift reports index and each report's page (in a sandboxed frame), and the alerts, from the monitor
// service read with the caller's own key; a clear state when the monitor is not available.
import { api, apiKey, clear, el, explain, requireSession, when } from "./common.js";

const status = document.getElementById("monitor-status");

function unavailable(reason) {
  status.className = "status";
  clear(status).append(el("div", { class: "notice quota", "data-testid": "monitor-unavailable" }, el("strong", {}, "The monitor is not available"), reason));
}

// a score or threshold as people read it: three significant digits (p-values run to 1e-60)
function figure(value) {
  return typeof value === "number" ? Number(value.toPrecision(3)).toString() : "–";
}

function openReport(report) {
  const view = document.getElementById("report-view");
  view.hidden = false;
  document.getElementById("report-view-title").textContent = `Report of ${when(report.created_at)}`;
  const form = document.getElementById("report-form");
  form.action = `/app/monitor/reports/${encodeURIComponent(report.id)}`;
  form.elements.key.value = apiKey();
  form.submit();
  form.elements.key.value = "";
  view.scrollIntoView({ behavior: "smooth" });
}

async function start() {
  await requireSession();
  status.textContent = "Reading the monitor…";
  try {
    const reports = await api("/app/api/monitor/reports");
    if (!reports.available) {
      unavailable(reports.reason);
      return;
    }
    status.textContent = "";
    const body = document.querySelector("#reports tbody");
    for (const report of reports.reports) {
      const open = el("button", { type: "button", class: "secondary" }, "Open");
      open.addEventListener("click", () => openReport(report));
      body.append(
        el(
          "tr",
          { "data-report": report.id },
          el("td", {}, when(report.created_at)),
          el("td", {}, el("code", {}, report.segment || "–")),
          el("td", { class: "num" }, `${report.current_rows} / ${report.reference_rows}`),
          el("td", {}, report.drifted.length ? el("span", { class: "drift" }, `${report.drifted.length} of ${report.tested}: ${report.drifted.join(", ")}`) : `none of ${report.tested}`),
          el("td", {}, open),
        ),
      );
    }
    document.getElementById("no-reports").hidden = reports.reports.length > 0;
    const alerts = await api("/app/api/monitor/alerts");
    const alertBody = document.querySelector("#alerts tbody");
    for (const alert of alerts.available ? alerts.alerts : []) {
      alertBody.append(
        el(
          "tr",
          {},
          el("td", {}, when(alert.created_at)),
          el("td", {}, el("code", {}, alert.metric)),
          el("td", { class: "num" }, `${figure(alert.score)} / ${figure(alert.threshold)}`),
          el("td", {}, alert.method || ""),
          el("td", {}, el("code", {}, alert.segment || "–")),
        ),
      );
    }
    document.getElementById("no-alerts").hidden = alerts.available && alerts.alerts.length > 0;
  } catch (error) {
    const { title, text } = explain(error);
    status.textContent = `${title}: ${text}`;
    status.className = "status error";
  }
}

document.getElementById("close-report").addEventListener("click", () => {
  document.getElementById("report-view").hidden = true;
  document.getElementById("report-frame").src = "about:blank";
});

start();
