// Models: registered versions with aliases, and for one version its gate table, training curves, dataset sizes per
// curation step and MLflow links (GET /app/api/models, /app/api/models/{name}/versions/{v}).
import { api, clear, el, explain, requireSession, when } from "./common.js";
import { lineChart } from "./chart.js";

const list = document.getElementById("models");
const detail = document.getElementById("version-detail");
const status = document.getElementById("models-status");

function versionsTable(model) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "versions" },
      el("caption", { class: "visually-hidden" }, `Versions of ${model.name}`),
      el(
        "thead",
        {},
        el("tr", {}, ["Version", "Aliases", "Registered", "Author / variant", "Gate", ""].map((h) => el("th", { scope: "col" }, h))),
      ),
      el(
        "tbody",
        {},
        model.versions.map((v) => {
          const open = el("button", { type: "button", class: "secondary", "data-model": model.name, "data-version": v.version }, "Details");
          open.addEventListener("click", () => showVersion(model.name, v.version));
          return el(
            "tr",
            { "data-version": v.version },
            el("td", {}, `v${v.version}`),
            el("td", { class: "aliases" }, v.aliases.map((a) => el("span", { class: "badge" }, a))),
            el("td", {}, when(v.created_at)),
            el("td", {}, [v.tags["twin.author"], v.tags["twin.variant"]].filter(Boolean).join(" · ")),
            el("td", { class: v.tags["twin.gate"] === "champion" ? "gate-pass" : "" }, v.tags["twin.gate"] || ""),
            el("td", {}, open, " ", el("a", { href: v.mlflow_url, target: "_blank", rel: "noopener noreferrer" }, "MLflow")),
          );
        }),
      ),
    ),
  );
}

function gateTable(table) {
  if (!table) return el("p", { class: "meta" }, "No evaluation table was logged for this version.");
  const number = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v ?? "–");
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "gate-table" },
      el("caption", { class: "visually-hidden" }, "Evaluation gate: base vs SFT vs DPO"),
      el("thead", {}, el("tr", {}, table.columns.map((c) => el("th", { scope: "col" }, c.replaceAll("_", " "))))),
      el("tbody", {}, table.rows.map((row) => el("tr", {}, row.map((cell, i) => el(i ? "td" : "th", i ? { class: "num" } : { scope: "row" }, number(cell)))))),
    ),
  );
}

function datasetSteps(steps, counts) {
  if (steps.length) {
    const most = Math.max(...steps.map((s) => s.rows_in || 0), 1);
    return el(
      "ol",
      { class: "bars", "aria-label": "Rows after each curation step" },
      el("li", {}, el("span", {}, "input"), el("meter", { min: 0, max: most, value: steps[0].rows_in, "aria-label": `input: ${steps[0].rows_in} rows` }), el("span", { class: "num" }, steps[0].rows_in)),
      steps.map((s) => {
        const reasons = Object.entries(s.dropped_by_reason || {}).map(([r, n]) => `${r} ${n}`).join(", ");
        return el(
          "li",
          { title: reasons ? `dropped: ${reasons}` : "" },
          el("span", {}, s.step),
          el("meter", { min: 0, max: most, value: s.rows_out, "aria-label": `${s.step}: ${s.rows_out} rows${reasons ? `, dropped ${reasons}` : ""}` }),
          el("span", { class: "num" }, s.rows_out),
        );
      }),
    );
  }
  const entries = Object.entries(counts || {});
  if (!entries.length) return el("p", { class: "meta" }, "No dataset sizes were logged.");
  return el("table", {}, el("tbody", {}, entries.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k.replaceAll("_", " ")), el("td", { class: "num" }, v)))));
}

async function showVersion(name, version) {
  detail.hidden = false;
  clear(detail).append(el("p", { class: "meta" }, `Loading ${name} v${version}…`));
  try {
    const v = await api(`/app/api/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
    clear(detail);
    detail.dataset.model = name;
    detail.dataset.version = version;
    const runs = Object.entries(v.runs || {}).map(([part, run]) => el("li", {}, el("a", { href: run.mlflow_url, target: "_blank", rel: "noopener noreferrer" }, `${part} run ${run.name || run.run_id}`), ` (${run.status.toLowerCase()})`));
    detail.append(
      el("h2", {}, `${name} v${v.version}`, " ", el("span", { class: "aliases" }, v.aliases.map((a) => el("span", { class: "badge" }, a)))),
      el("p", {}, el("a", { href: v.mlflow_url, target: "_blank", rel: "noopener noreferrer", class: "mlflow-link" }, "Open in MLflow"), runs.length ? "" : ""),
      runs.length ? el("ul", { class: "runs" }, runs) : null,
      el("h3", {}, "Evaluation gate"),
      v.gate ? el("p", {}, "Decision: ", el("strong", { class: v.gate === "champion" ? "gate-pass" : "" }, v.gate), v.gate_reason ? ` — ${v.gate_reason}` : "") : null,
      gateTable(v.gate_table),
      el("h3", {}, "Training curve"),
      lineChart(v.curves, { title: `Training loss of ${name} v${v.version}` }),
      el("h3", {}, "Dataset after each curation step"),
      datasetSteps(v.dataset_steps, v.dataset_counts),
    );
    detail.scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (error) {
    const { title, text } = explain(error);
    clear(detail).append(el("div", { class: "notice error", role: "alert" }, el("strong", {}, title), text));
  }
}

async function start() {
  await requireSession();
  status.textContent = "Reading the model registry…";
  try {
    const { models, mlflow_url: mlflowUrl } = await api("/app/api/models");
    status.textContent = "";
    clear(list);
    if (!models.length) {
      list.append(el("p", { class: "empty" }, "No model is registered for your tenant yet. Train your twin with `twin train twin …`."));
    }
    for (const model of models) {
      const aliases = Object.entries(model.aliases).map(([alias, version]) => el("span", { class: "badge" }, `${alias} → v${version}`));
      list.append(
        el(
          "section",
          { class: "card model", "data-model": model.name, "aria-labelledby": `model-${model.name}` },
          el("h2", { id: `model-${model.name}` }, model.name, " ", el("span", { class: "count" }, model.scope === "tenant" ? "your twin" : "platform model")),
          aliases.length ? el("p", { class: "aliases" }, "Aliases: ", aliases) : null,
          versionsTable(model),
        ),
      );
    }
    list.append(el("p", { class: "meta" }, "Everything here comes from ", el("a", { href: mlflowUrl, target: "_blank", rel: "noopener noreferrer" }, "MLflow"), "."));
    const first = models.find((m) => m.scope === "tenant");
    if (first) showVersion(first.name, first.versions[0].version);
  } catch (error) {
    const { title, text } = explain(error);
    status.textContent = `${title}: ${text}`;
    status.className = "status error";
  }
}

start();
