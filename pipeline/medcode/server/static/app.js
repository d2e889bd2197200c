/* medcode workbench: the review page. Plain JavaScript, no framework, nothing loaded from outside.
 *
 * The page talks to the API of the server that served it (same origin, cookie set by the ?token= URL,
 * plus the X-Medcode-Request header every state-changing request must carry). Each decision gets an id
 * made here, so a request retried after a network error is recorded once. DOM is built with
 * createElement/textContent only: note text and code titles are never parsed as HTML.
 */
"use strict";

const SYSTEMS = [["ICD-10-CM", "Diagnoses (ICD-10-CM)"], ["ICD-10-PCS", "Procedures (ICD-10-PCS)"]];
const STATUS_CLASS = {NEGATED: "s-negated", FAMILY: "s-family", HISTORICAL: "s-historical",
                      HYPOTHETICAL: "s-hypothetical", UNCERTAIN: "s-uncertain"};
/* pending: decisions sent but not yet confirmed, shown meanwhile; chain: requests that change a note, in order. */
const S = {session: null, list: [], filter: "", note: null, items: [], sel: -1, cache: new Map(), searchSeq: 0,
           pending: new Map(), chain: Promise.resolve()};
const $ = (id) => document.getElementById(id);

/* ------------------------------------------------------------------ helpers */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

function uid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);  // available where randomUUID is not (plain http on a LAN address)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body, attempts = 1) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(path, {
        method, credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-Medcode-Request": "1"},
        body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (err) {
      if (attempt < attempts) { await sleep(300 * attempt); continue; }
      throw new Error("the server cannot be reached");
    }
    if (response.status >= 500 && attempt < attempts) { await sleep(300 * attempt); continue; }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || `HTTP ${response.status}`);
      error.data = data;
      error.status = response.status;
      throw error;
    }
    return data;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const enc = (id) => encodeURIComponent(id);

let toastTimer = null;
function toast(message, isError = false) {
  const el = $("toast");
  el.textContent = message;
  el.className = "show" + (isError ? " error" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ""; }, isError ? 5000 : 2200);
}

function coderName() {
  return ($("coder").value || "").trim() || (S.session && S.session.coder) || "coder";
}

/* ------------------------------------------------------------------ worklist */
async function loadWorklist() {
  const data = await api("GET", "/v1/worklist");
  S.list = data.notes;
  renderWorklist();
  renderProgress(data);
  const box = $("unreadable");
  box.replaceChildren();
  if (data.unreadable.length) {
    box.append(h("h2", {text: `${data.unreadable.length} not readable`}));
    for (const e of data.unreadable) box.append(h("div", {text: `${e.id}: ${e.error}`}));
  }
}

function visibleNotes() {
  const f = S.filter.toLowerCase();
  return f ? S.list.filter((n) => n.id.toLowerCase().includes(f) || n.status.includes(f)) : S.list;
}

function renderWorklist() {
  const ol = $("worklist");
  ol.replaceChildren(...visibleNotes().map((n) => h("li", {
    class: S.note && S.note.id === n.id ? "current" : "", dataset: {id: n.id}, title: `${n.id} (${n.status})`,
    onclick: () => openNote(n.id)},
    h("span", {class: `dot ${n.status}`}), h("span", {class: "id", text: shortId(n.id)}),
    h("span", {class: "chars", title: "characters", text: n.chars.toLocaleString()}))));
  const current = ol.querySelector("li.current");
  if (current) current.scrollIntoView({block: "nearest"});
}

/* Long ids (CodiEsp's) differ at the end: keep the start and the end, cut the middle. */
function shortId(id) {
  return id.length > 20 ? `${id.slice(0, 5)}…${id.slice(-12)}` : id;
}

function renderProgress(data) {
  const total = data ? data.total : S.list.length;
  const done = data ? data.done : S.list.filter((n) => n.status === "done").length;
  $("progress-text").textContent = `${done} of ${total} done`;
  $("progress-bar").style.width = total ? `${(100 * done) / total}%` : "0";
}

function setListStatus(id, status) {
  const entry = S.list.find((n) => n.id === id);
  if (entry && entry.status !== status) {
    entry.status = status;
    renderWorklist();
    renderProgress();
  }
}

/* ------------------------------------------------------------------ one note */
async function openNote(id, keepSelection = false) {
  if (!id) return;
  let data = S.cache.get(id);
  try {
    if (!data) {
      data = await api("GET", `/v1/worklist/${enc(id)}`);
    } else {
      data = {...data, review: await api("GET", `/v1/reviews/${enc(id)}`)};
    }
  } catch (err) {
    toast(err.message, true);
    return;
  }
  S.cache.set(id, data);
  const sameNote = S.note && S.note.id === id;
  S.note = data;
  history.replaceState(null, "", `#note=${enc(id)}`);
  buildItems();
  if (!(keepSelection && sameNote)) S.sel = S.items.length ? 0 : -1;
  renderNote();
  renderCodes();
  renderWorklist();
  prefetch(id);
}

function prefetch(id) {
  const list = visibleNotes();
  const i = list.findIndex((n) => n.id === id);
  const next = list[i + 1];
  if (next && !S.cache.has(next.id)) {
    api("GET", `/v1/worklist/${enc(next.id)}`).then((d) => S.cache.set(next.id, d)).catch(() => {});
  }
}

function buildItems() {
  const rec = S.note.record;
  const items = [];
  for (const [system] of SYSTEMS) {
    let rank = 0;
    for (const sug of rec.suggestions) {
      if (sug.system === system) items.push({kind: "suggestion", code: sug.code, sug, rank: ++rank});
    }
  }
  const shown = new Set(items.map((it) => it.code));
  for (const [code, st] of Object.entries(currentState())) {
    if (st.action === "add" && !shown.has(code)) items.push({kind: "added", code, sug: null, rank: null});
  }
  for (const sug of rec.excluded) {
    if (!shown.has(sug.code)) items.push({kind: "excluded", code: sug.code, sug, rank: null});
  }
  S.items = items;
}

function evidenceSpans() {
  const spans = [];
  const add = (sug, setAside) => {
    for (const e of sug.evidence || []) spans.push({start: e.start, end: e.end, code: sug.code, status: e.status || [], setAside});
  };
  S.note.record.suggestions.forEach((s) => add(s, false));
  S.note.record.excluded.forEach((s) => add(s, true));
  return spans;
}

function renderNote() {
  const {id, text} = S.note;
  $("note-title").textContent = id;
  const spans = evidenceSpans();
  const cuts = new Set([0, text.length]);
  spans.forEach((s) => { cuts.add(s.start); cuts.add(s.end); });
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const article = $("note");
  const parts = [];
  for (let i = 0; i < points.length - 1; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const covering = spans.filter((s) => s.start <= a && s.end >= b);
    if (!covering.length) { parts.push(document.createTextNode(text.slice(a, b))); continue; }
    const codes = [...new Set(covering.map((s) => s.code))];
    const statuses = new Set(covering.flatMap((s) => s.status));
    const classes = ["ev", ...[...statuses].map((st) => STATUS_CLASS[st]).filter(Boolean)];
    if (covering.every((s) => s.setAside)) classes.push("set-aside");
    parts.push(h("mark", {class: classes.join(" "), dataset: {start: a, end: b, codes: codes.join(" ")}}, text.slice(a, b)));
  }
  article.replaceChildren(...parts);
  article.scrollTop = 0;
  highlightSelected();
}

function highlightSelected() {
  const item = S.items[S.sel];
  let first = null;
  for (const mark of $("note").querySelectorAll("mark.ev")) {
    const on = !!item && mark.dataset.codes.split(" ").includes(item.code);
    mark.classList.toggle("sel", on);
    if (on && !first) first = mark;
  }
  if (first) first.scrollIntoView({block: "nearest"});
}

/* ------------------------------------------------------------------ codes pane */
function pendingKey(noteId, code) {
  return `${noteId}\u0000${code}`;
}

/* The latest decision per code: the server's review, with the decisions still on their way on top. */
function currentState() {
  const state = {...S.note.review.state};
  for (const [key, entry] of S.pending) {
    const [noteId, code] = key.split("\u0000");
    if (noteId !== S.note.id) continue;
    if (entry.state) state[code] = entry.state;
    else delete state[code];
  }
  return state;
}

function stateOf(code) {
  return currentState()[code] || null;
}

function titleOf(code) {
  const checks = S.note.review.validation ? S.note.review.validation.codes : [];
  const check = checks.find((c) => c.code === code);
  return check ? check.title : "";
}

function codeRow(item, index) {
  const st = stateOf(item.code);
  const action = st ? st.action : "";
  const sug = item.sug;
  const title = sug ? sug.description : titleOf(item.code);
  const tags = [];
  if (sug && sug.query) tags.push(h("span", {class: "tag q", title: sug.query.question, text: "query"}));
  if (sug && sug.excludes1) tags.push(h("span", {class: "tag x", title: `Excludes1 with ${sug.excludes1.join(", ")}`, text: `Excludes1 ${sug.excludes1.join(", ")}`}));
  if (sug && !sug.billable) tags.push(h("span", {class: "tag h", title: sug.warning || "not billable as it stands", text: "not billable"}));
  if (action === "answer") tags.push(h("span", {class: "tag s", text: `→ ${st.query_answer}`}));
  if (action === "query") tags.push(h("span", {class: "tag q", text: "asked physician"}));
  if (item.kind === "excluded") tags.push(h("span", {class: "tag why", text: `set aside: ${sug.demoted}`}));
  const bar = sug && item.kind === "suggestion" ? h("span", {class: "score", title: `score ${sug.score.toFixed(2)}`}, h("span", {class: "fill"})) : null;
  if (bar) bar.firstChild.style.width = `${Math.round(100 * sug.score)}%`;
  const evidence = sug && sug.evidence && sug.evidence.length
    ? sug.evidence.slice(0, 2).map((e) => `“${e.text}”`).join(" ")
    : item.kind === "excluded" ? "" : sug ? `(${sug.source})` : "added by the coder";
  const compact = item.kind === "excluded" ? "compact" : "";
  return h("li", {class: `code-row ${action} ${compact} ${index === S.sel ? "selected" : ""}`, dataset: {code: item.code, index},
                  onclick: () => select(index)},
    h("span", {class: "rank", text: item.rank || ""}),
    h("div", {class: "main"},
      h("span", {class: "code", text: item.code}), h("span", {class: "desc", text: title}),
      h("div", {class: "meta"}, bar, sug && item.kind === "suggestion" ? sug.score.toFixed(2) : null, ...tags,
        h("span", {class: "ev-words", text: evidence}))),
    h("div", {class: "actions"},
      h("button", {type: "button", class: `acc ${action === "accept" || action === "add" ? "on" : ""}`, title: "Accept (a)",
                   onclick: (ev) => { ev.stopPropagation(); select(index); toggle("accept"); }}, "✓"),
      h("button", {type: "button", class: `rej ${action === "reject" ? "on" : ""}`, title: "Reject (r)",
                   onclick: (ev) => { ev.stopPropagation(); select(index); toggle("reject"); }}, "✗")));
}

function renderCodes() {
  const box = $("suggestions");
  box.replaceChildren();
  for (const [system, label] of SYSTEMS) {
    const rows = S.items.map((it, i) => [it, i]).filter(([it]) => it.kind === "suggestion" && it.sug.system === system);
    box.append(h("section", {class: "group"}, h("h2", {}, h("span", {text: label}), h("span", {text: rows.length})),
      rows.length ? h("ol", {class: "codes"}, rows.map(([it, i]) => codeRow(it, i)))
                  : h("div", {class: "empty-group", text: "no suggestion"})));
  }
  fillBox("added-box", "added", S.items.map((it, i) => [it, i]).filter(([it]) => it.kind === "added").map(([it, i]) => codeRow(it, i)));
  fillBox("excluded-box", "excluded", S.items.map((it, i) => [it, i]).filter(([it]) => it.kind === "excluded").map(([it, i]) => codeRow(it, i)));
  renderQueries();
  renderConflicts();
  renderFinal();
}

function fillBox(boxId, listId, children) {
  $(listId).replaceChildren(...children);
  $(boxId).hidden = !children.length;
}

function renderQueries() {
  const rows = S.note.record.suggestions.filter((s) => s.query).map((s) => {
    const st = stateOf(s.code);
    const answered = st && st.action === "answer" ? ` — answered: ${st.query_answer}` : st && st.action === "query" ? " — asked" : "";
    return h("div", {class: "note-line"},
      h("b", {text: s.code}), ` ${s.query.question}${answered}`,
      h("div", {class: "opts"}, (s.query.options || []).slice(0, 9).map((o) => h("button", {
        type: "button", title: o.title, onclick: () => answer(s.code, o.code)}, o.code))));
  });
  $("queries").replaceChildren(...rows);
  $("queries-box").hidden = !rows.length;
}

function renderConflicts() {
  const rows = (S.note.record.conflicts || []).map((c) => h("div", {class: "note-line"},
    h("b", {text: `${c.codes[0]} × ${c.codes[1]}`}), ` not reported together: ${c.codes[0]} excludes ${c.note}`));
  $("conflicts").replaceChildren(...rows);
  $("conflicts-box").hidden = !rows.length;
}

function renderStatus() {
  const done = S.note.review.status === "done";
  const status = $("note-status");
  status.textContent = done ? "done" : Object.keys(currentState()).length ? "in progress" : "new";
  status.className = "badge" + (done ? " done" : "");
}

function renderFinal() {
  renderStatus();
  const review = S.note.review;
  const validation = review.validation;
  const byCode = new Map((validation ? validation.codes : []).map((c) => [c.code, c]));
  const items = review.final.map((code) => {
    const check = byCode.get(code);
    return h("li", {class: check && !check.valid ? "invalid" : "", title: check ? `${check.title} (${check.status})` : "", text: code});
  });
  $("final").replaceChildren(...(items.length ? items : [h("li", {class: "empty", text: "no code accepted yet"})]));
  const problems = finalProblems(review);
  $("final-problems").replaceChildren(...problems.map((p) => h("li", {text: p})));
  const state = $("final-state");
  const done = review.status === "done";
  state.textContent = done ? `done by ${review.completed.coder}` : problems.length ? "not claim-ready" : "claim-ready";
  state.className = "badge " + (done ? "done" : problems.length ? "bad" : "ok");
  $("done-btn").disabled = done;
  $("reopen-btn").hidden = !done;
}

function finalProblems(review) {
  const out = [];
  if (!review.final.length) out.push("accept or add at least one code");
  if (review.pending_queries.length) out.push(`physician query open on ${review.pending_queries.join(", ")}`);
  const validation = review.validation;
  if (validation) {
    for (const c of validation.codes) if (!c.valid) out.push(c.messages[0] || `${c.code}: ${c.status}`);
    for (const c of validation.conflicts) out.push(`${c.codes[0]} and ${c.codes[1]} cannot be reported together (Excludes1)`);
  }
  return out;
}

/* ------------------------------------------------------------------ selection and decisions */
function select(index) {
  if (!S.items.length) return;
  S.sel = Math.max(0, Math.min(index, S.items.length - 1));
  for (const row of document.querySelectorAll(".code-row")) {
    row.classList.toggle("selected", Number(row.dataset.index) === S.sel);
  }
  const row = document.querySelector(`.code-row[data-index="${S.sel}"]`);
  if (row) row.scrollIntoView({block: "nearest"});
  highlightSelected();
}

/* Run a request that changes the note after those before it: reviews then arrive in order, and
 * "done" is checked only once every decision before it is recorded. */
function enqueue(task) {
  S.chain = S.chain.then(task, task);
  return S.chain;
}

function decide(item, action, extra = {}) {
  const note = S.note;
  const decision = {decision_id: uid(), note_id: note.id, code: item.code, action, coder: coderName(), ...extra};
  if (item.kind === "suggestion") Object.assign(decision, {rank: item.rank, score: item.sug.score, source: item.sug.source});
  const key = pendingKey(note.id, item.code);
  // Shown at once; the server's review takes over once the decision is recorded.
  S.pending.set(key, {id: decision.decision_id,
                      state: action === "undo" ? null : {action, query_answer: extra.query_answer || null, coder: decision.coder}});
  buildItemsKeepSelection();
  renderCodes();
  return enqueue(async () => {
    try {
      await api("POST", "/v1/decisions", {decisions: [decision]}, 3);
      note.review = await api("GET", `/v1/reviews/${enc(note.id)}`);
      setListStatus(note.id, note.review.status === "done" ? "done" : "in_progress");
    } catch (err) {
      toast(`not saved: ${err.message}`, true);
    } finally {
      if ((S.pending.get(key) || {}).id === decision.decision_id) S.pending.delete(key);
    }
    if (S.note === note) { buildItemsKeepSelection(); renderCodes(); }
  });
}

function buildItemsKeepSelection() {
  const code = S.items[S.sel] && S.items[S.sel].code;
  buildItems();
  const i = S.items.findIndex((it) => it.code === code);
  S.sel = i >= 0 ? i : Math.min(S.sel, S.items.length - 1);
}

function toggle(action) {
  const item = S.items[S.sel];
  if (!item || !S.note) return;
  const st = stateOf(item.code);
  const current = st ? st.action : null;
  const target = action === "accept" && item.kind === "added" ? "add" : action;
  decide(item, current === target ? "undo" : target);
}

function undo() {
  const item = S.items[S.sel];
  if (item && stateOf(item.code)) decide(item, "undo");
}

function answer(code, chosen) {
  const item = S.items.find((it) => it.code === code) || {kind: "suggestion", code, sug: null};
  decide(item, "answer", {query_answer: chosen});
  $("query-dialog").close();
  toast(`${code} → ${chosen}`);
}

/* ------------------------------------------------------------------ done / reopen */
function markDone() {
  if (S.note) enqueue(() => markDoneNow(S.note));
}

async function markDoneNow(note) {
  try {
    note.review = await api("POST", `/v1/worklist/${enc(note.id)}/done`, {coder: coderName()});
    setListStatus(note.id, "done");
    if (S.note === note) { renderCodes(); renderNote(); }
    toast(`${note.id} done`);
    const next = S.note === note ? nextNote(true) : null;
    if (next) openNote(next.id);
  } catch (err) {
    if (err.data && err.data.review) note.review = err.data.review;
    if (S.note === note) renderCodes();
    toast(err.message, true);
  }
}

function reopen() {
  if (!S.note || S.note.review.status !== "done") return;
  const note = S.note;
  enqueue(async () => {
    try {
      note.review = await api("POST", `/v1/worklist/${enc(note.id)}/reopen`, {coder: coderName()});
      setListStatus(note.id, "in_progress");
      if (S.note === note) renderCodes();
    } catch (err) {
      toast(err.message, true);
    }
  });
}

function nextNote(undoneOnly, step = 1) {
  const list = visibleNotes();
  const i = S.note ? list.findIndex((n) => n.id === S.note.id) : -1;
  for (let j = i + step; j >= 0 && j < list.length; j += step) {
    if (!undoneOnly || list[j].status !== "done") return list[j];
  }
  return null;
}

/* ------------------------------------------------------------------ dialogs */
function openAdd() {
  if (!S.note) return;
  $("add-query").value = "";
  $("add-results").replaceChildren();
  $("add-dialog").showModal();
  $("add-query").focus();
}

async function searchCodes() {
  const q = $("add-query").value.trim();
  const seq = ++S.searchSeq;
  if (!q) { $("add-results").replaceChildren(); return; }
  const found = [];
  try {
    if (/^[A-Za-z0-9]{3,7}(\.[A-Za-z0-9]{0,4})?$/.test(q)) {
      const exact = await api("GET", `/v1/codes/${enc(q)}`).catch(() => null);
      if (exact) found.push({code: exact.code, title: exact.title, billable: exact.billable});
    }
    const hits = await api("GET", `/v1/codes/search?q=${enc(q)}&limit=25`);
    for (const hit of hits) if (!found.some((f) => f.code === hit.code)) found.push(hit);
  } catch (err) {
    toast(err.message, true);
  }
  if (seq !== S.searchSeq) return;  // a later keystroke's search answers instead
  $("add-results").replaceChildren(...found.map((hit, i) => h("li", {
    class: i === 0 ? "active" : "", dataset: {code: hit.code}, onclick: () => addCode(hit.code)},
    h("span", {class: "code", text: hit.code}), h("span", {text: hit.title}),
    hit.billable ? null : h("span", {class: "tag h", text: "not billable"}))));
}

function moveActive(list, step) {
  const items = [...list.children];
  if (!items.length) return;
  const i = items.findIndex((li) => li.classList.contains("active"));
  const j = Math.max(0, Math.min(items.length - 1, i + step));
  items.forEach((li, k) => li.classList.toggle("active", k === j));
  items[j].scrollIntoView({block: "nearest"});
}

function addCode(code) {
  $("add-dialog").close();
  const existing = S.items.findIndex((it) => it.code === code);
  if (existing >= 0) {
    select(existing);
    decide(S.items[existing], "accept");
  } else {
    decide({kind: "added", code, sug: null}, "add");
  }
  toast(`added ${code}`);
}

function openQuery() {
  if (!S.note) return;
  let item = S.items[S.sel];
  if (!item || !item.sug || !item.sug.query) {
    const i = S.items.findIndex((it) => it.sug && it.sug.query);
    if (i < 0) { toast("no physician query on this note"); return; }
    select(i);
    item = S.items[i];
  }
  const query = item.sug.query;
  $("query-title").textContent = `Physician query on ${item.code}`;
  $("query-question").textContent = query.question;
  $("query-options").replaceChildren(...(query.options || []).map((o, i) => h("li", {
    dataset: {code: o.code}, onclick: () => answer(item.code, o.code)},
    h("span", {class: "n", text: i < 9 ? String(i + 1) : ""}), h("span", {class: "code", text: o.code}),
    h("span", {text: o.title}))));
  $("query-dialog").dataset.code = item.code;
  $("query-dialog").showModal();
}

function raiseQuery() {
  const code = $("query-dialog").dataset.code;
  const item = S.items.find((it) => it.code === code);
  $("query-dialog").close();
  if (item) decide(item, "query");
}

async function pasteNote() {
  const text = $("paste-text").value;
  const id = $("paste-id").value.trim() || undefined;
  if (!text.trim()) { toast("the note is empty", true); return; }
  try {
    const out = await api("POST", "/v1/worklist", {notes: [{id, text}]});
    $("paste-dialog").close();
    $("paste-text").value = "";
    $("paste-id").value = "";
    await loadWorklist();
    openNote(out.added[0]);
  } catch (err) {
    toast(err.message, true);
  }
}

/* ------------------------------------------------------------------ tooltip on evidence words */
function showTooltip(mark) {
  const codes = mark.dataset.codes.split(" ");
  const tip = $("tooltip");
  const all = [...S.note.record.suggestions, ...S.note.record.excluded];
  tip.replaceChildren(...codes.map((code) => {
    const sug = all.find((s) => s.code === code);
    const st = stateOf(code);
    const extra = sug && sug.demoted ? ` — set aside: ${sug.demoted}` : st ? ` — ${st.action}` : "";
    return h("div", {}, h("b", {text: code}), ` ${sug ? sug.description : ""}${sug && !sug.demoted ? ` (${sug.score.toFixed(2)})` : ""}${extra}`);
  }));
  const statuses = [...mark.classList].filter((c) => c.startsWith("s-")).map((c) => c.slice(2));
  if (statuses.length) tip.append(h("div", {class: "muted", text: `mention: ${statuses.join(", ")}`}));
  const box = mark.getBoundingClientRect();
  tip.hidden = false;
  tip.style.left = `${Math.min(box.left, window.innerWidth - tip.offsetWidth - 8)}px`;
  tip.style.top = `${box.bottom + 6 + tip.offsetHeight > window.innerHeight ? box.top - tip.offsetHeight - 6 : box.bottom + 6}px`;
  for (const other of $("note").querySelectorAll("mark.ev")) {
    other.classList.toggle("hover", other.dataset.codes.split(" ").some((c) => codes.includes(c)));
  }
}

function hideTooltip() {
  $("tooltip").hidden = true;
  for (const mark of $("note").querySelectorAll("mark.hover")) mark.classList.remove("hover");
}

/* ------------------------------------------------------------------ keyboard */
const KEYS = {
  j: () => select(S.sel + 1), ArrowDown: () => select(S.sel + 1),
  k: () => select(S.sel - 1), ArrowUp: () => select(S.sel - 1),
  a: () => toggle("accept"), r: () => toggle("reject"), u: undo,
  c: openAdd, "+": openAdd, q: openQuery, d: markDone, o: reopen,
  n: () => { const n = nextNote(false); if (n) openNote(n.id); },
  p: () => { const n = nextNote(false, -1); if (n) openNote(n.id); },
  N: () => { const n = nextNote(true); if (n) openNote(n.id); else toast("every note after this one is done"); },
  i: () => $("paste-dialog").showModal(),
  "/": () => $("filter").focus(),
  "?": () => $("help-dialog").showModal(),
};

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) {
    if (event.key === "Enter" && $("paste-dialog").open) { event.preventDefault(); pasteNote(); }
    return;
  }
  if ($("add-dialog").open) return addDialogKey(event);
  if ($("query-dialog").open) return queryDialogKey(event);
  const target = event.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (document.querySelector("dialog[open]")) return;
  const handler = KEYS[event.key];
  if (handler) { event.preventDefault(); handler(); }
}

function addDialogKey(event) {
  const list = $("add-results");
  if (event.key === "ArrowDown") { event.preventDefault(); moveActive(list, 1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); moveActive(list, -1); }
  else if (event.key === "Enter") {
    event.preventDefault();
    const active = list.querySelector("li.active");
    if (active) addCode(active.dataset.code);
  }
}

function queryDialogKey(event) {
  const options = [...$("query-options").children];
  if (/^[1-9]$/.test(event.key) && options[Number(event.key) - 1]) {
    event.preventDefault();
    answer($("query-dialog").dataset.code, options[Number(event.key) - 1].dataset.code);
  } else if (event.key === "w") {
    event.preventDefault();
    raiseQuery();
  }
}

/* ------------------------------------------------------------------ start */
function wire() {
  document.addEventListener("keydown", onKey);
  $("filter").addEventListener("input", (e) => { S.filter = e.target.value; renderWorklist(); });
  $("coder").addEventListener("change", (e) => localStorage.setItem("medcode.coder", e.target.value.trim()));
  $("help-btn").addEventListener("click", () => $("help-dialog").showModal());
  $("paste-btn").addEventListener("click", () => $("paste-dialog").showModal());
  $("paste-add").addEventListener("click", pasteNote);
  $("add-btn").addEventListener("click", openAdd);
  $("done-btn").addEventListener("click", markDone);
  $("reopen-btn").addEventListener("click", reopen);
  $("query-raise").addEventListener("click", raiseQuery);
  $("prev-btn").addEventListener("click", KEYS.p);
  $("next-btn").addEventListener("click", KEYS.n);
  let timer = null;
  $("add-query").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(searchCodes, 180); });
  const note = $("note");
  note.addEventListener("mouseover", (e) => { if (e.target.matches("mark.ev")) showTooltip(e.target); });
  note.addEventListener("mouseout", (e) => { if (e.target.matches("mark.ev")) hideTooltip(); });
  note.addEventListener("click", (e) => {
    if (!e.target.matches("mark.ev")) return;
    const i = S.items.findIndex((it) => e.target.dataset.codes.split(" ").includes(it.code));
    if (i >= 0) select(i);
  });
}

async function start() {
  wire();
  try {
    S.session = await api("GET", "/v1/session");
  } catch (err) {
    $("note").replaceChildren(h("p", {class: "empty", text: `Cannot start: ${err.message}`}));
    return;
  }
  $("coder").value = localStorage.getItem("medcode.coder") || S.session.coder;
  $("model-info").textContent = `model ${S.session.model_id.slice(0, 12)} · ${S.session.releases["ICD-10-CM"]}`;
  $("model-info").title = `model id ${S.session.model_id}\n${Object.values(S.session.releases).join("\n")}`;
  await loadWorklist();
  const wanted = decodeURIComponent((location.hash.match(/^#note=(.*)$/) || [])[1] || "");
  const first = S.list.find((n) => n.id === wanted) || S.list.find((n) => n.status !== "done") || S.list[0];
  if (first) await openNote(first.id);
  else $("note").replaceChildren(h("p", {class: "empty", text: "The worklist is empty: paste a note (i)."}));
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
