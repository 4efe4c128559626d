// The operator's dashboard: one WebSocket to /ws/admin, figures pushed every second, the
// sessions asked for every two, charts drawn as SVG paths. No libraries, no build step.
// The channel covers the fleet: the tiles chart the node this page talks to, the nodes table
// lists every node's figures and the fleet's totals, the sessions are every node's.

const TOKEN_KEY = "sheetstream.adminToken";
const STATS_INTERVAL_MS = 1000;
const SESSIONS_INTERVAL_MS = 2000;
const HISTORY_MS = 5 * 60 * 1000; // samples kept, and the widest a chart gets
const MIN_SPAN_MS = 30 * 1000; // the narrowest a chart gets, so a fresh one is not a dot
const GAP_MS = 3 * STATS_INTERVAL_MS; // a longer pause between samples breaks the line
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const NOTICE_MS = 6000;
const ARM_MS = 4000;
const CHART_W = 300;
const CHART_H = 72;
const CHART_PAD = 4;
const DASH = "–";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const SVG_NS = "http://www.w3.org/2000/svg";

// --- formatting

function pick(object, path) {
  let value = object;
  for (const key of path.split(".")) {
    if (value === null || value === undefined) return null;
    value = value[key];
  }
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

const fmt = {
  int: (v) => (v === null ? DASH : Math.round(v).toLocaleString("en-US")),
  one: (v) => (v === null ? DASH : v.toFixed(1)),
  two: (v) => (v === null ? DASH : v.toFixed(2)),
  ms: (v) => {
    if (v === null) return DASH;
    if (v < 10) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return Math.round(v).toLocaleString("en-US");
  },
};

function bytes(n) {
  if (n === null || n === undefined) return DASH;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 12)}…` : id;
}

// --- charts

const CHARTS = {
  connections: { series: [{ metric: "connections", path: "connections.active", fmt: fmt.int }], floor: 2, integer: true },
  throughput: { series: [{ metric: "tokens_per_s", path: "throughput_tokens_per_s.last_10s", fmt: fmt.one }], floor: 5 },
  chunk: { series: [{ metric: "tokens_per_chunk", path: "tokens_per_chunk", fmt: fmt.two }], floor: 2 },
  latency: {
    series: [
      { metric: "latency_p50", path: "delivery_latency_ms.last_60s.p50", fmt: fmt.ms },
      { metric: "latency_p99", path: "delivery_latency_ms.last_60s.p99", fmt: fmt.ms },
    ],
    floor: 1,
    unit: " ms",
  },
  ttft: {
    series: [
      { metric: "ttft_p50", path: "time_to_first_token_ms.last_60s.p50", fmt: fmt.ms },
      { metric: "ttft_p99", path: "time_to_first_token_ms.last_60s.p99", fmt: fmt.ms },
    ],
    floor: 10,
    unit: " ms",
  },
};

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function setupCharts() {
  for (const [key, chart] of Object.entries(CHARTS)) {
    const svg = $(`svg[data-chart="${key}"]`);
    for (const fraction of [0, 0.5, 1]) {
      const y = yFor(fraction, 1);
      svg.append(svgElement("line", { class: "grid", x1: 0, x2: CHART_W, y1: y, y2: y }));
    }
    if (chart.series.length === 1) svg.append(svgElement("path", { class: "area s0", d: "" }));
    chart.series.forEach((_, index) => {
      svg.append(svgElement("path", { class: `line s${index}`, d: "", "vector-effect": "non-scaling-stroke" }));
    });
    chart.svg = svg;
    chart.maxLabel = $(".chart-max", svg.parentElement);
    chart.spanLabel = $(".chart-span", svg.parentElement);
  }
}

function yFor(value, max) {
  const usable = CHART_H - 2 * CHART_PAD;
  return (CHART_H - CHART_PAD - (Math.min(value, max) / max) * usable).toFixed(2);
}

function niceCeiling(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function spanLabel(ms) {
  const s = Math.round(ms / 1000);
  return s < 90 ? `last ${s} s` : `last ${Math.round(s / 60)} min`;
}

function drawCharts(now) {
  const samples = state.samples;
  const first = samples.length ? samples[0].t : now;
  const span = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, now - first));
  const start = now - span;
  const xFor = (t) => (((t - start) / span) * CHART_W).toFixed(2);
  for (const chart of Object.values(CHARTS)) {
    let max = 0;
    for (const sample of samples) {
      for (const series of chart.series) {
        const v = sample.values[series.metric];
        if (v !== null && v > max) max = v;
      }
    }
    let ceiling = chart.floor;
    if (max > 0) ceiling = chart.integer ? Math.max(chart.floor, Math.ceil(max * 1.25)) : niceCeiling(max * 1.1);
    chart.series.forEach((series, index) => {
      const segments = [];
      let current = null;
      let lastT = null;
      for (const sample of samples) {
        const v = sample.values[series.metric];
        if (v === null || (lastT !== null && sample.t - lastT > GAP_MS)) current = null;
        lastT = sample.t;
        if (v === null) continue;
        if (current === null) {
          current = [];
          segments.push(current);
        }
        current.push([xFor(sample.t), yFor(v, ceiling)]);
      }
      const line = segments
        .map((points) => {
          // a lone point still shows: a short flat stroke
          const drawn = points.length === 1 ? [points[0], [(+points[0][0] + 2).toFixed(2), points[0][1]]] : points;
          return drawn.map(([x, y], i) => `${i ? "L" : "M"}${x} ${y}`).join("");
        })
        .join("");
      $(`path.line.s${index}`, chart.svg).setAttribute("d", line);
      if (index === 0 && chart.series.length === 1) {
        const base = CHART_H - CHART_PAD;
        const area = segments
          .filter((points) => points.length > 1)
          .map((points) => {
            const body = points.map(([x, y], i) => `${i ? "L" : "M"}${x} ${y}`).join("");
            return `${body}L${points[points.length - 1][0]} ${base}L${points[0][0]} ${base}Z`;
          })
          .join("");
        $("path.area", chart.svg).setAttribute("d", area);
      }
    });
    chart.maxLabel.textContent = `${chart.series[0].fmt(ceiling)}${chart.unit || ""}`;
    chart.spanLabel.textContent = spanLabel(span);
  }
}

// --- state

const state = {
  token: null,
  wanted: false, // the operator wants a live connection (a token was given and not forgotten)
  ws: null,
  everLive: false,
  attempt: 0,
  retryAt: 0,
  retryTimer: null,
  sessionsTimer: null,
  tickTimer: null,
  nextId: 1,
  pending: new Map(),
  samples: [],
  lastStatsAt: 0,
  lastShape: "",
  lastSessionsAsk: 0,
  rows: new Map(),
  nodeRows: new Map(),
};

// --- connection

function adminUrl(token) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/admin?token=${encodeURIComponent(token)}`;
}

function setStatus(kind, text) {
  const status = $("#status");
  status.dataset.state = kind;
  status.textContent = text;
}

function showBanner(text) {
  const banner = $("#connection-message");
  if (text === null) {
    banner.hidden = true;
    return;
  }
  $("#connection-text").textContent = text;
  banner.hidden = false;
}

function start(token) {
  state.token = token;
  state.wanted = true;
  state.everLive = false;
  state.attempt = 0;
  $("#login-message").hidden = true;
  $("#connect").disabled = true;
  open();
}

function open() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  setStatus("connecting", state.everLive ? "Reconnecting…" : "Connecting…");
  let ws;
  try {
    ws = new WebSocket(adminUrl(state.token));
  } catch (error) {
    lost(`Could not open the admin connection: ${error.message}`);
    return;
  }
  state.ws = ws;
  let opened = false;
  ws.addEventListener("open", () => {
    if (state.ws !== ws) return;
    opened = true;
    onOpen();
  });
  ws.addEventListener("message", (event) => {
    if (state.ws === ws) onFrame(event.data);
  });
  ws.addEventListener("close", (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    stopPolling();
    failPending("The admin connection closed before the server answered.");
    if (!state.wanted) return;
    if (opened) {
      lost(`The admin connection dropped (close code ${event.code}${event.reason ? `: ${event.reason}` : ""}).`);
    } else {
      // A handshake the server refuses (HTTP 403) looks like any failed connection to a
      // browser: `close` without `open`. Ask the HTTP side why.
      diagnose(state.token);
    }
  });
}

async function diagnose(token) {
  let verdict = "unreachable";
  try {
    const response = await fetch("/api/admin/sessions", {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    });
    if (response.ok) {
      verdict = "transient";
    } else if (response.status === 401 || response.status === 403) {
      let message = "";
      try {
        message = (await response.json()).message || "";
      } catch {
        message = "";
      }
      verdict = /admin endpoints are off/i.test(message) ? "off" : "refused";
    } else {
      verdict = "transient";
    }
  } catch {
    verdict = "unreachable";
  }
  if (!state.wanted || state.token !== token) return; // the operator moved on meanwhile
  if (verdict === "refused") {
    localStorage.removeItem(TOKEN_KEY);
    askToken(
      "refused",
      "The server refused this token: the admin connection was turned away at the handshake. Check the token and try again.",
    );
  } else if (verdict === "off") {
    askToken(
      "off",
      "The server turned the admin connection away: its admin endpoints are off: set SHEETSTREAM_ADMIN_TOKEN and restart it.",
    );
  } else if (verdict === "unreachable") {
    lost("The server cannot be reached.");
  } else {
    lost("The admin connection failed to open although the server accepts the token.");
  }
}

function lost(why) {
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)];
  const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
  state.attempt += 1;
  state.retryAt = Date.now() + jittered;
  state.retryTimer = setTimeout(open, jittered);
  state.lostWhy = why;
  setStatus("reconnecting", "Reconnecting");
  updateCountdown();
}

function updateCountdown() {
  if (state.retryTimer === null) return;
  const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  const stale = state.lastStatsAt ? ` The figures below are from ${clock(state.lastStatsAt)}.` : "";
  showBanner(`${state.lostWhy} Reconnecting in ${seconds} s (attempt ${state.attempt}).${stale}`);
}

function onOpen() {
  state.attempt = 0;
  state.everLive = true;
  localStorage.setItem(TOKEN_KEY, state.token);
  setStatus("live", "Live");
  showBanner(null);
  $("#login").hidden = true;
  $("#dashboard").hidden = false;
  $("#forget").hidden = false;
  $("#connect").disabled = false;
  send({ type: "stats", interval_ms: STATS_INTERVAL_MS });
  askSessions();
  state.sessionsTimer = setInterval(askSessions, SESSIONS_INTERVAL_MS);
}

function stopPolling() {
  clearInterval(state.sessionsTimer);
  state.sessionsTimer = null;
}

function askToken(kind, message) {
  state.wanted = false;
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.close(1000);
  }
  stopPolling();
  showBanner(null);
  setStatus(kind, kind === "refused" ? "Token refused" : kind === "off" ? "Admin off" : "Not connected");
  $("#dashboard").hidden = true;
  $("#forget").hidden = kind !== "off" && !localStorage.getItem(TOKEN_KEY);
  $("#updated").hidden = true;
  $("#login").hidden = false;
  $("#connect").disabled = false;
  const text = $("#login-message");
  text.textContent = message || "";
  text.dataset.kind = kind;
  text.hidden = !message;
  const input = $("#token");
  input.focus();
  input.select();
}

function forget() {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.samples = [];
  state.lastStatsAt = 0;
  $("#token").value = "";
  askToken("idle", "Token forgotten: it is no longer stored in this browser.");
  $("#forget").hidden = true;
}

function send(frame) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return null;
  const requestId = `a${state.nextId++}`;
  ws.send(JSON.stringify({ ...frame, request_id: requestId }));
  return requestId;
}

function request(frame, onReply) {
  const requestId = send(frame);
  if (requestId === null) {
    onReply({ type: "error", code: "not_connected", message: "Not connected to the server; nothing was sent." });
    return;
  }
  state.pending.set(requestId, onReply);
}

function failPending(message) {
  const waiting = [...state.pending.values()];
  state.pending.clear();
  for (const reply of waiting) reply({ type: "error", code: "closed", message });
}

function onFrame(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  if (frame.type === "stats") {
    onStats(frame);
  } else if (frame.type === "sessions") {
    onSessions(Array.isArray(frame.sessions) ? frame.sessions : []);
  } else if (frame.type === "receipt" || frame.type === "error") {
    const reply = state.pending.get(frame.request_id);
    if (reply) {
      state.pending.delete(frame.request_id);
      reply(frame);
    } else if (frame.type === "error") {
      notice("error", `${frame.code}: ${frame.message}`);
    }
  }
}

// --- figures

function onStats(stats) {
  const now = Date.now();
  const values = {};
  for (const chart of Object.values(CHARTS)) {
    for (const series of chart.series) values[series.metric] = pick(stats, series.path);
  }
  state.samples.push({ t: now, values });
  while (state.samples.length && state.samples[0].t < now - HISTORY_MS) state.samples.shift();
  state.lastStatsAt = now;

  for (const chart of Object.values(CHARTS)) {
    for (const series of chart.series) {
      $(`[data-metric="${series.metric}"]`).textContent = series.fmt(values[series.metric]);
    }
  }
  const sub = (key, text) => {
    $(`[data-sub="${key}"]`).textContent = text;
  };
  sub("connections", `${fmt.int(pick(stats, "connections.total"))} since start · ${fmt.int(pick(stats, "connections.refused"))} refused`);
  sub("throughput", `${fmt.one(pick(stats, "throughput_tokens_per_s.last_60s"))} tok/s over the last minute`);
  const saved = pick(stats, "frames_saved_ratio");
  sub("chunk", saved === null ? "no chunks sent yet" : `${Math.round(saved * 100)}% fewer frames than one per token`);
  const latencySamples = pick(stats, "delivery_latency_ms.last_60s.samples");
  sub("latency", latencySamples ? `over the last minute · ${fmt.int(latencySamples)} chunks` : "no chunks in the last minute");
  const firstSamples = pick(stats, "time_to_first_token_ms.last_60s.samples");
  sub("ttft", firstSamples ? `over the last minute · ${fmt.int(firstSamples)} answers` : "no answers in the last minute");

  const byMode = (stats.streams && stats.streams.active_by_mode) || {};
  const streaming = Object.values(byMode).reduce((a, b) => a + b, 0);
  const modes = Object.entries(byMode).map(([mode, n]) => `${n} ${mode}`).join(", ");
  setFact("streams_active", streaming ? `${streaming} (${modes})` : "0");
  setFact("tokens_sent", fmt.int(pick(stats, "tokens_sent")));
  const depths = Object.values(stats.queue_depth || {});
  setFact("queue_max", depths.length ? fmt.int(Math.max(...depths)) : "0");
  setFact("cancels_resumes", `${fmt.int(pick(stats, "cancels"))} · ${fmt.int(pick(stats, "resumes"))}`);
  setFact("slow_consumers", fmt.int(pick(stats, "slow_consumer_events")));
  const errors = Object.entries(stats.errors_by_code || {});
  const errorsElement = $('[data-metric="errors"]');
  errorsElement.textContent = errors.length ? errors.map(([code, n]) => `${code} ${n}`).join(", ") : "none";
  errorsElement.classList.toggle("bad", errors.length > 0);

  showNodes(stats);
  drawCharts(now);
  tick();

  // When connections or streams come and go, show the table now rather than in up to 2 s.
  const everywhere = stats.fleet || stats;
  const shape = `${pick(everywhere, "connections.active")}/${pick(everywhere, "streams.active") ?? streaming}`;
  if (shape !== state.lastShape) {
    state.lastShape = shape;
    if (Date.now() - state.lastSessionsAsk > 250) askSessions();
  }
}

function setFact(metric, text) {
  $(`[data-metric="${metric}"]`).textContent = text;
}

// --- nodes

function activeStreams(figures) {
  const byMode = (figures.streams && figures.streams.active_by_mode) || {};
  return Object.values(byMode).reduce((a, b) => a + b, 0);
}

function fillNodeRow(row, figures, streams) {
  const put = (field, text) => setText($(`[data-field="${field}"]`, row), text);
  put("connections", fmt.int(pick(figures, "connections.active")));
  put("sessions", fmt.int(pick(figures, "sessions")));
  put("streams", fmt.int(streams));
  put("tokens_per_s", fmt.one(pick(figures, "throughput_tokens_per_s.last_10s")));
  put("tokens_sent", fmt.int(pick(figures, "tokens_sent")));
}

function makeNodeRow(nodeId) {
  const row = document.createElement("tr");
  row.dataset.nodeId = nodeId;
  const name = document.createElement("th");
  name.scope = "row";
  name.dataset.label = "Node";
  name.textContent = nodeId;
  row.append(name);
  for (const [field, label] of [
    ["connections", "Connections"],
    ["sessions", "Sessions"],
    ["streams", "Streaming"],
    ["tokens_per_s", "Tokens/s"],
    ["tokens_sent", "Tokens sent"],
  ]) {
    const td = cell(label, "num");
    td.dataset.field = field;
    td.textContent = DASH;
    row.append(td);
  }
  return row;
}

function showNodes(stats) {
  const here = stats.node || "this node";
  const nodes = stats.nodes && typeof stats.nodes === "object" ? stats.nodes : { [here]: stats };
  const ids = Object.keys(nodes).sort();
  const body = $("#nodes-body");
  ids.forEach((nodeId, index) => {
    let row = state.nodeRows.get(nodeId);
    if (!row) {
      row = makeNodeRow(nodeId);
      state.nodeRows.set(nodeId, row);
    }
    row.dataset.here = nodeId === here ? "1" : "0";
    fillNodeRow(row, nodes[nodeId], activeStreams(nodes[nodeId]));
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
  for (const [nodeId, row] of state.nodeRows) {
    if (!(nodeId in nodes)) {
      row.remove();
      state.nodeRows.delete(nodeId);
    }
  }
  const fleet = stats.fleet || null;
  const total = $("#nodes-total");
  total.hidden = !fleet || ids.length < 2;
  if (fleet) fillNodeRow($("tr", total), fleet, pick(fleet, "streams.active"));
  setFact("node_count", `${ids.length} node${ids.length === 1 ? "" : "s"}`);
  setFact("this_node", here);
  const missing = (fleet && pick(fleet, "missing")) || 0;
  const warning = $("#nodes-missing");
  warning.textContent = missing
    ? `${missing} node${missing === 1 ? "" : "s"} did not answer within a second; the figures leave ${missing === 1 ? "it" : "them"} out.`
    : stats.partial
      ? "The broker is unreachable: these are this node's figures alone."
      : "";
  warning.hidden = !missing && !stats.partial;
}

function tick() {
  const updated = $("#updated");
  if (!state.lastStatsAt || $("#dashboard").hidden) {
    updated.hidden = true;
  } else {
    const age = Math.round((Date.now() - state.lastStatsAt) / 1000);
    updated.textContent = age <= 1 ? `updated ${clock(state.lastStatsAt)}` : `updated ${age} s ago`;
    updated.classList.toggle("stale", age > 3);
    updated.hidden = false;
  }
  updateCountdown();
}

// --- sessions

function askSessions() {
  state.lastSessionsAsk = Date.now();
  send({ type: "sessions" });
}

function cell(label, className) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (className) td.className = className;
  return td;
}

function makeRow(sessionId) {
  const row = document.createElement("tr");
  row.dataset.sessionId = sessionId;
  const owner = cell("Owner", "owner");
  const session = cell("Session", "session");
  const node = cell("Node", "node");
  const nodeName = document.createElement("span");
  const also = document.createElement("span");
  also.className = "also";
  node.append(nodeName, also);
  const code = document.createElement("code");
  code.className = "session-id";
  code.textContent = sessionId;
  code.title = "Use as the broadcast target";
  const workbook = document.createElement("span");
  workbook.className = "workbook";
  session.append(code, workbook);
  const stateCell = cell("State", "state");
  const badge = document.createElement("span");
  badge.className = "badge";
  stateCell.append(badge);
  const connections = cell("Connections", "connections");
  const list = document.createElement("ul");
  connections.append(list);
  const queue = cell("Queue", "num queue");
  const waiting = cell("Waiting", "num waiting");
  const actions = cell("", "actions");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "small";
  cancel.dataset.action = "cancel";
  cancel.textContent = "Cancel";
  cancel.title = "End this session's answer (reason: cancelled)";
  const disconnect = document.createElement("button");
  disconnect.type = "button";
  disconnect.className = "small danger";
  disconnect.dataset.action = "disconnect";
  disconnect.textContent = "Disconnect";
  disconnect.title = "Close every connection of this session (1008)";
  actions.append(cancel, disconnect);
  row.append(owner, session, node, stateCell, connections, queue, waiting, actions);
  row.parts = { owner, workbook, nodeName, also, badge, list, queue, waiting, cancel, disconnect };
  return row;
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function updateRow(row, session) {
  const parts = row.parts;
  setText(parts.owner, session.owner ?? "open");
  parts.owner.title = session.owner ? "" : "No owner: the service runs without user tokens";
  parts.owner.classList.toggle("muted", session.owner === null || session.owner === undefined);
  setText(parts.workbook, session.workbook_id ? `workbook ${session.workbook_id}` : "");
  setText(parts.nodeName, session.node || DASH);
  const others = (session.nodes || []).filter((n) => n !== session.node);
  setText(parts.also, others.length ? `also ${others.join(", ")}` : "");
  setText(parts.badge, session.streaming ? `streaming · ${session.mode}` : "idle");
  parts.badge.dataset.state = session.streaming ? "streaming" : "idle";
  row.dataset.state = session.streaming ? "streaming" : "idle";

  const connections = session.connections || [];
  const spread = new Set(connections.map((c) => c.node)).size > 1;
  const lines = connections.map(
    (c) => `${c.remote || "?"} · ${c.state} · ${duration(c.connected_s)}${spread && c.node ? ` · ${c.node}` : ""}`,
  );
  const items = [...parts.list.children];
  lines.forEach((line, i) => {
    let li = items[i];
    if (!li) {
      li = document.createElement("li");
      parts.list.append(li);
    }
    setText(li, line);
    const c = connections[i];
    li.title = `${c.connection_id}${c.node ? ` on ${c.node}` : ""}${c.owner ? ` · owner ${c.owner}` : ""} · queue ${c.queue_depth} · ${bytes(c.bytes_waiting)} waiting`;
  });
  items.slice(lines.length).forEach((li) => li.remove());
  if (!lines.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "none";
    parts.list.append(li);
  }
  const queue = connections.reduce((sum, c) => sum + (c.queue_depth || 0), 0);
  const waiting = connections.reduce((sum, c) => sum + (c.bytes_waiting || 0), 0);
  setText(parts.queue, String(queue));
  setText(parts.waiting, bytes(waiting));
  parts.queue.classList.toggle("warn", queue > 64);
  parts.waiting.classList.toggle("warn", waiting > 1024 * 1024);

  const cancel = parts.cancel;
  if (cancel.dataset.streamId !== (session.stream_id || "")) {
    cancel.dataset.streamId = session.stream_id || "";
    cancel.disabled = false;
    cancel.textContent = "Cancel";
  }
  cancel.hidden = !session.streaming;
  parts.disconnect.hidden = connections.length === 0;
}

function onSessions(sessions) {
  const body = $("#sessions-body");
  const seen = new Set();
  sessions.forEach((session, index) => {
    seen.add(session.session_id);
    let row = state.rows.get(session.session_id);
    if (!row) {
      row = makeRow(session.session_id);
      state.rows.set(session.session_id, row);
    }
    updateRow(row, session);
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) {
      row.remove();
      state.rows.delete(id);
    }
  }
  $("#sessions-empty").hidden = sessions.length > 0;
  setFact("sessions", String(sessions.length));
  setFact("session_connections", String(sessions.reduce((n, s) => n + (s.connections || []).length, 0)));

  const targets = new Set();
  const mode = $("#broadcast-target").value;
  for (const session of sessions) {
    if (mode === "owner") {
      if (session.owner) targets.add(session.owner);
    } else {
      targets.add(session.session_id);
    }
  }
  const list = $("#known-targets");
  const wanted = [...targets].sort();
  if ([...list.options].map((o) => o.value).join("\n") !== wanted.join("\n")) {
    list.replaceChildren(...wanted.map((value) => Object.assign(document.createElement("option"), { value })));
  }
}

let noticeTimer = null;

function notice(kind, text) {
  const element = $("#action-notice");
  element.textContent = text;
  element.dataset.kind = kind;
  element.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    element.hidden = true;
  }, NOTICE_MS);
}

function onSessionAction(event) {
  const button = event.target.closest("button[data-action]");
  if (button) {
    const row = button.closest("tr");
    const sessionId = row.dataset.sessionId;
    if (button.dataset.action === "cancel") cancelStream(button, sessionId);
    else if (button.dataset.action === "disconnect") disconnect(button, sessionId);
    return;
  }
  const id = event.target.closest("code.session-id");
  if (id) {
    $("#broadcast-target").value = "session";
    syncTarget();
    $("#broadcast-target-value").value = id.textContent;
    $("#broadcast-content").focus();
  }
}

function cancelStream(button, sessionId) {
  const streamId = button.dataset.streamId;
  if (!streamId) return;
  button.disabled = true;
  button.textContent = "Cancelling…";
  request({ type: "cancel", stream_id: streamId }, (reply) => {
    button.disabled = false;
    button.textContent = "Cancel";
    if (reply.type === "receipt") {
      notice("ok", `Cancelled the answer ${shortId(streamId)} of session ${sessionId} (${reply.cancelled} stream).`);
    } else {
      notice("error", `Cancel failed: ${reply.message}`);
    }
    askSessions();
  });
}

function disconnect(button, sessionId) {
  if (button.dataset.armed !== "1") {
    button.dataset.armed = "1";
    button.textContent = "Confirm disconnect";
    clearTimeout(button.armTimer);
    button.armTimer = setTimeout(() => {
      delete button.dataset.armed;
      button.textContent = "Disconnect";
    }, ARM_MS);
    return;
  }
  clearTimeout(button.armTimer);
  delete button.dataset.armed;
  button.disabled = true;
  button.textContent = "Disconnecting…";
  request({ type: "disconnect", session_id: sessionId, reason: "Disconnected by the operator." }, (reply) => {
    button.disabled = false;
    button.textContent = "Disconnect";
    if (reply.type === "receipt") {
      const n = reply.closed;
      notice("ok", `Disconnected session ${sessionId}: closed ${n} connection${n === 1 ? "" : "s"}.`);
    } else {
      notice("error", `Disconnect failed: ${reply.message}`);
    }
    askSessions();
  });
}

// --- broadcast

function syncTarget() {
  const mode = $("#broadcast-target").value;
  $("#broadcast-target-row").hidden = mode === "everyone";
  $("#broadcast-target-label").textContent = mode === "owner" ? "Owner" : "Session id";
  $("#broadcast-target-value").required = mode !== "everyone";
}

function showReceipt(kind, build) {
  const receipt = $("#broadcast-receipt");
  receipt.dataset.kind = kind;
  receipt.replaceChildren(...build());
  receipt.hidden = false;
}

function onBroadcast(event) {
  event.preventDefault();
  const content = $("#broadcast-content").value.trim();
  const level = $("#broadcast-level").value;
  const mode = $("#broadcast-target").value;
  const target = $("#broadcast-target-value").value.trim();
  if (!content) return;
  if (mode !== "everyone" && !target) {
    showReceipt("error", () => [document.createTextNode(`Give the ${mode === "owner" ? "owner" : "session id"} to send to.`)]);
    return;
  }
  const frame = { type: "broadcast", content, level };
  if (mode === "session") frame.session_id = target;
  if (mode === "owner") frame.owner = target;
  const sendButton = $("#broadcast-send");
  sendButton.disabled = true;
  showReceipt("pending", () => [document.createTextNode("Sending…")]);
  const where = mode === "everyone" ? "everyone" : `${mode} ${target}`;
  request(frame, (reply) => {
    sendButton.disabled = false;
    if (reply.type !== "receipt") {
      showReceipt("error", () => [document.createTextNode(`Not sent: ${reply.message}`)]);
      return;
    }
    const number = (metric, value) => {
      const span = document.createElement("strong");
      span.dataset.metric = metric;
      span.textContent = String(value);
      return span;
    };
    const missing = reply.missing || 0;
    const kind = reply.failed || missing ? "warn" : reply.delivered ? "ok" : "warn";
    const nodeCount = Object.keys(reply.nodes || {}).length;
    const across = nodeCount > 1 ? ` on ${nodeCount} nodes` : "";
    const silent = missing ? ` · ${missing} node${missing === 1 ? "" : "s"} did not answer` : "";
    showReceipt(kind, () => [
      document.createTextNode(`${level} to ${where}: delivered to `),
      number("delivered", reply.delivered),
      document.createTextNode(", failed "),
      number("failed", reply.failed),
      document.createTextNode(
        `${across}${silent}${reply.delivered || reply.failed ? ` · ${clock(Date.now())}` : " · nobody was in reach"}`,
      ),
    ]);
    $("#broadcast-content").value = "";
  });
}

// --- start

function main() {
  setupCharts();
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return;
    start(token);
  });
  $("#forget").addEventListener("click", forget);
  $("#reconnect-now").addEventListener("click", () => {
    if (state.wanted && state.retryTimer !== null) open();
  });
  $("#sessions-body").addEventListener("click", onSessionAction);
  $("#broadcast-form").addEventListener("submit", onBroadcast);
  $("#broadcast-target").addEventListener("change", syncTarget);
  syncTarget();
  state.tickTimer = setInterval(tick, 1000);

  const stored = localStorage.getItem(TOKEN_KEY);
  if (stored) {
    $("#token").value = stored;
    $("#forget").hidden = false;
    start(stored);
  } else {
    askToken("idle", "");
  }
}

main();
