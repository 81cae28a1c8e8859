// The service's console: every figure comes from the API; this file only presents it. Data is written with
// textContent (never as HTML), so titles and ids cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2457c5", "#1f7a3f", "#b3261e", "#a06b00", "#6a4fc2", "#00838f", "#5b6475"];
const state = {
  key: sessionStorage.getItem("graphrec-key") || "",
  session: "console-" + Math.random().toString(36).slice(2, 10),
  user: null,
  shown: new Set(),
  picked: new Map(),
  anonymous: null,
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function svgEl(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function describe(data) {
  if (!data || data.detail === undefined) return JSON.stringify(data);
  if (typeof data.detail === "string") return data.detail;
  return data.detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.key) headers["X-API-Key"] = state.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(`${response.status} ${describe(data)}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function report(error) {
  $("error").textContent = error ? error.message : "";
  $("error").hidden = !error;
}

async function guarded(work) {
  report(null);
  try {
    await work();
  } catch (error) {
    report(error);
  }
}

function say(text) {
  $("status").textContent = text;
}

// -- views ------------------------------------------------------------------------------------------------
function select(tab) {
  for (const button of document.querySelectorAll("nav [role=tab]")) {
    const chosen = button === tab;
    button.setAttribute("aria-selected", String(chosen));
    $(button.getAttribute("aria-controls")).hidden = !chosen;
  }
  if (tab.id === "tab-compare") guarded(loadPolicies);
  if (tab.id === "tab-ops") guarded(loadOperations);
}

// -- a slate ----------------------------------------------------------------------------------------------
function renderSlate(list, slate, options = {}) {
  list.replaceChildren();
  for (const item of slate.items) {
    const li = el("li", { "data-item": String(item.item_id) });
    if (options.fresh && !options.fresh.has(String(item.item_id))) li.classList.add("fresh");
    if (options.shared && options.shared.has(String(item.item_id))) li.classList.add("shared");
    li.append(el("div", { class: "title", text: item.title || `item ${item.item_id}` }));
    const meta = el("div", { class: "meta", text: `score ${item.score.toFixed(3)} · id ${item.item_id} ` });
    for (const source of item.sources) meta.append(el("span", { class: "chip", text: source }));
    if (options.shared && options.shared.has(String(item.item_id))) meta.append(el("span", { class: "chip", text: "in both" }));
    li.append(meta);
    const rating = el("select", { "aria-label": `rating for ${item.title || item.item_id}` },
      ...[1, 2, 3, 4, 5].map((v) => el("option", { value: String(v), text: String(v) })));
    rating.value = "5";
    const send = (event, value) => () => guarded(() => sendFeedback(slate, item, event, value, options.after));
    li.append(el("div", { class: "actions" },
      el("button", { type: "button", text: "Like", onclick: send("click") }),
      el("button", { type: "button", text: "Skip", onclick: send("skip") }),
      rating,
      el("button", { type: "button", text: "Rate", onclick: () => send("rating", Number(rating.value))() }),
      el("button", { type: "button", text: "Why", onclick: () => guarded(() => explain(slate.user_id, item)) })));
    list.append(li);
  }
}

async function sendFeedback(slate, item, event, value, after) {
  const body = { session_id: state.session, user_id: slate.user_id, item_id: item.item_id, event, slate_id: slate.slate_id };
  if (value !== undefined) body.value = value;
  await api("POST", "/v1/feedback", body);
  say(`${event} on "${item.title || item.item_id}" recorded`);
  if (after) await after(item);
}

// -- the user view ----------------------------------------------------------------------------------------
let suggestTimer = null;
function suggestUsers(prefix) {
  clearTimeout(suggestTimer);
  if (!prefix) return;
  suggestTimer = setTimeout(async () => {
    try {
      const found = await api("GET", `/v1/users?prefix=${encodeURIComponent(prefix)}&limit=8`);
      $("user-suggestions").replaceChildren(...found.users.map((u) => el("option", { value: String(u) })));
    } catch (error) {
      // Suggestions need the history scope; without it the field still takes an id.
    }
  }, 150);
}

async function loadOverview() {
  const view = await api("GET", "/v1/overview");
  const figure = (name, value) => el("div", {}, el("dt", { text: name }), el("dd", { text: value.toLocaleString() }));
  const kinds = Object.entries(view.entities).map(([kind, n]) => figure(kind, n));
  $("overview-figures").replaceChildren(figure("users", view.users), figure("items", view.items),
    figure("interactions", view.interactions), ...kinds);
  $("overview-served").textContent = `${view.policy} · version ${view.artifact_version || "none"}`;
  const users = view.sample_users.map((u) => el("li", {}, el("a", { href: `?user=${encodeURIComponent(u)}`,
    text: `user ${u}` })));
  $("overview-users").replaceChildren(...(users.length ? users
    : [el("li", { text: "listing users needs a key with the history scope" })]));
}

async function showUser(userId, freshAgainst) {
  state.user = userId;
  $("overview").hidden = true;
  $("user-columns").hidden = false;
  const slate = await api("POST", "/v1/recommend", { user_id: userId, k: 10, session_id: state.session });
  renderSlate($("slate"), slate, { fresh: freshAgainst, after: afterFeedback });
  state.shown = new Set(slate.items.map((i) => String(i.item_id)));
  $("slate-meta").textContent = `${slate.policy} · version ${slate.artifact_version || "none"}`;
  say(`user ${slate.user_id}: ${slate.known_user ? "known to the model" : "cold start"}, ${slate.candidates} candidates`);
  await showHistory(userId);
}

async function showHistory(userId, mustHold) {
  const body = $("history").tBodies[0];
  for (let attempt = 0; attempt < 8; attempt++) {
    let rows;
    try {
      rows = (await api("GET", `/v1/users/${encodeURIComponent(userId)}/history?limit=50`)).items;
    } catch (error) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: error.status === 404 ? "no history in the graph" : error.message })));
      return;
    }
    // Feedback reaches the graph through the stream writer: look again for a moment until the liked item is there.
    if (mustHold === undefined || rows.some((r) => String(r.item_id) === String(mustHold)) || attempt === 7) {
      body.replaceChildren(...rows.map((r) => el("tr", { "data-item": String(r.item_id) },
        el("td", { text: r.title || `item ${r.item_id}` }), el("td", { text: r.behavior || "rated" }),
        el("td", { text: r.rating === null ? "" : String(r.rating) }),
        el("td", { text: new Date(r.last_ts * 1000).toISOString().slice(0, 10) }))));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function afterFeedback(item) {
  await showUser(state.user, new Set(state.shown));
  await showHistory(state.user, item.item_id);
}

// -- explanations ------------------------------------------------------------------------------------------
async function explain(userId, item) {
  const answer = await api("GET", `/v1/explain?user_id=${encodeURIComponent(userId)}&item_id=${encodeURIComponent(item.item_id)}&k=3`);
  $("explanation").hidden = false;
  $("explained-title").textContent = item.title || `item ${item.item_id}`;
  drawPaths($("paths"), answer.paths);
  $("sentences").replaceChildren(...(answer.paths.length ? answer.paths.map((p) => el("li", { text: p.sentence }))
    : [el("li", { text: "no graph path connects them (the item came from the embeddings or popularity)" })]));
  $("explanation").scrollIntoView({ block: "nearest" });
}

function drawPaths(svg, paths) {
  svg.replaceChildren();
  const columns = Math.max(2, ...paths.map((p) => p.nodes.length));
  const nodes = new Map();
  const edges = new Map();
  const place = (path, index, position) => {
    const node = path.nodes[position];
    const last = position === path.nodes.length - 1;
    const key = node.id === null ? `others-${index}-${position}` : `${node.kind}:${node.id}`;
    if (!nodes.has(key)) {
      const column = last ? columns - 1 : position;
      const row = [...nodes.values()].filter((n) => n.column === column).length;
      const label = node.id === null ? "other users" : (node.name || `${node.kind} ${node.id}`);
      nodes.set(key, { column, row, label, kind: position === 0 ? "User" : last ? "target" : node.kind });
    }
    return key;
  };
  paths.forEach((path, index) => {
    let previous = null;
    path.nodes.forEach((_, position) => {
      const key = place(path, index, position);
      if (previous !== null) edges.set(`${previous}>${key}`, { from: previous, to: key, label: path.relationships[position - 1] || "" });
      previous = key;
    });
  });
  const rows = Math.max(1, ...[...nodes.values()].map((n) => n.row + 1));
  const height = 40 + rows * 48;
  svg.setAttribute("viewBox", `0 0 640 ${height}`);
  const at = (n) => ({ x: 70 + n.column * (500 / (columns - 1)), y: 30 + n.row * 48 });
  const labels = [];
  for (const edge of edges.values()) {
    const a = at(nodes.get(edge.from));
    const b = at(nodes.get(edge.to));
    svg.append(svgEl("line", { class: "edge", x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
    // HAS_GENRE -> genre, BY_ARTIST -> artist: the relationship's own word, drawn over the nodes' edges
    const word = edge.label.toLowerCase().replace(/^(has|by|in|of)_/, "").replace(/_/g, " ");
    labels.push(svgEl("text", { class: "edge-label", x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 + 3, "text-anchor": "middle" }, word));
  }
  for (const node of nodes.values()) {
    const { x, y } = at(node);
    const kind = ["User", "Item", "target"].includes(node.kind) ? node.kind : "Entity";
    const group = svgEl("g", { class: "node", "data-kind": node.kind });
    group.append(svgEl("rect", { class: `node-${kind}`, x: x - 55, y: y - 13, width: 110, height: 26, rx: 6 }));
    const text = node.label.length > 17 ? node.label.slice(0, 16) + "…" : node.label;
    group.append(svgEl("text", { x, y: y + 4, "text-anchor": "middle" }, text));
    group.append(svgEl("title", {}, node.label));
    svg.append(group);
  }
  svg.append(...labels);
}

// -- compare -----------------------------------------------------------------------------------------------
async function loadPolicies() {
  const held = await api("GET", "/v1/policies");
  for (const [id, preferred] of [["policy-a", "greedy"], ["policy-b", held.served]]) {
    const chooser = $(id);
    const current = chooser.value;
    chooser.replaceChildren(...held.available.map((p) => el("option", { value: p, text: p === held.served ? `${p} (served)` : p })));
    chooser.value = current && held.available.includes(current) ? current : preferred;
  }
  if ($("policy-a").value === $("policy-b").value && held.available.length > 1) {
    $("policy-b").value = held.available.find((p) => p !== $("policy-a").value);
  }
  if (!$("compare-user").value && state.user !== null) $("compare-user").value = state.user;
}

async function compare() {
  const policies = [$("policy-a").value, $("policy-b").value];
  const answer = await api("POST", "/v1/recommend/compare", { user_id: $("compare-user").value.trim(), policies, k: 10, session_id: state.session });
  const shared = new Set(answer.shared.map(String));
  answer.slates.forEach((slate, i) => {
    $(i === 0 ? "compare-a-title" : "compare-b-title").textContent = slate.policy;
    renderSlate($(i === 0 ? "compare-a" : "compare-b"), slate, { shared, after: () => compare() });
  });
  $("compare-meta").textContent = `${answer.shared.length} of ${answer.slates[0].items.length} items in both slates (marked)`;
}

// -- cold start --------------------------------------------------------------------------------------------
async function findItems() {
  const found = await api("GET", `/v1/items?text=${encodeURIComponent($("item-text").value)}&limit=10`);
  $("found-items").replaceChildren(...found.items.map((item) => el("li", {},
    el("button", { type: "button", text: "Add", "aria-label": `add ${item.title || item.item_id}`, onclick: () => pick(item) }),
    ` ${item.title || item.item_id} `, el("span", { class: "meta", text: `(${item.interactions} users)` }))));
  if (!found.items.length) $("found-items").append(el("li", { text: "no title holds that text" }));
}

function pick(item) {
  state.picked.set(String(item.item_id), item);
  renderPicked();
}

function renderPicked() {
  $("picked").replaceChildren(...[...state.picked.values()].map((item) => el("li", { class: "chip" },
    `${item.title || item.item_id} `,
    el("button", { type: "button", text: "×", "aria-label": `remove ${item.title || item.item_id}`,
      onclick: () => { state.picked.delete(String(item.item_id)); renderPicked(); } }))));
  $("cold-recommend").disabled = state.picked.size === 0;
}

async function coldRecommend() {
  const context = [...state.picked.values()].map((item) => item.item_id);
  const ask = (userId) => api("POST", "/v1/recommend", { user_id: userId, k: 10, session_id: state.session, context_items: context });
  let slate;
  try {  // a user id the graph does not hold, in its id type: integer first, text when the graph's ids are text
    slate = await ask(state.anonymous ?? -Math.floor(1 + Math.random() * 1e9));
  } catch (error) {
    if (error.status !== 422) throw error;
    slate = await ask(`anonymous-${state.session}`);
  }
  state.anonymous = slate.user_id;
  renderSlate($("cold-slate"), slate, {});
  say(`anonymous session: ${slate.items.length} recommendations from ${context.length} picked items`);
}

// -- operations --------------------------------------------------------------------------------------------
async function loadOperations() {
  const ready = await fetch("/readyz").then((r) => r.json());
  $("checks").tBodies[0].replaceChildren(...Object.entries(ready.checks).map(([name, check]) => el("tr", {},
    el("td", { text: name }), el("td", { class: check.ok ? "ok" : "not-ok", text: check.ok ? "ok" : "no" }),
    el("td", { text: check.detail }))));
  const listed = await api("GET", "/v1/admin/versions");
  $("versions").tBodies[0].replaceChildren(...listed.versions.map((v) => el("tr", { "data-version": v.version },
    el("td", { text: v.version }),
    el("td", { text: [v.published ? "published" : "", v.served ? "served" : ""].filter(Boolean).join(", ") || "—" }),
    el("td", { text: v.model || "" }),
    el("td", { text: typeof v["valid_ndcg@10"] === "number" ? v["valid_ndcg@10"].toFixed(4) : "" }),
    el("td", { text: Object.keys(v.policies || {}).join(", ") }),
    el("td", { text: (v.dataset_fingerprint || "").slice(0, 12) }))));
  const served = listed.versions.find((v) => v.served) || listed.versions[0];
  if (served) plotVersion(served);
  showRefresh(await api("GET", "/v1/admin/refresh"));
}

function plotVersion(version) {
  const returns = Object.entries(version.policies || {}).filter(([, r]) => typeof r.evaluation_return === "number")
    .map(([name, r]) => [name, r.evaluation_return]);
  barPlot($("returns-plot"), returns);
  const losses = (version.training && version.training.losses) || [];
  linePlot($("loss-plot"), [{ name: "loss", points: losses.map((v, i) => [i + 1, v]) }], "epoch");
  plotMetrics(Object.fromEntries(Object.entries(version.policies || {})
    .filter(([, r]) => r.metrics && Object.keys(r.metrics).length)));
  const curves = Object.entries(version.policies || {})  // a simulator's curve is over steps, of another return
    .filter(([, r]) => ["logreplay", "gan"].includes(r.env || "logreplay") && Array.isArray(r.curve) && r.curve.length)
    .map(([name, r]) => ({ name, points: r.curve }));
  linePlot($("curve-plot"), curves, "iteration");
  $("curve-legend").replaceChildren(...curves.map((c, i) => {
    const chip = el("li", { class: "chip", text: c.name });
    chip.style.borderColor = COLOURS[i % COLOURS.length];  // CSSOM, not a style attribute: the CSP allows it
    return chip;
  }));
}

// Every metric a training loop logged by name (training/rl/training_log.py), one small plot each.
function plotMetrics(records) {
  const select = $("metrics-policy");
  const previous = select.value;
  const names = Object.keys(records);
  select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  if (names.includes(previous)) select.value = previous;
  const draw = () => {
    const record = records[select.value];
    if (!record) {
      $("metrics-plots").replaceChildren(el("p", { text: "no training metrics recorded for this version" }));
      return;
    }
    $("metrics-plots").replaceChildren(...Object.entries(record.metrics).map(([name, points]) => {
      const svg = svgEl("svg", { class: "plot small", role: "img", "aria-label": name, viewBox: "0 0 640 200" });
      linePlot(svg, [{ name, points }], "updates");
      return el("figure", { "data-metric": name }, el("figcaption", { text: name }), svg);
    }));
  };
  select.onchange = draw;
  draw();
}

function linePlot(svg, series, xLabel) {
  svg.replaceChildren();
  const points = series.flatMap((s) => s.points);
  if (!points.length) {
    svg.append(svgEl("text", { x: 320, y: 100, "text-anchor": "middle" }, "nothing recorded for this version"));
    return;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 60 + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * 560;
  const sy = (y) => 170 - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * 150;
  svg.append(svgEl("line", { class: "axis", x1: 60, y1: 170, x2: 620, y2: 170 }), svgEl("line", { class: "axis", x1: 60, y1: 20, x2: 60, y2: 170 }));
  svg.append(svgEl("text", { x: 56, y: 24, "text-anchor": "end" }, y1.toPrecision(4)), svgEl("text", { x: 56, y: 170, "text-anchor": "end" }, y0.toPrecision(4)));
  svg.append(svgEl("text", { x: 60, y: 188 }, String(x0)), svgEl("text", { x: 620, y: 188, "text-anchor": "end" }, `${x1} ${xLabel}`));
  series.forEach((s, i) => svg.append(svgEl("polyline", { fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2,
    points: s.points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ") })));
}

function barPlot(svg, bars) {
  svg.replaceChildren();
  if (!bars.length) {
    svg.append(svgEl("text", { x: 320, y: 100, "text-anchor": "middle" }, "no policy records in this version"));
    return;
  }
  const values = bars.map(([, v]) => v);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const scale = (v) => 20 + (high === low ? 0.5 : (high - v) / (high - low)) * 150;
  const width = 560 / bars.length;
  svg.append(svgEl("line", { class: "axis", x1: 60, y1: scale(0), x2: 620, y2: scale(0) }));
  bars.forEach(([name, value], i) => {
    const x = 60 + i * width;
    const top = Math.min(scale(value), scale(0));
    svg.append(svgEl("rect", { x: x + width * 0.15, y: top, width: width * 0.7, height: Math.max(1, Math.abs(scale(value) - scale(0))),
      fill: COLOURS[i % COLOURS.length] }));
    svg.append(svgEl("text", { x: x + width / 2, y: 190, "text-anchor": "middle" }, name));
    svg.append(svgEl("text", { x: x + width / 2, y: top - 4, "text-anchor": "middle" }, value.toFixed(3)));
  });
}

function showRefresh(status) {
  const lines = [`running: ${status.running}`, `started: ${status.started || "never"}`, `exit code: ${status.exit_code ?? "—"}`];
  if (status.log_tail) lines.push("", status.log_tail);
  if (status.last_report) lines.push("", "last report:", JSON.stringify(status.last_report, null, 2));
  $("refresh").textContent = lines.join("\n");
}

async function startRefresh() {
  showRefresh(await api("POST", "/v1/admin/refresh", {}));
  while (true) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const status = await api("GET", "/v1/admin/refresh");
    showRefresh(status);
    if (!status.running) break;
  }
  await loadOperations();
}

// -- wiring ------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = state.key;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("api-key").value.trim();
    sessionStorage.setItem("graphrec-key", state.key);
    say(state.key ? "key set for this tab" : "no key: calls go out without one");
    if (!state.user) guarded(loadOverview);
  });
  for (const tab of document.querySelectorAll("nav [role=tab]")) tab.addEventListener("click", () => select(tab));
  $("user-id").addEventListener("input", (event) => suggestUsers(event.target.value.trim()));
  $("compare-user").addEventListener("input", (event) => suggestUsers(event.target.value.trim()));
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => showUser($("user-id").value.trim()));
  });
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(compare);
  });
  $("item-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(findItems);
  });
  $("cold-recommend").addEventListener("click", () => guarded(coldRecommend));
  $("ops-load").addEventListener("click", () => guarded(loadOperations));
  $("ops-reload").addEventListener("click", () => guarded(async () => {
    const answer = await api("POST", "/v1/admin/reload");
    say(answer.error ? `reload refused: ${answer.error}` : `serving ${answer.version}${answer.changed ? " (changed)" : ""}`);
    await loadOperations();
  }));
  $("ops-refresh").addEventListener("click", () => guarded(startRefresh));
  const requested = new URLSearchParams(location.search).get("user");
  if (requested) {
    $("user-id").value = requested;
    guarded(() => showUser(requested));
  } else {
    guarded(loadOverview);
  }
});
