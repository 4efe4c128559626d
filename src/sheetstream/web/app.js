// The chat page: one WebSocket to the session, answers rendered as they stream, workbooks
// uploaded with progress, and a connection that comes back by itself and resumes the answer
// where it stopped. Speaks the wire protocol of docs/protocol.md; nothing else.

import { escapeHtml, markNumbers, renderMarkdown } from "./markdown.js";

const $ = (id) => document.getElementById(id);
const store = {
  get: (key) => localStorage.getItem(`sheetstream.${key}`),
  set: (key, value) =>
    value == null ? localStorage.removeItem(`sheetstream.${key}`) : localStorage.setItem(`sheetstream.${key}`, value),
};

const PING_EVERY_MS = 25_000; // well inside the server's idle timeout; the first ping meets its first-message deadline
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

const state = {
  token: store.get("token") || "",
  sessionId: new URLSearchParams(location.search).get("session") || store.get("session") || null,
  workbook: null,
  ws: null,
  attempt: 0,
  everConnected: false,
  historyLoaded: false,
  held: [], // frames that arrived while the history was loading
  streams: new Map(), // stream_id -> view of an answer
  pending: new Map(), // request_id -> view waiting for its `start`
  active: null, // the view of the answer being generated in this session
  ids: 0,
  pinger: null,
  retryTimer: null,
  stopped: false, // no reconnecting (the administrator closed us, or a refusal needs the user)
};

// --- status and banners

let statusTimer = null;
function status(text, kind = "", fadeMs = 0) {
  const el = $("status");
  el.textContent = text;
  el.className = `status ${kind}`;
  clearTimeout(statusTimer);
  if (fadeMs) statusTimer = setTimeout(() => status("connected", "ok"), fadeMs);
}

function banner(text, level = "info") {
  $("banner-text").textContent = text;
  $("banner").className = `banner ${level}`;
  $("banner").hidden = false;
}

// --- the conversation's views

function scrollDown() {
  const list = $("messages");
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  if (nearBottom) list.lastElementChild?.scrollIntoView({ block: "end" });
}

function addQuestion(text) {
  $("empty").hidden = true;
  const li = document.createElement("li");
  li.className = "question";
  li.textContent = text;
  $("messages").append(li);
  return li;
}

function addAnswer(mode) {
  const li = document.createElement("li");
  li.className = "answer streaming";
  li.innerHTML = `<div class="tools"></div><div class="text"></div><div class="meta"></div>`;
  $("messages").append(li);
  const view = {
    el: li,
    text: "",
    seq: 0,
    mode,
    requestId: null,
    streamId: null,
    done: false,
    dirty: false,
    toolsShown: 0,
    toolCursor: 0,
  };
  return view;
}

function render(view) {
  view.el.sheetstreamText = view.text; // the text as it arrived, for tests and debugging
  if (view.dirty) return;
  view.dirty = true;
  requestAnimationFrame(() => {
    view.dirty = false;
    if (view.done) return; // `finish` rendered the whole text, with its marks
    view.el.querySelector(".text").innerHTML = renderMarkdown(view.text);
    scrollDown();
  });
}

function finish(view, frame) {
  view.done = true;
  view.el.sheetstreamText = view.text;
  view.el.classList.remove("streaming");
  const text = view.el.querySelector(".text");
  text.innerHTML = renderMarkdown(view.text);
  const meta = view.el.querySelector(".meta");
  const bits = [];
  if (frame.reason === "cancelled") bits.push("stopped");
  else if (frame.reason === "length") bits.push("cut at the length limit");
  else if (frame.reason === "error") bits.push(view.error || "ended by an error");
  else if (frame.reason === "interrupted") bits.push("interrupted: the server restarted before this answer ended; ask again");
  if (frame.grounding) {
    const found = frame.grounding.found?.length || 0;
    const missing = frame.grounding.not_found?.length || 0;
    markNumbers(text, frame.grounding);
    if (found) bits.push(`${found} number${found === 1 ? "" : "s"} found in the data`);
    if (missing) bits.push(`${missing} not found in the data`);
  }
  meta.textContent = bits.join(" · ");
  view.el.dataset.reason = frame.reason;
  if (state.active === view) setActive(null);
}

function addTool(view, frame) {
  const details = document.createElement("details");
  details.className = "tool";
  const summary = document.createElement("summary");
  const rows = frame.row_count ?? frame.rows?.length ?? 0;
  summary.textContent = frame.error
    ? "query — did not run"
    : `query — ${rows} row${rows === 1 ? "" : "s"}${frame.truncated ? " (truncated)" : ""}`;
  details.append(summary);
  const sql = document.createElement("pre");
  sql.innerHTML = `<code class="sql">${escapeHtml(frame.query || "")}</code>`;
  details.append(sql);
  if (frame.error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = frame.error;
    details.append(p);
  } else if (frame.columns) {
    details.append(dataTable(frame.columns, frame.rows || []));
  }
  view.el.querySelector(".tools").append(details);
}

function dataTable(columns, rows) {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = typeof column === "string" ? column : column.name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = value == null ? "" : String(value);
  }
  wrap.append(table);
  return wrap;
}

function setActive(view) {
  state.active = view;
  $("stop").hidden = !view;
  $("send").disabled = Boolean(view);
}

// --- words for errors

const ERROR_WORDS = {
  busy: "Still answering the previous question — wait for it, or press Stop.",
  rate_limited: "You are sending messages faster than this server allows. Wait a moment, then try again.",
  llm_unavailable: "The model is not available right now. Try again in a minute; if it keeps happening, the server's operator should check the model.",
  llm_timeout: "The model took too long to answer. Try again, perhaps with a shorter question.",
  workbook_not_found: "That workbook is no longer on the server. Upload it again.",
  stream_expired: "That answer can no longer be resumed; it is in the history (reload the page).",
  internal: "Something went wrong on the server. Try again; your conversation is kept.",
};

function explain(frame) {
  const words = ERROR_WORDS[frame.code];
  if (!words) return frame.message;
  return frame.code === "rate_limited" || frame.code === "workbook_not_found" ? `${words} (${frame.message})` : words;
}

function showError(frame) {
  const view = (frame.request_id && state.pending.get(frame.request_id)) || null;
  if (view) {
    state.pending.delete(frame.request_id);
    view.el.classList.remove("streaming");
    view.el.classList.add("failed");
    view.el.querySelector(".text").textContent = explain(frame);
    if (state.active === view) setActive(null);
    return;
  }
  const streamView =
    (frame.stream_id && state.streams.get(frame.stream_id)) ||
    (frame.request_id && [...state.streams.values()].find((v) => v.requestId === frame.request_id && !v.done));
  if (streamView) {
    streamView.error = explain(frame); // shown when its `end` arrives
    streamView.el.classList.add("failed");
    return;
  }
  if (frame.code === "workbook_not_found") setWorkbook(null);
  banner(explain(frame), "warning");
}

// --- frames

function onFrame(frame) {
  if (!state.historyLoaded && frame.type !== "session") {
    state.held.push(frame);
    return;
  }
  switch (frame.type) {
    case "session":
      return onSession(frame);
    case "start": {
      let view = frame.request_id && state.pending.get(frame.request_id);
      if (view) state.pending.delete(frame.request_id);
      else {
        addQuestion("(asked in another tab)").classList.add("elsewhere");
        view = addAnswer(frame.mode);
      }
      view.streamId = frame.stream_id;
      view.requestId = frame.request_id;
      state.streams.set(frame.stream_id, view);
      setActive(view);
      return;
    }
    case "chunk": {
      const view = state.streams.get(frame.stream_id);
      if (!view || frame.seq <= view.seq) return; // replayed twice: already shown
      if (frame.seq > view.seq + 1) {
        resume(view); // a gap: ask for what is missing
        return;
      }
      view.seq = frame.seq;
      view.text += frame.text;
      render(view);
      return;
    }
    case "tool": {
      // tool frames come before the chunks, and again on a resume from the first chunk
      const view = state.streams.get(frame.stream_id);
      if (!view) return;
      view.toolCursor += 1;
      if (view.toolCursor > view.toolsShown) {
        view.toolsShown += 1;
        addTool(view, frame);
      }
      return;
    }
    case "end": {
      const view = state.streams.get(frame.stream_id);
      if (view && !view.done) finish(view, frame);
      return;
    }
    case "error":
      return showError(frame);
    case "broadcast":
      return banner(frame.content, frame.level);
    default:
      return; // pong, and frames this page does not know
  }
}

async function onSession(frame) {
  const first = !state.historyLoaded;
  state.sessionId = frame.session_id;
  store.set("session", frame.session_id);
  const url = new URL(location.href);
  url.searchParams.set("session", frame.session_id);
  history.replaceState(null, "", url);
  send({ type: "ping", ts: Date.now() / 1000 });
  if (first) {
    await loadHistory(frame.resumable || []);
    await restoreWorkbook();
  } else {
    for (const streamId of frame.resumable || []) {
      let view = state.streams.get(streamId);
      if (!view) {
        // started while we were away: ours if a question of ours never saw its `start`
        const [waiting] = state.pending.values();
        if (waiting) state.pending.delete(waiting.requestId);
        else addQuestion("(asked in another tab)").classList.add("elsewhere");
        view = waiting || addAnswer("token");
        view.streamId = streamId;
        state.streams.set(streamId, view);
      }
      if (!view.done) {
        resume(view);
        status("reconnected — picking the answer up where it stopped", "ok", 4000);
      }
    }
    // answers the server no longer has (it restarted): say so rather than wait forever
    const live = new Set(frame.resumable || []);
    for (const view of [...state.streams.values(), ...state.pending.values()]) {
      if (!view.done && !live.has(view.streamId)) finish(view, { reason: "interrupted" });
    }
    state.pending.clear();
  }
}

async function loadHistory(resumable) {
  let messages = [];
  try {
    const reply = await api(`/api/sessions/${encodeURIComponent(state.sessionId)}/messages`);
    if (reply.ok) messages = (await reply.json()).messages;
  } catch {
    // a new session has no history yet; a failed fetch leaves the page usable
  }
  const live = new Set(resumable);
  for (const message of messages) {
    addQuestion(message.question);
    const view = addAnswer(message.mode);
    view.streamId = message.stream_id;
    state.streams.set(message.stream_id, view);
    if (message.status === "streaming" && live.has(message.stream_id)) {
      setActive(view);
      continue; // resumed below, from its first chunk
    }
    for (const tool of message.tools || []) addTool(view, tool);
    view.toolsShown = view.toolCursor = (message.tools || []).length;
    view.text = message.answer;
    finish(view, { reason: message.status === "complete" ? "complete" : message.status, grounding: message.grounding });
  }
  state.historyLoaded = true;
  for (const streamId of resumable) {
    const view = state.streams.get(streamId);
    if (view && !view.done) resume(view);
  }
  const held = state.held;
  state.held = [];
  held.forEach(onFrame);
}

// --- the connection

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = state.sessionId ? `/ws/${encodeURIComponent(state.sessionId)}` : "/ws/chat";
  const query = state.token ? `?token=${encodeURIComponent(state.token)}` : "";
  return `${scheme}//${location.host}${path}${query}`;
}

function resume(view) {
  view.toolCursor = view.seq === 0 ? 0 : view.toolsShown; // from the first chunk, tools come again
  send({ type: "resume", stream_id: view.streamId, after_seq: view.seq });
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function connect() {
  clearTimeout(state.retryTimer);
  state.stopped = false;
  const ws = new WebSocket(wsUrl());
  state.ws = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    state.everConnected = true;
    if (state.attempt > 0) status("reconnected", "ok", 4000);
    else status("connected", "ok");
    state.attempt = 0;
    clearInterval(state.pinger);
    state.pinger = setInterval(() => send({ type: "ping", ts: Date.now() / 1000 }), PING_EVERY_MS);
  };
  ws.onmessage = (event) => {
    try {
      onFrame(JSON.parse(event.data));
    } catch (error) {
      console.error("bad frame", error);
    }
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    clearInterval(state.pinger);
    onClosed(event, opened);
  };
}

async function onClosed(event, opened) {
  if (!opened) {
    // refused at the handshake, or the server is unreachable: ask the server which
    const why = await diagnose();
    if (why) {
      state.stopped = true;
      status(why, "error");
      openTokenBox(why);
      return;
    }
  }
  if (event.code === 1008) {
    if (/no such session/i.test(event.reason)) {
      state.sessionId = null; // another owner's, or gone: start afresh
      store.set("session", null);
      reset();
      return connect();
    }
    if (/rate limit/i.test(event.reason)) {
      banner("You sent messages faster than this server allows, so it closed the connection. Reconnecting shortly.", "warning");
    } else {
      state.stopped = true;
      status("disconnected", "error");
      banner(`The server closed this connection: ${event.reason || "policy"}. Reload the page to reconnect.`, "warning");
      return;
    }
  }
  retry(event.code === 1013 ? "the server is busy" : "connection lost");
}

function retry(why) {
  if (state.stopped) return;
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)] * (0.75 + Math.random() / 2);
  state.attempt += 1;
  status(`${why} — reconnecting in ${(delay / 1000).toFixed(1)} s…`, "warn");
  state.retryTimer = setTimeout(connect, delay);
}

async function diagnose() {
  try {
    const reply = await fetch("/", { headers: { Accept: "application/json" }, cache: "no-store" });
    const health = await reply.json();
    if (health.access !== "tokens") return null;
    if (!state.token) return "This server needs an access token: paste yours under Token.";
    const probe = await api("/api/workbooks");
    if (probe.status === 401 || probe.status === 403) return "The server refused this token: check it under Token.";
    return null;
  } catch {
    return null; // unreachable: keep retrying
  }
}

function reset() {
  $("messages").replaceChildren();
  $("empty").hidden = false;
  state.streams.clear();
  state.pending.clear();
  state.historyLoaded = false;
  state.held = [];
  setActive(null);
}

// --- asking and stopping

function ask() {
  const question = $("question").value.trim();
  if (!question || state.active) return;
  const requestId = `r${Date.now().toString(36)}${(state.ids += 1)}`;
  const frame = { type: "chat", content: question, request_id: requestId, mode: $("mode").value };
  if (state.workbook) frame.workbook_id = state.workbook.workbook_id;
  if (!send(frame)) {
    banner("Not connected right now; your question is still in the box. It will go once the page reconnects.", "warning");
    return;
  }
  addQuestion(question);
  const view = addAnswer(frame.mode);
  view.requestId = requestId;
  state.pending.set(requestId, view);
  setActive(view);
  $("question").value = "";
  scrollDown();
}

function stop() {
  const view = state.active;
  if (view?.requestId) send({ type: "cancel", request_id: view.requestId });
}

// --- workbooks

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
  return fetch(path, { ...options, headers });
}

const UPLOAD_WORDS = {
  401: "This server needs an access token: paste yours under Token, then upload again.",
  403: "The server refused your token: check it under Token.",
  413: "That file is larger than this server accepts.",
  415: "That file does not look like a spreadsheet this server reads (.xlsx, .xlsm, .xlsb, .xls, .ods, .csv).",
  422: "That workbook cannot be read safely, so it was refused.",
};

function upload(file) {
  const progress = $("upload-progress");
  const note = $("upload-status");
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/workbooks");
  if (state.token) xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
  progress.hidden = false;
  progress.value = 0;
  note.hidden = false;
  note.className = "note";
  note.textContent = `Uploading ${file.name}…`;
  xhr.upload.onprogress = (event) => {
    if (event.lengthComputable) progress.value = (100 * event.loaded) / event.total;
    if (event.loaded === event.total) note.textContent = `Reading ${file.name}…`;
  };
  xhr.onload = () => {
    progress.hidden = true;
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      // not JSON: the status says enough
    }
    if (xhr.status === 201) {
      note.hidden = true;
      setWorkbook(body);
      return;
    }
    note.className = "note error";
    const words = UPLOAD_WORDS[xhr.status] || "The upload failed.";
    note.textContent = body.message ? `${words} ${body.message}` : words;
  };
  xhr.onerror = () => {
    progress.hidden = true;
    note.className = "note error";
    note.textContent = "The upload did not reach the server. Check the connection and try again.";
  };
  xhr.send(form);
}

function setWorkbook(record) {
  state.workbook = record;
  if (state.sessionId) store.set(`workbook.${state.sessionId}`, record ? record.workbook_id : null);
  const box = $("workbook");
  box.replaceChildren();
  if (!record) return;
  const title = document.createElement("h2");
  title.textContent = record.filename;
  box.append(title);
  const general = (record.warnings || []).filter((w) => !/^Sheet \d/.test(w));
  if (general.length) box.append(warningList(general));
  for (const sheet of record.sheets) {
    const details = document.createElement("details");
    details.className = "sheet";
    details.open = record.sheets.length <= 3;
    const summary = document.createElement("summary");
    const columns = sheet.columns?.length ?? 0;
    summary.innerHTML = `<span class="sheet-name"></span> <span class="counts">${sheet.rows} rows × ${columns} columns</span>`;
    summary.querySelector(".sheet-name").textContent = sheet.name;
    details.append(summary);
    if (sheet.warnings?.length) details.append(warningList(sheet.warnings));
    if (sheet.sample_rows?.length) {
      details.append(dataTable(sheet.columns, sheet.sample_rows));
    }
    box.append(details);
  }
  $("empty").textContent = `Ask about ${record.filename}: “What is the total per region?”, /sheets, /profile or /sql SELECT …`;
}

function warningList(warnings) {
  const ul = document.createElement("ul");
  ul.className = "warnings";
  for (const warning of warnings) {
    const li = document.createElement("li");
    li.textContent = warning;
    ul.append(li);
  }
  return ul;
}

async function restoreWorkbook() {
  const id = state.sessionId && store.get(`workbook.${state.sessionId}`);
  if (!id) return;
  try {
    const reply = await api(`/api/workbooks/${encodeURIComponent(id)}`);
    if (reply.ok) setWorkbook(await reply.json());
    else store.set(`workbook.${state.sessionId}`, null);
  } catch {
    // offline for now; the next upload or reload brings it back
  }
}

// --- tokens

function openTokenBox(note) {
  $("token-box").open = true;
  $("token-note").textContent = note || "";
  $("token").focus();
}

// --- wiring

function wire() {
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.active) {
      event.preventDefault();
      stop();
    }
  });
  $("stop").addEventListener("click", stop);
  $("banner-close").addEventListener("click", () => {
    $("banner").hidden = true;
  });
  $("new-chat").addEventListener("click", () => {
    store.set("session", null);
    location.href = "/";
  });
  $("share").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      status("link copied — open it in another tab to follow this conversation", "ok", 4000);
    } catch {
      status(`link: ${location.href}`, "ok", 8000);
    }
  });
  $("token").value = state.token;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    store.set("token", state.token || null);
    $("token-box").open = false;
    state.attempt = 0;
    if (state.ws) state.ws.onclose = null;
    state.ws?.close();
    reset();
    connect();
  });
  $("token-clear").addEventListener("click", () => {
    state.token = "";
    $("token").value = "";
    store.set("token", null);
  });
  const drop = $("drop");
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) upload(file);
    $("file").value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) upload(file);
  });
}

wire();
connect();
