// tinyexperts console: plain JavaScript, no build step, no external files.
// Every string from the server is put into the page with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

async function getJSON(path, options) {
  const r = await fetch(path, options);
  let body = {};
  try { body = await r.json(); } catch (e) { body = {}; }
  if (!r.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    throw new Error(`${r.status}: ${detail}`);
  }
  return body;
}

function fmt(ms) { return typeof ms === "number" ? ms.toFixed(1) : "–"; }

// ---- experts -------------------------------------------------------------------------

async function refresh() {
  try {
    const health = await getJSON("/healthz");
    $("status").textContent = health.status;
    $("status").className = "pill " + (health.status === "ok" ? "ok" : "bad");
    $("router").textContent = `router: ${health.router}`;
    $("llm").textContent = `graph LLM: ${health.llm}`;
    const list = await getJSON("/v1/experts");
    const body = $("experts").querySelector("tbody");
    body.replaceChildren();
    for (const e of list.experts) body.appendChild(expertRow(e));
  } catch (err) {
    $("status").textContent = `unreachable (${err.message})`;
    $("status").className = "pill bad";
  }
}

function expertRow(e) {
  const live = e.live || {};
  const health = e.ready ? (e.last_error ? `ready (${e.last_error})` : "ready") : `not ready${e.last_error ? ": " + e.last_error : ""}`;
  const pick = document.createElement("select");
  pick.dataset.expert = e.expert;
  for (const v of (e.versions || [])) {
    const opt = el("option", v);
    opt.value = v;
    if (v === e.version) opt.selected = true;
    pick.appendChild(opt);
  }
  const buttons = document.createElement("span");
  const activate = el("button", "activate");
  activate.dataset.action = "activate";
  activate.dataset.expert = e.expert;
  activate.addEventListener("click", () => admin(e.expert, "activate", pick.value));
  const rollback = el("button", "roll back");
  rollback.dataset.action = "rollback";
  rollback.dataset.expert = e.expert;
  rollback.addEventListener("click", () => admin(e.expert, "rollback"));
  buttons.append(activate, rollback);
  const tr = row([e.expert, e.version || "none", e.backend || "", e.replicas ?? "?", health,
                  live.n ? `${fmt(live.p50_ms)} / ${fmt(live.p99_ms)}` : "–", live.n || 0,
                  pick, buttons]);
  tr.dataset.expert = e.expert;
  tr.dataset.version = e.version || "";
  return tr;
}

async function admin(expert, action, version) {
  const out = $("admin-result");
  const token = $("token").value;
  if (!token) { out.textContent = "enter the admin token first"; out.className = "error"; return; }
  out.textContent = `${action} ${expert}…`;
  out.className = "muted";
  try {
    const r = await getJSON(`/v1/experts/${encodeURIComponent(expert)}/${action}`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": `Bearer ${token}`},
      body: action === "activate" ? JSON.stringify({version}) : "{}",
    });
    out.textContent = `${expert}: ${r.active} is live (was ${r.previous})`;
    out.className = "ok-text";
  } catch (err) {
    out.textContent = `${expert}: ${err.message}`;
    out.className = "error";
  }
  refresh();
}

// ---- queries -------------------------------------------------------------------------

function topAnswer(result) {
  if (result.error) return result.error;
  const p = (result.predictions || [])[0];
  if (!p) return "";
  if (p.entities) return p.entities.map((x) => `${x.type}: ${x.text}`).join("; ") || "(no entities)";
  const text = p.description ? `${p.label} — ${p.description}` : p.label;
  return `${text} (${typeof p.score === "number" ? p.score.toFixed(2) : p.score})`;
}

async function ask(event) {
  event.preventDefault();
  const text = $("query").value;
  $("query-error").hidden = true;
  try {
    const r = await getJSON("/v1/query", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text}),
    });
    $("asked").textContent = text;
    show(r);
  } catch (err) {
    $("answer").hidden = true;
    $("query-error").textContent = err.message;
    $("query-error").hidden = false;
  }
}

function show(r) {
  $("answer").hidden = false;
  $("answer-text").textContent = r.answer || "(no composed answer; see the experts below)";
  const route = r.route || {};
  const lines = [["routed by", route.source], ["decision", route.decision],
                 ["experts", (route.experts || []).join(", ") || "none"],
                 ["confidence", route.confidence], ["exit layer", route.exit_layer !== undefined ? `${route.exit_layer} of ${route.layers}` : undefined],
                 ["intent", route.intent], ["total ms", fmt((r.latency_ms || {}).total)]];
  const body = $("route").querySelector("tbody");
  body.replaceChildren();
  for (const [k, v] of lines) if (v !== undefined && v !== null) body.appendChild(row([k, v]));
  const results = $("results").querySelector("tbody");
  results.replaceChildren();
  for (const [name, res] of Object.entries(r.results || {})) {
    const tr = row([name, res.version, res.status, fmt(res.latency_ms), topAnswer(res)]);
    tr.dataset.expert = name;
    results.appendChild(tr);
  }
  const llm = route.llm && typeof route.llm === "object" ? route.llm : null;
  $("llm-title").hidden = !llm;
  $("llm-used").textContent = llm ? `entities: ${(llm.entities || []).join(", ") || "none"}; prompt tokens: ${llm.prompt_tokens}` : "";
  const facts = $("facts");
  facts.replaceChildren();
  for (const f of r.facts || []) facts.appendChild(el("li", `${f.text} [${f.source}]`));
}

$("query-form").addEventListener("submit", ask);
refresh();
setInterval(refresh, 5000);
