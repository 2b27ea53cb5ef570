// GovMetrics web page: send text or a file to /v1/extract, highlight the records, list them, download them.
// Plain JS, no build step. The document is user input: it is only ever inserted as text nodes.
"use strict";

const KIND_ZH = { amount: "金额", count: "计数", percent: "比率", measure: "计量", score: "评分" };
const ROLE_ZH = { value: "数值", change: "变化量", change_rate: "变化率", share: "占比", completion: "完成率", target: "目标" };
const DIRECTION_ZH = { increase: "增加", decrease: "减少", flat: "持平" };
const APPROX_ZH = { exact: "精确", at_least: "不少于", about: "约", at_most: "不超过" };

const $ = (sel) => document.querySelector(sel);
let current = null; // {result, text, mismatches}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function setState(state, message = "") {
  document.body.dataset.state = state;
  $("#status").textContent = message;
  $("#submit").disabled = state === "busy";
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

// ---------------------------------------------------------------- request

async function submit(event) {
  event.preventDefault();
  const file = $("#file-input").files[0];
  const text = $("#text-input").value;
  const doc = $("#doc-input").value.trim();
  showError("");
  if (!file && !text.trim()) {
    showError("请粘贴文本或选择文件。");
    return;
  }
  setState("busy", "正在抽取……");
  let init;
  if (file) {
    const form = new FormData();
    form.append("file", file);
    if (doc) form.append("doc", doc);
    form.append("options", JSON.stringify({ include_text: true }));
    init = { method: "POST", body: form };
  } else {
    const body = { text, options: { include_text: false } };
    if (doc) body.doc = doc;
    init = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  }
  try {
    const response = await fetch("/v1/extract", init);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const err = body && body.error;
      const retry = response.headers.get("Retry-After");
      showError(err ? `${err.message}（${err.code}，HTTP ${response.status}）${retry ? `，请 ${retry} 秒后重试` : ""}`
        : `请求失败：HTTP ${response.status}`);
      setState("error", "");
      return;
    }
    render(body, file ? body.text : text);
    setState("done", `完成：${body.records.length} 条记录`);
  } catch (e) {
    showError(`无法连接服务：${e.message}`);
    setState("error", "");
  }
}

// ---------------------------------------------------------------- rendering

// Offsets are Unicode code points; JS strings index UTF-16 units. Map once per document.
function codePointToUnit(text) {
  const map = [];
  let unit = 0;
  for (const ch of text) {
    map.push(unit);
    unit += ch.length;
  }
  map.push(unit);
  return (cp) => map[Math.max(0, Math.min(cp, map.length - 1))];
}

function mismatchesByRecord(checks) {
  const out = new Map();
  for (const check of checks || []) {
    if (check.status !== "mismatch") continue;
    for (const i of check.records || []) {
      if (!out.has(i)) out.set(i, []);
      out.get(i).push(check.message || `${check.kind}：${check.stated} ≠ ${check.computed}`);
    }
  }
  return out;
}

function spanText(span) {
  return span ? span.text : "";
}

function summaryLine(rec) {
  const n = rec.normalized;
  const parts = [`${KIND_ZH[rec.kind] || rec.kind}：${rec.text}`,
    `规范值 ${n.value}${n.upper ? "–" + n.upper : ""} ${n.unit}`,
    `角色 ${ROLE_ZH[rec.role] || rec.role}${rec.direction ? "（" + DIRECTION_ZH[rec.direction] + "）" : ""}`];
  if (rec.metric) parts.push(`指标 ${rec.metric.text}`);
  if (rec.action) parts.push(`动作 ${rec.action.text}`);
  parts.push(`置信度 ${formatConfidence(rec.confidence)}`);
  return parts.join("；");
}

function formatConfidence(c) {
  return c === null || c === undefined ? "—" : Number(c).toFixed(2);
}

// One sweep over every boundary: quantity spans become <mark> elements (one per record), and
// metric/action spans become <span>s nested wherever they fall, carrying the records they belong to.
function renderDocument(container, text, records, mismatches) {
  const toUnit = codePointToUnit(text);
  const links = new Map(); // "type:start:end" -> {type, start, end, recs[]}
  records.forEach((rec, i) => {
    for (const type of ["metric", "action"]) {
      const s = rec[type];
      if (!s || s.end <= s.start) continue;
      const key = `${type}:${s.start}:${s.end}`;
      if (!links.has(key)) links.set(key, { type, start: toUnit(s.start), end: toUnit(s.end), recs: [] });
      links.get(key).recs.push(i);
    }
  });
  const quantities = records.map((rec, i) => ({ i, start: toUnit(rec.start), end: toUnit(rec.end) }))
    .filter((q) => q.end > q.start).sort((a, b) => a.start - b.start);
  const points = new Set([0, text.length]);
  const startsAt = new Map();
  const endsAt = new Map();
  for (const s of links.values()) {
    points.add(s.start); points.add(s.end);
    if (!startsAt.has(s.start)) startsAt.set(s.start, []);
    startsAt.get(s.start).push(s);
    if (!endsAt.has(s.end)) endsAt.set(s.end, []);
    endsAt.get(s.end).push(s);
  }
  const qStarts = new Map();
  let lastEnd = -1;
  for (const q of quantities) {
    if (q.start < lastEnd) continue; // overlapping quantities cannot both be marked
    qStarts.set(q.start, q);
    lastEnd = q.end;
    points.add(q.start); points.add(q.end);
  }
  const sorted = [...points].sort((a, b) => a - b);
  const active = new Set();
  const frag = document.createDocumentFragment();
  let parent = frag;
  let open = null;
  for (let k = 0; k < sorted.length - 1; k++) {
    const x = sorted[k];
    const y = sorted[k + 1];
    if (open && open.end === x) { parent = frag; open = null; }
    for (const s of endsAt.get(x) || []) active.delete(s);
    for (const s of startsAt.get(x) || []) active.add(s);
    if (!open && qStarts.has(x)) {
      open = qStarts.get(x);
      const rec = records[open.i];
      const bad = mismatches.get(open.i);
      const mark = el("mark", {
        class: `rec kind-${rec.kind}${bad ? " mismatch" : ""}`, tabindex: "0", role: "button",
        title: summaryLine(rec) + (bad ? "\n⚠ " + bad.join("\n⚠ ") : ""), dataset: { rec: String(open.i) },
      });
      frag.append(mark);
      parent = mark;
    }
    const segment = text.slice(x, y);
    if (active.size === 0) {
      parent.append(document.createTextNode(segment));
      continue;
    }
    const types = new Set();
    const of = { metric: [], action: [] };
    for (const s of active) { types.add(s.type); of[s.type].push(...s.recs); }
    const span = el("span", { class: [...types].join(" "), text: segment });
    if (of.metric.length) span.dataset.metricOf = of.metric.join(" ");
    if (of.action.length) span.dataset.actionOf = of.action.join(" ");
    parent.append(span);
  }
  container.replaceChildren(frag);
}

function renderTable(tbody, records, mismatches) {
  const rows = records.map((rec, i) => {
    const n = rec.normalized;
    const cells = [String(i + 1), rec.text, KIND_ZH[rec.kind] || rec.kind, n.value + (n.upper ? "–" + n.upper : ""),
      n.unit, APPROX_ZH[rec.approx] || rec.approx, ROLE_ZH[rec.role] || rec.role, DIRECTION_ZH[rec.direction] || "",
      spanText(rec.metric), spanText(rec.action), spanText(rec.period), spanText(rec.baseline),
      formatConfidence(rec.confidence)];
    const tr = el("tr", { class: mismatches.has(i) ? "mismatch" : "", dataset: { rec: String(i) } },
      cells.map((c) => el("td", { text: c })));
    return tr;
  });
  tbody.replaceChildren(...rows);
}

function render(result, text) {
  const mismatches = mismatchesByRecord(result.checks);
  current = { result, text, mismatches };
  $("#summary").textContent = `文档：${result.doc}　记录：${result.records.length} 条　` +
    `核对不符：${mismatches.size} 条　模型：${result.model.name} ${result.model.version}　耗时：${result.timing_ms} ms`;
  renderDocument($("#doc-view"), text, result.records, mismatches);
  renderTable($("#records-table tbody"), result.records, mismatches);
  $("#details").replaceChildren(el("p", { class: "hint", text: "点击高亮的数字查看记录详情。" }));
  $("#result").hidden = false;
}

function select(i) {
  if (!current) return;
  const rec = current.result.records[i];
  if (!rec) return;
  document.querySelectorAll(".selected, .linked").forEach((n) => n.classList.remove("selected", "linked"));
  const mark = document.querySelector(`mark[data-rec="${i}"]`);
  if (mark) mark.classList.add("selected");
  document.querySelectorAll(`[data-metric-of~="${i}"], [data-action-of~="${i}"]`).forEach((n) => n.classList.add("linked"));
  const row = document.querySelector(`#records-table tr[data-rec="${i}"]`);
  if (row) row.classList.add("selected");
  const n = rec.normalized;
  const fields = [
    ["原文", rec.text], ["类型", KIND_ZH[rec.kind] || rec.kind], ["数值", `${rec.value} ${rec.unit}`],
    ["规范值", `${n.value}${n.upper ? "–" + n.upper : ""} ${n.unit}`], ["约数", APPROX_ZH[rec.approx] || rec.approx],
    ["角色", ROLE_ZH[rec.role] || rec.role], ["方向", DIRECTION_ZH[rec.direction] || "—"],
    ["指标", spanText(rec.metric) || "—"], ["动作", spanText(rec.action) || "—"],
    ["时期", spanText(rec.period) || "—"], ["基期", spanText(rec.baseline) || "—"],
    ["置信度", formatConfidence(rec.confidence)], ["位置", `${rec.start}–${rec.end}`],
  ];
  const dl = el("dl", {}, fields.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const children = [el("h3", { text: `记录 ${i + 1}` }), dl];
  for (const message of current.mismatches.get(i) || []) children.push(el("p", { class: "error", text: "⚠ " + message }));
  $("#details").replaceChildren(...children);
  return mark;
}

// ---------------------------------------------------------------- downloads

const CSV_HEADER = ["序号", "原文", "类型", "数值", "单位", "规范值", "规范上限", "规范单位", "约数", "角色", "方向",
  "指标", "动作", "时期", "基期", "置信度", "起", "止"];

function csvCell(value, isText) {
  let s = value === null || value === undefined ? "" : String(value);
  // A cell starting with = + - @ would run as a formula in Excel/WPS.
  if (isText && /^[=+\-@]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function recordsCsv(records) {
  const lines = [CSV_HEADER.join(",")];
  records.forEach((r, i) => {
    const n = r.normalized;
    const row = [[i + 1], [r.text, 1], [KIND_ZH[r.kind] || r.kind], [r.value], [r.unit, 1], [n.value], [n.upper],
      [n.unit, 1], [APPROX_ZH[r.approx] || r.approx], [ROLE_ZH[r.role] || r.role], [DIRECTION_ZH[r.direction] || ""],
      [spanText(r.metric), 1], [spanText(r.action), 1], [spanText(r.period), 1], [spanText(r.baseline), 1],
      [r.confidence], [r.start], [r.end]];
    lines.push(row.map(([v, t]) => csvCell(v, Boolean(t))).join(","));
  });
  return lines.join("\r\n") + "\r\n";
}

function download(name, content, type) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function safeName(doc) {
  return (doc || "records").replace(/[\\/:*?"<>|\s]+/g, "_");
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("#extract-form").addEventListener("submit", submit);
  $("#file-input").addEventListener("change", () => { $("#clear-file").hidden = !$("#file-input").files.length; });
  $("#clear-file").addEventListener("click", () => { $("#file-input").value = ""; $("#clear-file").hidden = true; });
  $("#doc-view").addEventListener("click", (e) => {
    const mark = e.target.closest("mark[data-rec]");
    if (mark) select(Number(mark.dataset.rec));
  });
  $("#doc-view").addEventListener("keydown", (e) => {
    const mark = e.target.closest("mark[data-rec]");
    if (mark && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); select(Number(mark.dataset.rec)); }
  });
  $("#records-table").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-rec]");
    if (!row) return;
    const mark = select(Number(row.dataset.rec));
    if (mark) mark.scrollIntoView({ block: "center", behavior: "smooth" });
  });
  $("#download-json").addEventListener("click", () => {
    if (current) download(`${safeName(current.result.doc)}.records.json`,
      JSON.stringify(current.result, null, 2), "application/json;charset=utf-8");
  });
  $("#download-csv").addEventListener("click", () => {
    // The BOM makes Excel and WPS read the file as UTF-8.
    if (current) download(`${safeName(current.result.doc)}.records.csv`,
      "\ufeff" + recordsCsv(current.result.records), "text/csv;charset=utf-8");
  });
});
