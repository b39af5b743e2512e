// The national dashboard: live figures over server-sent events, the drill-down
// province → office → procedure → dossier → path, trend charts (Chart.js, served locally).

const STATUS = {
  in_progress: "Đang giải quyết", awaiting_supplement: "Chờ bổ sung", resolved: "Đã giải quyết",
  returned: "Đã trả kết quả", refused: "Từ chối tiếp nhận", withdrawn: "Đã rút",
  unknown: "Chưa rõ",
};
const TIMELINESS = { early: "Trước hạn", on_time: "Đúng hạn", late: "Quá hạn" };
const REFRESH_SIDE_PANELS_MS = 5000;

const state = { snapshot: null, view: { level: "home" }, chart: null, rates: null, sideAt: 0,
  sideTimer: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "onclick") node.addEventListener("click", value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh",
    hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric" });
}
const pct = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`);
const num = (n) => (n === null || n === undefined ? "—" : String(n));

// The bearer token: given once in the address (#token=..., as `make up` prints it), then
// kept for this tab only and taken out of the address bar.
const TOKEN = (() => {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem("onestop-token", given);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("onestop-token") || "";
})();

async function getJson(url) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function fill(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows);
}

function renderTotals(t) {
  const card = (label, value, cls = "") =>
    el("div", { class: `card ${cls}` }, el("div", { class: "n" }, value), el("div", {}, label));
  document.getElementById("totals").replaceChildren(
    card("Tiếp nhận hôm nay", num(t.received_today)),
    card("Đang giải quyết", num(t.in_progress)),
    card("Sắp đến hạn", num(t.near_due), "warn"),
    card("Quá hạn", num(t.overdue), "bad"),
    card("Tỷ lệ đúng hạn", pct(t.on_time_rate)));
}

function figureCells(f) {
  return [el("td", {}, num(f.received_today)), el("td", {}, num(f.in_progress)),
    el("td", {}, num(f.awaiting_supplement)), el("td", {}, num(f.near_due)),
    el("td", { class: f.overdue ? "late" : "" }, num(f.overdue)),
    el("td", {}, pct(f.on_time_rate))];
}

function renderProvinces(provinces) {
  fill("provinces", provinces.map((p) => el("tr", {
    class: "click", "data-code": p.code, onclick: () => showProvince(p.code),
  }, el("td", {}, String(p.rank)), el("td", {}, p.name), ...figureCells(p))));
}

function dossierRow(d, cells) {
  return el("tr", { class: "click", "data-code": d.dossier_code,
    onclick: () => showDossier(d.dossier_code) }, ...cells);
}

function renderLists(s) {
  fill("recent", s.recent.map((d) => dossierRow(d, [
    el("td", {}, d.dossier_code), el("td", {}, d.agency_name),
    el("td", {}, STATUS[d.status] || d.status),
    el("td", { class: d.overdue ? "late" : "" }, when(d.due_at))])));
  fill("overdue", s.overdue.map((d) => dossierRow(d, [
    el("td", {}, d.dossier_code), el("td", {}, d.agency_name), el("td", {}, when(d.due_at)),
    el("td", {}, when(d.overdue_at)),
    el("td", { class: d.explained ? "ok" : "late" },
      d.explained ? `Đã giải trình (${when(d.explained_at)})` : "Chưa giải trình")])));
}

function renderTrend(trend) {
  const data = {
    labels: trend.map((d) => d.day.slice(5).split("-").reverse().join("/")),
    datasets: [
      { label: "Tiếp nhận", data: trend.map((d) => d.received), borderColor: "#0b4f8a" },
      { label: "Giải quyết", data: trend.map((d) => d.resolved), borderColor: "#1c7a3a" },
      { label: "Giải quyết quá hạn", data: trend.map((d) => d.late), borderColor: "#b3261e" },
    ],
  };
  if (!window.Chart) return;
  if (state.chart) {
    state.chart.data = data;
    state.chart.update("none");
  } else {
    state.chart = new window.Chart(document.getElementById("trend"), {
      type: "line", data, options: { animation: false, responsive: true,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
}

function renderRates(provinces) {
  if (!window.Chart) return;
  const data = {
    labels: provinces.map((p) => p.name.replace("Bảo hiểm xã hội ", "")),
    datasets: [{ label: "Đúng hạn (%)", backgroundColor: "#0b4f8a",
      data: provinces.map((p) => (p.on_time_rate === null ? 0 : p.on_time_rate * 100)) }],
  };
  if (state.rates) {
    state.rates.data = data;
    state.rates.update("none");
  } else {
    state.rates = new window.Chart(document.getElementById("rates"), {
      type: "bar", data, options: { animation: false, indexAxis: "y",
        scales: { x: { min: 0, max: 100 } } },
    });
  }
}

// --- drill-down -----------------------------------------------------------------------

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.flatMap(([label, go], i) => [
    i ? " › " : "", go ? el("a", { onclick: go }, label) : el("strong", {}, label)]));
}

function drill(...children) {
  document.getElementById("drill").replaceChildren(...children);
}

function table(headers, rows, id) {
  return el("table", id ? { id } : {}, el("thead", {}, el("tr", {}, headers.map((h) =>
    el("th", {}, h)))), el("tbody", {}, rows));
}

function provinceOf(code) {
  return state.snapshot?.provinces.find((p) => p.code === code);
}

function showProvince(code) {
  state.view = { level: "province", province: code };
  const p = provinceOf(code);
  if (!p) return;
  crumbs(["Toàn quốc", showHome], [p.name]);
  drill(table(["Đơn vị", "Tiếp nhận hôm nay", "Đang giải quyết", "Chờ bổ sung", "Sắp đến hạn",
    "Quá hạn", "Tỷ lệ đúng hạn"], p.offices.map((o) => el("tr", {
    class: "click", "data-code": o.code, onclick: () => showOffice(code, o.code, o.name),
  }, el("td", {}, o.name), ...figureCells(o))), "offices"));
}

function showHome() {
  state.view = { level: "home" };
  crumbs(["Toàn quốc"]);
  drill(el("p", { class: "hint" }, "Chọn một tỉnh trong bảng xếp hạng."));
}

async function showOffice(province, office, name) {
  state.view = { level: "office", province, office };
  const rows = await getJson(`/api/v1/dashboard/agencies/${encodeURIComponent(office)}/procedures`);
  crumbs(["Toàn quốc", showHome], [provinceOf(province)?.name || province,
    () => showProvince(province)], [name]);
  drill(table(["Thủ tục", "Tổng số", "Đang giải quyết", "Chờ bổ sung", "Đã trả kết quả"],
    rows.map((r) => el("tr", { class: "click", "data-code": r.procedure_code,
      onclick: () => showProcedure(province, office, name, r.procedure_code) },
    el("td", {}, `${r.procedure_code} — ${r.name}`), el("td", {}, num(r.total)),
    el("td", {}, num(r.by_status.in_progress || 0)),
    el("td", {}, num(r.by_status.awaiting_supplement || 0)),
    el("td", {}, num(r.by_status.returned || 0)))), "procedures"));
}

async function showProcedure(province, office, name, procedure) {
  state.view = { level: "procedure", province, office, procedure };
  const rows = await getJson(`/api/v1/dashboard/agencies/${encodeURIComponent(office)}`
    + `/dossiers?procedure=${encodeURIComponent(procedure)}`);
  crumbs(["Toàn quốc", showHome], [provinceOf(province)?.name || province,
    () => showProvince(province)], [name, () => showOffice(province, office, name)], [procedure]);
  drill(table(["Mã hồ sơ", "Kênh", "Tiếp nhận", "Hạn", "Trạng thái", "Kết quả"],
    rows.map((d) => dossierRow(d, [el("td", {}, d.dossier_code), el("td", {}, d.channel),
      el("td", {}, when(d.received_at)), el("td", { class: d.overdue ? "late" : "" },
        when(d.due_at)), el("td", {}, STATUS[d.status] || d.status),
      el("td", {}, TIMELINESS[d.timeliness] || "—")])), "dossiers"));
}

async function showDossier(code) {
  state.view = { level: "dossier", dossier: code };
  const p = await getJson(`/api/v1/dossiers/${encodeURIComponent(code)}/path`);
  const d = p.dossier;
  crumbs(["Toàn quốc", showHome], [provinceOf(d.province)?.name || d.province,
    () => showProvince(d.province)], [d.agency_name, () => showOffice(d.province,
    d.agency_code, d.agency_name)], [d.procedure_code, () => showProcedure(d.province,
    d.agency_code, d.agency_name, d.procedure_code)], [code]);
  const steps = table(["Bước", "Phòng", "Cán bộ", "Từ", "Đến", "Số ngày làm việc", "Kết quả"],
    p.steps.map((s) => el("tr", {}, el("td", {}, `${s.step_no}. ${s.step_code}`),
      el("td", {}, s.department), el("td", {}, s.assignee || "—"), el("td", {}, when(s.from_at)),
      el("td", {}, s.to_at ? when(s.to_at) : "đang giữ"), el("td", {}, num(s.working_days)),
      el("td", {}, TIMELINESS[s.outcome] || s.outcome || "—"))), "steps");
  const timeline = el("ol", { class: "timeline" }, p.events.map((e) => el("li", {
    class: e.kind }, el("time", {}, when(e.at)), el("strong", {}, e.label),
  e.detail ? ` — ${e.detail}` : "", el("span", { class: "hint" }, ` (${e.service})`))));
  const parts = [
    el("p", {}, `${STATUS[d.status] || d.status} · tiếp nhận ${when(d.received_at)} · hạn `
      + `${when(d.due_at)}` + (d.resolved_at ? ` · giải quyết ${when(d.resolved_at)}` : "")),
    el("h3", {}, "Các bước xử lý"), steps, el("h3", {}, "Đường đi của hồ sơ"), timeline];
  if (p.delay) {
    parts.push(el("h3", {}, `Chậm ${p.delay.late_days} ngày làm việc — do ai giữ`
      + (p.delay.held.length ? "" : " (quá hạn ngoài giờ làm việc)")),
      table(["Đơn vị", "Phòng", "Cán bộ", "Ngày"], p.delay.held.map((h) => el("tr", {},
        el("td", {}, h.agency_code === "applicant" ? "Công dân (bổ sung)" : h.agency_code),
        el("td", {}, h.department || "—"), el("td", {}, h.assignee || "—"),
        el("td", {}, String(h.days))))));
  }
  drill(el("section", { id: "path", "data-code": code }, ...parts));
}

// --- side panels (heavier queries: at most every 5 s, the latest change always shown) ---

async function refreshSidePanels() {
  const wait = state.sideAt + REFRESH_SIDE_PANELS_MS - Date.now();
  if (wait > 0) {
    state.sideTimer ??= setTimeout(() => {
      state.sideTimer = null;
      refreshSidePanels().catch((err) => console.warn(err));
    }, wait);
    return;
  }
  state.sideAt = Date.now();
  const [delays, emu, risk] = await Promise.all([getJson("/api/v1/delays"),
    getJson("/api/v1/emulation"), getJson("/api/v1/forecast")]);
  fill("forecast", risk.at_risk.slice(0, 30).map((d) => dossierRow(d, [
    el("td", {}, d.dossier_code), el("td", {}, d.agency_name), el("td", {}, when(d.due_at)),
    el("td", {}, String(d.available_days)), el("td", { class: "late" }, String(d.remaining_days)),
    el("td", {}, String(d.hours_before_alert))])));
  fill("delays", delays.offices.slice(0, 20).map((o) => el("tr", {}, el("td", {}, o.name),
    el("td", { class: "late" }, String(o.overdue_days)), el("td", {}, String(o.dossiers)))));
  fill("emulation", emu.offices.slice(0, 20).map((o) => el("tr", {}, el("td", {}, o.name),
    el("td", {}, num(o.handled)), el("td", {}, pct(o.on_time_rate)),
    el("td", {}, num(o.avg_days_per_step)), el("td", {}, num(o.overdue_days_caused)),
    el("td", {}, o.rating_avg === null ? "—" : `${o.rating_avg}/5 (${o.ratings})`))));
  fill("officers", emu.officers.slice(0, 20).map((o) => el("tr", {}, el("td", {}, o.assignee),
    el("td", {}, o.department), el("td", {}, num(o.handled)), el("td", {}, pct(o.on_time_rate)),
    el("td", {}, num(o.avg_days_per_step)), el("td", {}, num(o.overdue_days_caused)))));
}

// --- live ---------------------------------------------------------------------------------

function apply(snapshot) {
  state.snapshot = snapshot;
  state.receivedAt = new Date().toISOString();
  renderTotals(snapshot.totals);
  renderProvinces(snapshot.provinces);
  renderLists(snapshot);
  renderTrend(snapshot.trend);
  renderRates(snapshot.provinces);
  if (state.view.level === "province") showProvince(state.view.province);
  const live = document.getElementById("live");
  live.textContent = `Trực tiếp · cập nhật ${when(snapshot.generated_at)}`;
  live.className = "live on";
  document.body.dataset.generatedAt = snapshot.generated_at;
  refreshSidePanels().catch((err) => console.warn(err));
}

function connect() {
  const source = new EventSource(
    `/api/v1/dashboard/stream?access_token=${encodeURIComponent(TOKEN)}`);
  source.addEventListener("snapshot", (event) => apply(JSON.parse(event.data)));
  // A stream ends every half minute and the browser reconnects at once: only a
  // reconnection that brings no snapshot within 5 s is shown as a lost connection.
  source.onerror = () => {
    const failedAt = Date.now();
    setTimeout(() => {
      if (Date.parse(state.receivedAt || 0) > failedAt) return;
      const live = document.getElementById("live");
      live.textContent = "Mất kết nối — đang kết nối lại…";
      live.className = "live off";
    }, 5000);
  };
}

showHome();
connect();
