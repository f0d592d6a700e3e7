// cadencia's console: a page on the API, reading and writing through the same endpoints and
// tokens as every other client (the API validates; the page shows what it answers).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("cadencia-token") || "", role: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    const details = (body?.error?.details || []).map((d) => `${d.field}: ${d.message}`);
    super([body?.error?.message || `HTTP ${status}`, ...details].join("\n"));
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { accept: "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const data = text && (r.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, cells.map((c) =>
    c instanceof Node && c.tagName === "TD" ? c : el("td", typeof c === "number" ? { class: "num" } : {}, c)))));
}

const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en", { maximumFractionDigits: 2 }) : n ?? "");

// --- sign in ---------------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  const who = await call("GET", "/v1/session");
  state.role = who.role;
  sessionStorage.setItem("cadencia-token", token);
  document.body.classList.toggle("is-admin", who.role === "admin");
  $("#who").textContent = who.auth ? `signed in: ${who.role}` : "auth off (local development)";
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  show();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try { await signIn($("#token").value.trim()); } catch (err) { $("#login-error").textContent = err.message; }
});

// --- pages -----------------------------------------------------------------------------------

const pages = {
  async campaigns() {
    const { campaigns } = await call("GET", "/v1/campaigns");
    fill($("#campaign-table tbody"), campaigns.map((c) => [
      c.campaign, c.channel, c.active ? "yes" : "no",
      Object.entries(c.filter).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(", "),
      c.ready, c.held, enrolment(c.enrolment),
      el("td", {}, state.role === "admin" ? [
        el("button", { class: "small", onclick: () => editCampaign(c) }, "edit"), " ",
        el("button", { class: "small danger", onclick: () => deleteCampaign(c.campaign) }, "delete"),
      ] : []),
    ]));
  },
  async experiments() {
    const { experiments } = await call("GET", "/v1/experiments");
    const list = $("#experiment-list");
    if (!experiments.length) { list.replaceChildren(el("p", {}, "No experiment in force.")); return; }
    const blocks = [];
    for (const x of experiments) {
      const e = await call("GET", `/v1/experiments/${encodeURIComponent(x.experiment)}`);
      const ci = (v) => (v ? `${v[0]}–${v[1]}` : "");
      const rows = e.results.map((r) => [
        r.arm, JSON.stringify(e.arms.find((a) => a.id === r.arm).params, (k, v) => (v === null ? undefined : v)),
        r.share, r.contacts, r.promises, r.promise_rate ?? "", ci(r.promise_rate_ci95), r.payments, fmt(r.paid),
        fmt(r.cost), fmt(r.net), r.promise_rate_vs_champion ? `${r.promise_rate_vs_champion.difference} (${ci(r.promise_rate_vs_champion.ci95)})` : "",
        el("td", {}, state.role === "admin" && !e.promoted ? el("button", { class: "small", onclick: () => promoteArm(x.experiment, r.arm) }, "promote") : (e.promoted === r.arm ? "promoted" : "")),
      ]);
      const table = el("table", { class: "experiment" }, el("thead", {}, el("tr", {}, ["arm", "params", "share", "contacts", "promises",
        "promise rate", "95% CI", "payments", "paid", "cost", "net", "vs champion", ""].map((h) => el("th", {}, h)))), el("tbody"));
      fill(table.querySelector("tbody"), rows);
      blocks.push(el("h3", {}, `${x.experiment}: ${e.description || ""} (from ${e.from})`), table);
      if (state.role === "admin") {
        blocks.push(el("button", { class: "small danger", onclick: () => endExperiment(x.experiment) }, "end experiment"));
      }
    }
    list.replaceChildren(...blocks);
  },
  async results() {
    const form = $("#results-form");
    if (!form.from.value) {
      const today = new Date();
      form.to.value = today.toISOString().slice(0, 10);
      form.from.value = new Date(today - 29 * 86400e3).toISOString().slice(0, 10);
    }
  },
  async account() {},
  async rules() {
    const r = await call("GET", "/v1/rules");
    const days = Object.keys(r.default_window);
    $("#windows-table thead").replaceChildren(el("tr", {}, el("th", {}, "country"), days.map((d) => el("th", {}, d))));
    fill($("#windows-table tbody"), [
      ...Object.entries(r.windows).map(([c, w]) => [c, ...days.map((d) => w[d] || "closed")]),
      ["elsewhere", ...days.map((d) => r.default_window[d] || "closed")],
    ]);
    $("#rules-notes").textContent = `No contact on public holidays in ${r.holiday_ban.join(", ")}; `
      + `countries with frequency rules of their own: ${r.country_frequency_rules.join(", ")}; `
      + `a dispute holds contact ${r.dispute_hold_days == null ? "until resolved" : `${r.dispute_hold_days} days`}.`;
    $("#caps").textContent = JSON.stringify(r.caps, null, 2);
    fill($("#journeys-table tbody"), r.journeys.map((j) => {
      const who = ["portfolio", "product", "country", "segment", "days_past_due_min", "days_past_due_max",
        "balance_min", "balance_max", "after_intent"].filter((k) => j[k] != null).map((k) => `${k}=${j[k]}`);
      const what = j.stop ? ["no contact"] : ["channels", "templates", "contacts_per_week"]
        .filter((k) => j[k] != null).map((k) => `${k}=${j[k]}`);
      return [j.id, who.join(", ") || "everyone", what.join(", ")];
    }));
  },
  async carriers() {
    const c = await call("GET", "/v1/carriers");
    $("#carriers-model").textContent = `From model ${c.model_version}; carriers configured: ${c.carriers.join(", ")}.`
      + (c.cells.length ? "" : " No call outcome naming a carrier has been learned yet.");
    fill($("#carrier-table tbody"), c.cells.map((r) => [
      r.carrier, r.network === "*" ? "every network" : r.network,
      r.answer_ratio == null ? "" : r.answer_ratio,
      el("td", {}, r.answer_ratio == null ? "" : el("span", { class: "bar", style: `width:${Math.round(r.answer_ratio * 200)}px` })),
      el("td", r.breaker_open ? { class: "open" } : {}, r.breaker_open ? `open since ${r.opened_at}` : "closed"),
    ]));
  },
  async models() {
    const m = await call("GET", "/v1/models");
    fill($("#model-table tbody"), m.models.map((v) => [
      v.version, v.published_at, v.as_of, v.examples_learned, v.observations_learned, v.reason, v.serving ? "serving" : "",
    ]));
  },
};

async function show() {
  const name = (location.hash || "#campaigns").slice(1);
  const page = pages[name] ? name : "campaigns";
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== page; });
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("current", a.hash === `#${page}`));
  try { await pages[page](); } catch (err) {
    if (err.status === 401) return signedOut(err.message);
    const box = document.querySelector(`#${page} .error`) || $(`#${page}`);
    box.textContent = err.message;
  }
}
window.addEventListener("hashchange", show);

function signedOut(message) {
  sessionStorage.removeItem("cadencia-token");
  $("#tabs").hidden = true;
  document.querySelectorAll(".page").forEach((p) => { p.hidden = true; });
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

// --- campaigns -------------------------------------------------------------------------------

const FILTER_NUMBERS = ["days_past_due_min", "days_past_due_max", "balance_min", "balance_max"];
const FILTER_TEXT = ["portfolio", "product", "country", "segment"];

function enrolment(e) {
  if (!e) return "";
  if (e.error) return `failed: ${e.error}`;
  return `${e.done ? "done" : "enrolling"}: ${e.placed} of ${e.accounts} accounts placed`;
}

function editCampaign(c) {
  const f = $("#campaign-form");
  f.campaign.value = c.campaign;
  f.channel.value = c.channel;
  f.active.checked = c.active;
  for (const k of [...FILTER_TEXT, ...FILTER_NUMBERS]) f[k].value = c.filter[k] ?? "";
  f.scrollIntoView();
}

async function deleteCampaign(id) {
  if (!confirm(`Delete campaign ${id}? Its queues are dropped.`)) return;
  try { await call("DELETE", `/v1/campaigns/${encodeURIComponent(id)}`); } catch (err) { $("#campaign-error").textContent = err.message; }
  pages.campaigns();
}

$("#campaign-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  $("#campaign-error").textContent = "";
  $("#campaign-ok").textContent = "";
  const filter = {};
  for (const k of FILTER_TEXT) if (f[k].value.trim()) filter[k] = f[k].value.trim();
  for (const k of FILTER_NUMBERS) if (f[k].value !== "") filter[k] = Number(f[k].value);
  const body = { channel: f.channel.value, active: f.active.checked, filter };
  try {
    const answer = await call("PUT", `/v1/campaigns/${encodeURIComponent(f.campaign.value.trim())}`, body);
    $("#campaign-ok").textContent = answer.unchanged ? "unchanged" : `saved: ${answer.campaign}, enrolling`;
    await pages.campaigns();
  } catch (err) { $("#campaign-error").textContent = err.message; }
});

// --- experiments -----------------------------------------------------------------------------

$("#experiment-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  $("#experiment-error").textContent = "";
  let body;
  try { body = JSON.parse(f.definition.value); } catch (err) {
    $("#experiment-error").textContent = `the definition is not JSON: ${err.message}`;
    return;
  }
  try {
    await call("PUT", `/v1/experiments/${encodeURIComponent(f.experiment.value.trim())}`, body);
    await pages.experiments();
  } catch (err) { $("#experiment-error").textContent = err.message; }
});

async function promoteArm(id, arm) {
  if (!confirm(`Promote ${arm}? It then decides for every account.`)) return;
  try { await call("POST", `/v1/experiments/${encodeURIComponent(id)}/promote`, { arm }); } catch (err) { $("#experiments-error").textContent = err.message; }
  pages.experiments();
}

async function endExperiment(id) {
  if (!confirm(`End ${id}? Every account decides with the configuration again.`)) return;
  try { await call("DELETE", `/v1/experiments/${encodeURIComponent(id)}`); } catch (err) { $("#experiments-error").textContent = err.message; }
  pages.experiments();
}

// --- results ---------------------------------------------------------------------------------

const MEASURES = ["contacts", "deliveries", "engaged", "promises", "payments", "optouts", "cost", "promised", "paid", "net"];

function resultsQuery(format) {
  const f = $("#results-form");
  const q = new URLSearchParams({ from: f.from.value, to: f.to.value, by: f.by.value.replace(/\s/g, "") });
  if (format) q.set("format", format);
  return `/v1/reports/results?${q}`;
}

$("#results-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#results-error").textContent = "";
  try {
    const r = await call("GET", resultsQuery());
    $("#results-table thead").replaceChildren(el("tr", {}, [...r.by, ...MEASURES].map((h) => el("th", {}, h))));
    fill($("#results-table tbody"), r.rows.map((row) => [...r.by.map((b) => row[b]), ...MEASURES.map((m) => row[m])]));
    $("#results-table tfoot").replaceChildren(el("tr", {}, el("th", { colspan: r.by.length }, "total"),
      MEASURES.map((m) => el("td", { class: "num" }, fmt(r.totals[m])))));
    plotResults(r);
  } catch (err) { $("#results-error").textContent = err.message; }
});

$("#results-csv").addEventListener("click", async () => {
  try {
    const text = await call("GET", resultsQuery("csv"));
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: "results.csv" });
    link.click();
  } catch (err) { $("#results-error").textContent = err.message; }
});

let chart = null;

function plotResults(r) {
  // contacts per day, one line per value of the first other dimension (when `by` has day)
  if (chart) { chart.destroy(); chart = null; }
  const box = $("#results-chart");
  box.replaceChildren();
  if (!r.by.includes("day") || !r.rows.length) return;
  const split = r.by.find((b) => b !== "day");
  const days = [];  // every day of the range, so days without contacts plot as 0
  for (let t = Date.parse(`${r.from}T00:00:00Z`); t <= Date.parse(`${r.to}T00:00:00Z`); t += 86400e3) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  const groups = [...new Set(r.rows.map((row) => (split ? row[split] : "all")))].sort();
  const series = groups.map((g) => days.map((d) => r.rows
    .filter((row) => row.day === d && (split ? row[split] === g : true))
    .reduce((n, row) => n + row.contacts, 0)));
  const colours = ["#2557a7", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207"];
  chart = new uPlot({
    title: `contacts per day${split ? ` by ${split}` : ""}`, width: Math.min(1100, box.clientWidth || 900), height: 260,
    series: [{}, ...groups.map((g, i) => ({ label: String(g), stroke: colours[i % colours.length], width: 2 }))],
    axes: [{}, { label: "contacts" }],
  }, [days.map((d) => Date.parse(`${d}T12:00:00Z`) / 1000), ...series], box);
}

// --- one account -----------------------------------------------------------------------------

$("#account-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#account-error").textContent = "";
  const id = encodeURIComponent(e.target.account_id.value.trim());
  try {
    const [account, timeline] = await Promise.all([
      call("GET", `/v1/accounts/${id}`), call("GET", `/v1/accounts/${id}/timeline`)]);
    $("#account-live").textContent = JSON.stringify(account, null, 2);
    fill($("#timeline-table tbody"), timeline.entries.map((t) => [
      t.at, t.kind === "event" ? t.type : t.kind, t.channel, t.status || (t.action ?? ""), t.template, t.carrier, t.decision_id,
    ]));
  } catch (err) { $("#account-error").textContent = err.message; }
});

// --- start -----------------------------------------------------------------------------------

signIn(state.token).catch((err) => signedOut(err.status === 401 ? "" : err.message));
