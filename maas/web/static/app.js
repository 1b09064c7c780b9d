// The operator dashboard: plain JavaScript over the JSON API. The access token lives in
// sessionStorage (this tab only) and goes out as "Authorization: Bearer" — no cookies.
"use strict";

(function () {
  const TOKEN_KEY = "maas.token";
  const LANG_KEY = "maas.lang";
  const SERVICE_ZONE = "Europe/Berlin";
  const WHATIF_FIELDS = ["max_detour_min", "max_detour_pct", "ride_time_factor",
    "ride_time_extra_min", "max_walk_m", "fairness_weight"];
  const KPI_CARDS = [
    ["requests", ""], ["served", ""], ["served_share", "%"], ["wait_median_min", "min"],
    ["wait_p90_min", "min"], ["detour_mean_km", "km"], ["detour_p95_km", "km"],
    ["vehicle_km_alone", "km"], ["vehicle_km_saved", "km"], ["co2_saved_kg", "kg"],
    ["volunteers", ""], ["rides_per_volunteer", ""], ["active_drivers", ""],
    ["rides_gini", ""], ["rides_top20_share", "%"],
  ];
  const CHART_KPIS = [["served_share", "%"], ["wait_median_min", "min"],
    ["detour_mean_km", "km"], ["vehicle_km_saved", "km"], ["co2_saved_kg", "kg"]];

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    lang: localStorage.getItem(LANG_KEY) || (navigator.language || "en").slice(0, 2),
    me: null, communities: [], communityId: null, tab: "map",
    map: null, layers: {}, control: null, roadsDetail: null,
    params: null, whatifRun: null, whatifTimer: null, lastKpis: null, lastWhatif: null,
  };
  if (!window.MAAS_I18N[state.lang]) state.lang = "en";

  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => {
    let text = window.MAAS_I18N[state.lang][key];
    if (text === undefined) text = window.MAAS_I18N.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.replace("{" + k + "}", v);
    return text;
  };
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  };
  const num = (value, digits) => value === null || value === undefined ? t("none") :
    new Intl.NumberFormat(state.lang, { maximumFractionDigits: digits === undefined ? 1 : digits })
      .format(value);
  const withUnit = (value, unit) => {
    if (value === null || value === undefined) return t("none");
    if (unit === "%") return num(value * 100, 0) + " %";
    return unit ? num(value) + " " + t("unit." + unit) : num(value, 2);
  };
  // The service plans by calendar days of its zone, whatever the browser's zone is.
  const serviceDay = (offset) => {
    const parts = new Intl.DateTimeFormat("en", { timeZone: SERVICE_ZONE, year: "numeric",
      month: "2-digit", day: "2-digit" }).formatToParts(new Date());
    const part = (type) => Number(parts.find((p) => p.type === type).value);
    const day = new Date(Date.UTC(part("year"), part("month") - 1, part("day") + offset));
    return day.toISOString().slice(0, 10);
  };
  const dateTime = (iso) => iso ? new Date(iso).toLocaleString(state.lang, {
    dateStyle: "medium", timeStyle: "short" }) : t("none");

  // ---- API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem && problem.detail ? problem.detail : "HTTP " + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const headers = { "Authorization": "Bearer " + state.token };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.body);
    }
    if (opts.accept) headers["Accept"] = opts.accept;
    const response = await fetch(path, { method: opts.method, headers, body: opts.body });
    if (!response.ok) {
      let problem = null;
      try { problem = await response.json(); } catch (e) { problem = null; }
      throw new ApiError(response.status, problem);
    }
    if (opts.raw) return response;
    return response.json();
  }

  // ---- language -------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const b of document.querySelectorAll("[data-lang]")) {
      b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
    }
    if (state.me) {
      renderLayerControl();
      if (state.params) renderParams();
      if (state.lastKpis) renderKpis(state.lastKpis);
      if (state.lastWhatif) renderWhatif(state.lastWhatif);
      loadTab();
    }
  }

  // ---- sign in --------------------------------------------------------------------------

  async function signIn(token) {
    state.token = token;
    const error = $("login-error");
    error.textContent = "";
    try {
      state.me = await api("/v1/me");
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      error.textContent = t("login.bad");
      return;
    }
    const admin = state.me.roles.includes("admin");
    if (!admin && state.me.operator_of.length === 0) {
      state.me = null;
      error.textContent = t("login.not_operator");
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    if (admin) {
      // every community, page by page
      const all = [];
      let cursor = null;
      do {
        const page = await api("/v1/communities?limit=200" +
          (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
        all.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      state.communities = all;
    } else {
      state.communities = await Promise.all(
        state.me.operator_of.map((id) => api("/v1/communities/" + id)));
    }
    state.communities.sort((a, b) => a.name.localeCompare(b.name));
    const select = $("community");
    select.replaceChildren(...state.communities.map((c) =>
      el("option", { value: c.id, text: c.name })));
    state.communityId = state.communities.length ? state.communities[0].id : null;
    $("login").hidden = true;
    for (const id of ["tabs", "period", "community-pick", "logout"]) $(id).hidden = false;
    document.body.classList.add("signed-in");
    showTab("map");
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  }

  function community() {
    return state.communities.find((c) => c.id === state.communityId);
  }

  // ---- tabs -----------------------------------------------------------------------------

  function showTab(name) {
    state.tab = name;
    for (const section of document.querySelectorAll(".tab")) {
      section.hidden = section.id !== "tab-" + name;
    }
    for (const b of document.querySelectorAll("[data-tab]")) {
      b.setAttribute("aria-current", b.dataset.tab === name ? "page" : "false");
    }
    $("period").hidden = !(name === "map" || name === "kpis");
    loadTab();
  }

  function loadTab() {
    if (!state.communityId) return;
    const run = { map: loadMap, kpis: loadKpis, params: loadParams, whatif: loadWhatif }[state.tab];
    run().catch(showFatal);
  }

  function showFatal(e) {
    console.error(e);
    const target = { map: "map-error", kpis: "kpi-note", params: "params-error",
      whatif: "whatif-error" }[state.tab];
    $(target).textContent = e.message;
  }

  function periodQuery() {
    return "from=" + $("from").value + "&to=" + $("to").value;
  }

  // ---- map ------------------------------------------------------------------------------

  const ROAD_STYLE = {
    motorway: [4, "#c0392b"], trunk: [4, "#d35400"], primary: [3.5, "#e67e22"],
    secondary: [3, "#f1c40f"], tertiary: [2.5, "#b7950b"],
  };

  function roadStyle(feature) {
    const cls = feature.properties.highway.replace("_link", "");
    const [weight, color] = ROAD_STYLE[cls] || [1.2, "#7f8c8d"];
    return { weight, color, opacity: 0.9 };
  }

  function ensureMap() {
    if (state.map) return;
    if (typeof L === "undefined") {
      throw new Error("The map library (Leaflet) is missing on the server: run 'npm ci'.");
    }
    state.map = L.map("map", { preferCanvas: false, zoomSnap: 0.5 });
    state.map.attributionControl.setPrefix(false);
    state.map.attributionControl.addAttribution("© OpenStreetMap contributors, ODbL");
    state.map.on("zoomend", () => loadRoads().catch(showFatal));
    state.map.setView([48.6, 8.87], 11);
  }

  async function loadRoads() {
    const detail = state.map.getZoom() >= 13 ? "all" : "major";
    if (state.roadsDetail === detail) return;
    state.roadsDetail = detail;
    const region = community() ? community().region : "herrenberg";
    const data = await api("/v1/regions/" + encodeURIComponent(region) +
      "/roads.geojson?detail=" + detail);
    setLayer("roads", L.geoJSON(data, { style: roadStyle, interactive: false }), data, true);
  }

  function setLayer(name, layer, data, visible) {
    const old = state.layers[name];
    const wasShown = old ? state.map.hasLayer(old) : visible;
    if (old) state.map.removeLayer(old);
    state.layers[name] = layer;
    if (wasShown) layer.addTo(state.map);
    $("map").dataset[name] = String(data.features.length);
    renderLayerControl();
  }

  function renderLayerControl() {
    if (!state.map) return;
    if (state.control) state.control.remove();
    const overlays = {};
    for (const name of ["villages", "roads", "offers", "requests", "routes", "unmet", "grid"]) {
      if (state.layers[name]) overlays[t("layer." + name)] = state.layers[name];
    }
    state.control = L.control.layers(null, overlays, { collapsed: false }).addTo(state.map);
  }

  async function loadMap() {
    ensureMap();
    const villages = await api("/v1/communities.geojson");
    const current = state.communityId;
    const villageLayer = L.geoJSON(villages, {
      style: (f) => f.properties.id === current
        ? { color: "#1a5276", weight: 4, fillColor: "#5dade2", fillOpacity: 0.18 }
        : { color: "#909497", weight: 1, dashArray: "4 4", fillOpacity: 0 },
      onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name),
    });
    setLayer("villages", villageLayer, villages, true);
    villageLayer.eachLayer((layer) => {
      if (layer.feature.properties.id === current) layer.bringToFront();
    });
    // The map may have been laid out while its tab was hidden: measure it again first.
    state.map.invalidateSize();
    const mine = villages.features.find((f) => f.properties.id === current);
    if (mine) state.map.fitBounds(L.geoJSON(mine).getBounds(), { padding: [30, 30] });
    state.roadsDetail = null;
    await loadRoads();
    const layers = await api("/v1/communities/" + current + "/map?" + periodQuery());
    setLayer("offers", L.geoJSON(layers.offers, {
      style: { color: "#1e8449", weight: 2, dashArray: "6 4" },
      onEachFeature: (f, l) => l.bindTooltip(t("layer.offers")),
    }), layers.offers, true);
    setLayer("requests", L.geoJSON(layers.requests, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 5, color: "#2471a3", weight: 1,
        fillColor: "#5dade2", fillOpacity: 0.8 }),
    }), layers.requests, true);
    setLayer("routes", L.geoJSON(layers.routes, { style: { color: "#6c3483", weight: 4 } }),
      layers.routes, true);
    setLayer("unmet", L.geoJSON(layers.unmet, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#922b21", weight: 2,
        fillColor: "#e74c3c", fillOpacity: 0.9 }),
    }), layers.unmet, true);
    const most = Math.max(1, ...layers.unmet_grid.features.map((f) => f.properties.unmet));
    setLayer("grid", L.geoJSON(layers.unmet_grid, {
      style: (f) => ({ color: "#922b21", weight: 0.5,
        fillColor: "#e74c3c", fillOpacity: 0.15 + 0.5 * f.properties.unmet / most }),
      onEachFeature: (f, l) => l.bindTooltip(t("layer.grid") + ": " + f.properties.unmet),
    }), layers.unmet_grid, false);
    setTimeout(() => state.map.invalidateSize(), 50);
  }

  // ---- KPIs -----------------------------------------------------------------------------

  async function loadKpis() {
    const k = await api("/v1/communities/" + state.communityId + "/kpis?" + periodQuery());
    state.lastKpis = k;
    renderKpis(k);
  }

  function renderKpis(k) {
    $("kpi-cards").replaceChildren(...KPI_CARDS.map(([key, unit]) =>
      el("div", { class: "kpi", "data-kpi": key },
        el("div", { class: "kpi-value", text: withUnit(k[key], unit) }),
        el("div", { class: "kpi-label", text: t("kpi." + key) }))));
    const head = el("tr", {}, el("th", { text: t("kpi.village") }),
      el("th", { text: t("kpi.requests") }), el("th", { text: t("kpi.served") }),
      el("th", { text: t("kpi.served_share") }));
    $("kpi-villages").replaceChildren(head, ...k.villages.map((v) => el("tr", {},
      el("td", { text: v.village }), el("td", { text: num(v.requests, 0) }),
      el("td", { text: num(v.served, 0) }), el("td", { text: withUnit(v.served_share, "%") }))));
    $("kpi-note").textContent = t("kpi.note", {
      circuity: num(k.road_circuity, 2), factor: num(k.co2_kg_per_vehicle_km, 3) });
  }

  async function downloadCsv(table) {
    const response = await api("/v1/communities/" + state.communityId + "/kpis?" +
      periodQuery() + "&table=" + table, { accept: "text/csv", raw: true });
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob),
      download: "kpis-" + table + "-" + $("from").value + "-" + $("to").value + ".csv" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  // ---- parameters -----------------------------------------------------------------------

  async function loadParams() {
    state.params = await api("/v1/communities/" + state.communityId + "/params");
    renderParams();
    await loadHistory();
  }

  function fieldInput(f, value, idPrefix) {
    const id = idPrefix + f.name;
    let input;
    if (f.kind === "int" || f.kind === "float") {
      input = el("input", { id, name: f.name, type: "number", min: f.min, max: f.max,
        step: f.kind === "int" ? "1" : "0.1" });
    } else if (f.kind === "clock") {
      input = el("input", { id, name: f.name, type: "time" });
    } else if (f.kind === "phone") {
      input = el("input", { id, name: f.name, type: "tel", maxlength: f.max_length });
    } else {
      input = el("textarea", { id, name: f.name, maxlength: f.max_length, rows: "2" });
    }
    input.value = value === null || value === undefined ? "" : String(value);
    input.dataset.kind = f.kind;
    const hint = f.kind === "int" || f.kind === "float"
      ? t("params.range", { min: num(f.min, 2), max: num(f.max, 2) }) +
        (f.unit ? " " + t("unit." + f.unit) : "")
      : "";
    return el("div", { class: "field", "data-field": f.name },
      el("label", { for: id, text: t("param." + f.name) }),
      el("div", { class: "input-row" }, input,
        el("span", { class: "unit", text: f.unit ? t("unit." + f.unit) : "" })),
      el("div", { class: "hint", text: hint }),
      el("div", { class: "field-error", id: "err-" + id, role: "alert" }));
  }

  function renderParams() {
    const p = state.params;
    $("params-version").textContent = t("params.version", { v: p.version });
    $("params-fields").replaceChildren(...p.fields.map((f) => fieldInput(f, p.params[f.name], "p-")));
  }

  function readValue(input) {
    const raw = input.value.trim();
    if (input.dataset.kind === "int" || input.dataset.kind === "float") {
      return raw === "" ? null : Number(raw);
    }
    if (input.dataset.kind === "clock") return raw === "" ? null : raw.slice(0, 5);
    return raw;
  }

  function clearErrors(form) {
    for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  }

  function showProblem(e, prefix, generalId) {
    const problem = e.problem || {};
    const errors = problem.errors || (problem.field ? [{ field: problem.field,
      detail: problem.detail }] : []);
    let placed = false;
    for (const err of errors) {
      const name = String(err.field || "").replace(/^params\./, "");
      const box = $("err-" + prefix + name);
      if (box) {
        box.textContent = fieldMessage(name, prefix, err.detail);
        box.closest(".field").classList.add("invalid");
        placed = true;
      }
    }
    $(generalId).textContent = placed ? t("params.invalid") : e.message;
  }

  // A range error in plain words and the page's language; other problems as the API says.
  function fieldMessage(name, prefix, detail) {
    const f = state.params && state.params.fields.find((x) => x.name === name);
    const input = $(prefix + name);
    if (f && input && (f.kind === "int" || f.kind === "float")) {
      const value = Number(input.value);
      if (input.value.trim() === "" || Number.isNaN(value) || value < f.min || value > f.max ||
          (f.kind === "int" && !Number.isInteger(value))) {
        return t("params.out_of_range", { min: num(f.min, 2), max: num(f.max, 2),
          unit: f.unit ? t("unit." + f.unit) : "" }).trim();
      }
    }
    return detail;
  }

  async function saveParams(event) {
    event.preventDefault();
    const form = $("params-form");
    clearErrors(form);
    $("params-error").textContent = "";
    $("params-ok").textContent = "";
    const changed = {};
    for (const f of state.params.fields) {
      const value = readValue($("p-" + f.name));
      if (value !== state.params.params[f.name] && !(value === null && f.kind !== "clock")) {
        changed[f.name] = value;
      }
    }
    if (Object.keys(changed).length === 0) {
      $("params-ok").textContent = t("params.unchanged");
      return;
    }
    try {
      const saved = await api("/v1/communities/" + state.communityId + "/params", {
        method: "PATCH",
        body: { params: changed, reason: $("params-reason").value,
          base_version: state.params.version },
      });
      $("params-reason").value = "";
      await loadParams();
      $("params-ok").textContent = t("params.saved", { v: saved.version });
    } catch (e) {
      showProblem(e, "p-", "params-error");
    }
  }

  function changeText(c) {
    const show = (v) => v === null || v === undefined || v === "" ? t("none") : String(v);
    return t("param." + c.field) + ": " + show(c.old) + " → " + show(c.new);
  }

  async function loadHistory() {
    const page = await api("/v1/communities/" + state.communityId + "/params/history");
    const head = el("tr", {}, el("th", { text: "#" }), el("th", { text: t("params.when") }),
      el("th", { text: t("params.who") }), el("th", { text: t("params.why") }),
      el("th", { text: t("params.what") }), el("th", {}));
    const rows = page.items.map((v) => {
      const changes = el("ul", {}, ...(v.changes || []).map((c) => el("li", { text: changeText(c) })));
      const restore = v.version === state.params.version ? "" :
        el("button", { type: "button", class: "small", text: t("params.restore"),
          "data-version": String(v.version), onclick: () => restoreVersion(v.version) });
      return el("tr", { "data-version": String(v.version) },
        el("td", { text: String(v.version) }), el("td", { text: dateTime(v.changed_at) }),
        el("td", { text: v.changed_by ? (v.changed_by.name || "—") : t("params.system") }),
        el("td", { text: v.reason || "" }), el("td", {}, changes), el("td", {}, restore));
    });
    $("params-history").replaceChildren(head, ...rows);
  }

  async function restoreVersion(version) {
    try {
      const saved = await api("/v1/communities/" + state.communityId + "/params/rollback", {
        method: "POST", body: { version } });
      await loadParams();
      $("params-ok").textContent = t("params.restored", { v: version, n: saved.version });
    } catch (e) {
      showProblem(e, "p-", "params-error");
    }
  }

  // ---- what-if --------------------------------------------------------------------------

  async function loadWhatif() {
    if (!state.params || state.params.community_id !== state.communityId) {
      state.params = await api("/v1/communities/" + state.communityId + "/params");
    }
    const fields = state.params.fields.filter((f) => WHATIF_FIELDS.includes(f.name));
    $("whatif-fields").replaceChildren(...fields.map((f) =>
      fieldInput(f, state.params.params[f.name], "w-")));
    if (!$("whatif-day").value) {
      $("whatif-day").value = serviceDay(-1);
    }
  }

  async function startWhatif(event) {
    event.preventDefault();
    const form = $("whatif-form");
    clearErrors(form);
    $("whatif-error").textContent = "";
    $("whatif-result").hidden = true;
    const params = {};
    for (const name of WHATIF_FIELDS) params[name] = readValue($("w-" + name));
    const body = { day: $("whatif-day").value, source: $("whatif-source").value, params };
    if (body.source === "generated") body.num_requests = Number($("whatif-count").value);
    try {
      const run = await api("/v1/communities/" + state.communityId + "/whatif-runs", {
        method: "POST", body });
      state.whatifRun = run.id;
      $("whatif-cancel").hidden = false;
      $("whatif-run").disabled = true;
      showStage(run);
      pollWhatif();
    } catch (e) {
      const box = $("err-w-day");
      if (e.problem && e.problem.field === "day" && !box) {
        $("whatif-error").textContent = e.message;
      } else {
        showProblem(e, "w-", "whatif-error");
      }
    }
  }

  function showStage(run) {
    const progress = $("whatif-progress");
    progress.dataset.status = run.status;
    if (run.status === "cancelled") progress.textContent = t("whatif.status.cancelled");
    else if (run.status === "failed") progress.textContent = t("whatif.status.failed",
      { error: run.error || "" });
    else {
      const at = run.stages.indexOf(run.stage) + 1;
      progress.textContent = "(" + at + "/" + run.stages.length + ") " + t("whatif.stage." + run.stage);
    }
  }

  function pollWhatif() {
    clearTimeout(state.whatifTimer);
    state.whatifTimer = setTimeout(async () => {
      try {
        const run = await api("/v1/whatif-runs/" + state.whatifRun);
        showStage(run);
        if (run.status === "running") { pollWhatif(); return; }
        $("whatif-cancel").hidden = true;
        $("whatif-run").disabled = false;
        if (run.status === "succeeded") {
          state.lastWhatif = run;
          renderWhatif(run);
        }
      } catch (e) {
        $("whatif-error").textContent = e.message;
      }
    }, 700);
  }

  async function cancelWhatif() {
    if (!state.whatifRun) return;
    const run = await api("/v1/whatif-runs/" + state.whatifRun + "/cancel", { method: "POST" });
    clearTimeout(state.whatifTimer);
    showStage(run);
    $("whatif-cancel").hidden = true;
    $("whatif-run").disabled = false;
  }

  function renderWhatif(run) {
    const r = run.result;
    const refLabel = t("whatif." + r.reference_kind);
    const units = Object.fromEntries(KPI_CARDS);
    const head = el("tr", {}, el("th", { text: t("whatif.kpi") }),
      el("th", { text: t("whatif.candidate") }), el("th", { text: refLabel }),
      el("th", { text: t("whatif.difference") }));
    const rows = r.comparison.map((c) => {
      const unit = units[c.kpi];
      const sign = c.difference > 0 ? "+" : "";
      const diff = c.difference === null ? t("none")
        : unit === "%" ? sign + num(c.difference * 100, 0) + " " + t("unit.pp")
          : sign + withUnit(c.difference, unit);
      return el("tr", { "data-kpi": c.kpi }, el("td", { text: t("kpi." + c.kpi) }),
        el("td", { text: withUnit(c.candidate, unit) }),
        el("td", { text: withUnit(c.reference, unit) }), el("td", { text: diff }));
    });
    $("whatif-table").replaceChildren(head, ...rows);
    $("whatif-chart").replaceChildren(barChart(r, refLabel));
    $("whatif-result").hidden = false;
  }

  function barChart(r, refLabel) {
    const NS = "http://www.w3.org/2000/svg";
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const rowH = 46, labelW = 300, barW = 360, width = labelW + barW + 90;
    const height = 40 + CHART_KPIS.length * rowH;
    const svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, width: "100%",
      role: "img", "aria-label": t("whatif.chart"), class: "chart" });
    svg.append(svgEl("rect", { x: labelW, y: 6, width: 12, height: 12, class: "bar-a" }));
    svg.append(svgEl("text", { x: labelW + 18, y: 17 }, t("whatif.candidate")));
    svg.append(svgEl("rect", { x: labelW + 200, y: 6, width: 12, height: 12, class: "bar-b" }));
    svg.append(svgEl("text", { x: labelW + 218, y: 17 }, refLabel));
    CHART_KPIS.forEach(([key, unit], i) => {
      const a = r.candidate[key], b = r.reference[key];
      const top = 32 + i * rowH;
      const most = Math.max(Math.abs(a || 0), Math.abs(b || 0)) || 1;
      svg.append(svgEl("text", { x: 0, y: top + 20, class: "chart-label" }, t("kpi." + key)));
      [[a, "bar-a", 0], [b, "bar-b", 18]].forEach(([v, cls, dy]) => {
        const w = Math.max(1, barW * Math.abs(v || 0) / most);
        svg.append(svgEl("rect", { x: labelW, y: top + dy, width: w, height: 15, class: cls,
          "data-kpi": key }));
        svg.append(svgEl("text", { x: labelW + w + 6, y: top + dy + 12, class: "chart-value" },
          withUnit(v, unit)));
      });
    });
    return svg;
  }

  // ---- wiring ---------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("to").value = serviceDay(0);
    $("from").value = serviceDay(-6);
    for (const b of document.querySelectorAll("[data-lang]")) {
      b.addEventListener("click", () => {
        state.lang = b.dataset.lang;
        localStorage.setItem(LANG_KEY, state.lang);
        applyLanguage();
      });
    }
    for (const b of document.querySelectorAll("[data-tab]")) {
      b.addEventListener("click", () => showTab(b.dataset.tab));
    }
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      signIn($("token").value.trim());
    });
    $("logout").addEventListener("click", signOut);
    $("community").addEventListener("change", (e) => {
      state.communityId = e.target.value;
      state.params = null;
      loadTab();
    });
    $("reload").addEventListener("click", loadTab);
    $("params-form").addEventListener("submit", saveParams);
    $("whatif-form").addEventListener("submit", startWhatif);
    $("whatif-cancel").addEventListener("click", () => cancelWhatif().catch(showFatal));
    $("whatif-source").addEventListener("change", (e) => {
      $("whatif-count-label").hidden = e.target.value !== "generated";
    });
    $("csv-summary").addEventListener("click", () => downloadCsv("summary").catch(showFatal));
    $("csv-villages").addEventListener("click", () => downloadCsv("villages").catch(showFatal));
    $("csv-unmet").addEventListener("click", () => downloadCsv("unmet").catch(showFatal));
    applyLanguage();
    if (state.token) signIn(state.token);
  });
})();
