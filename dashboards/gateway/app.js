// selgw dashboard: draws the page the URL names from the gateway's read-only JSON API and
// refreshes it every few seconds without reloading. Every text from the gateway (plot ids,
// device ids, notes) is inserted with textContent, never as HTML: an id may hold markup.
// Words come from the one table in i18n.js.
"use strict";

(function () {
  var LANG_KEY = "selgw.lang";
  var REFRESH_MS = 5000; // base, devices, delivery, and the plot page's latest values
  var HISTORY_EVERY = 6; // the plot page's charts and notes: every 6th refresh (30 s)
  var PERIODS = ["24h", "7d", "30d"];
  // the fields a manager looks at first, in this order; others follow in the device's order
  var MAIN_FIELDS = [
    "soil_moisture",
    "soil_temperature",
    "soil_ec",
    "soil_ph",
    "air_temperature",
    "air_humidity",
  ];
  // a reading older than this many polling intervals is stale
  var STALE_INTERVALS = 3;

  // ---- language ---------------------------------------------------------------------

  function normLang(v) {
    if (!v) return null;
    v = String(v).toLowerCase();
    if (v === "en" || v.indexOf("en-") === 0) return "en";
    if (v === "zh" || v.indexOf("zh-") === 0 || v === "zh_cn") return "zh";
    return null;
  }

  function storedLang() {
    try {
      return normLang(window.localStorage.getItem(LANG_KEY));
    } catch (e) {
      return null; // storage may be off; Chinese then
    }
  }

  function storeLang(l) {
    try {
      window.localStorage.setItem(LANG_KEY, l);
    } catch (e) {
      /* not remembered: the URL still says it */
    }
  }

  var params = new URLSearchParams(window.location.search);
  var lang = normLang(params.get("lang")) || storedLang() || "zh";
  if (normLang(params.get("lang"))) storeLang(lang);

  function has(key) {
    return Object.prototype.hasOwnProperty.call(SELGW_I18N, key);
  }

  // t("ago_s", {n: 5}) -> "5 秒前"; a key not in the table is shown as itself
  function t(key, vars) {
    var s = has(key) ? SELGW_I18N[key][lang] : key;
    if (vars)
      Object.keys(vars).forEach(function (k) {
        s = s.split("{" + k + "}").join(String(vars[k]));
      });
    return s;
  }

  function tOr(prefix, name) {
    return has(prefix + name) ? t(prefix + name) : name;
  }

  // the one table of field, unit and crop names (dashboards/i18n.json), loaded at start
  var names = { fields: {}, units: {}, crops: {} };
  var namesLoaded = false;

  function loadNames() {
    return getJSON("/assets/i18n.json").then(function (n) {
      ["fields", "units", "crops"].forEach(function (k) { names[k] = n[k] || {}; });
    });
  }

  function named(table, id) {
    var e = Object.prototype.hasOwnProperty.call(table, id) ? table[id] : null;
    return e && typeof e[lang] === "string" ? e[lang] : id;
  }

  function fieldName(f) {
    return named(names.fields, f);
  }

  function unitText(u) {
    return u ? named(names.units, u) : "";
  }

  function cropName(c) {
    return named(names.crops, c);
  }

  // ---- DOM helpers: text only -----------------------------------------------------------

  // el("span", {class: "x", "data-device": id}, "text" | node | [nodes or texts])
  function el(tag, attrs, content) {
    var e = document.createElement(tag);
    if (attrs)
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") e.className = v;
        else e.setAttribute(k, v === true ? "" : String(v));
      });
    append(e, content);
    return e;
  }

  function append(e, content) {
    if (content === null || content === undefined) return;
    if (Array.isArray(content)) content.forEach(function (c) { append(e, c); });
    else if (content instanceof Node) e.appendChild(content);
    else e.appendChild(document.createTextNode(String(content)));
  }

  function plotHref(id) {
    return "/plot/" + encodeURIComponent(id);
  }

  // ---- numbers and times ---------------------------------------------------------------

  function fmtNum(v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    var a = Math.abs(v);
    var r = a >= 1000 ? Math.round(v) : Math.round(v * 100) / 100;
    return String(r);
  }

  function parseTime(iso) {
    if (!iso) return null;
    // at most milliseconds: the records carry microseconds
    var ms = Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
    return isNaN(ms) ? null : ms;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // "12-02 15:04:05" in the browser's time zone (the charts' too: on a phone at the base,
  // the base's), with the year if it is not this one
  function fmtTime(iso) {
    var ms = parseTime(iso);
    if (ms === null) return t("never");
    var d = new Date(ms);
    var day = pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    if (d.getFullYear() !== new Date().getFullYear()) day = d.getFullYear() + "-" + day;
    return day + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fmtAge(s) {
    if (s === null || s === undefined || !isFinite(s)) return t("never");
    s = Math.max(0, s);
    if (s < 60) return t("ago_s", { n: Math.round(s) });
    if (s < 3600) return t("ago_m", { n: Math.floor(s / 60) });
    if (s < 86400) return t("ago_h", { n: Math.floor(s / 3600) });
    return t("ago_d", { n: Math.floor(s / 86400) });
  }

  function fmtDuration(ms) {
    if (ms < 1000) return ms + " " + t("unit_ms");
    return fmtNum(ms / 1000) + " " + t("unit_s");
  }

  function fmtBytes(n) {
    if (n >= 1073741824) return fmtNum(n / 1073741824) + " GiB";
    if (n >= 1048576) return fmtNum(n / 1048576) + " MiB";
    if (n >= 1024) return fmtNum(n / 1024) + " KiB";
    return n + " " + t("unit_bytes");
  }

  function kinds(obj) {
    var keys = Object.keys(obj || {});
    if (!keys.length) return t("none");
    return keys.map(function (k) { return tOr("err.", k) + " " + obj[k]; }).join(" · ");
  }

  // ---- fetching ----------------------------------------------------------------------

  // an error of the connection or of the gateway's answer (not of this script) is marked
  // "remote": the page says it cannot reach the gateway and tries again
  function getJSON(url) {
    function remote(err) {
      err.remote = true;
      throw err;
    }
    return fetch(url, { cache: "no-store", headers: { Accept: "application/json" } }).then(
      function (r) {
        if (!r.ok) remote(new Error(url + ": HTTP " + r.status));
        return r.json().catch(remote);
      },
      remote
    );
  }

  var main = document.getElementById("main");
  var banner = document.getElementById("banner");

  function setBanner(text) {
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  function setUpdated() {
    var u = document.getElementById("updated");
    u.textContent = t("updated") + " " + fmtTime(new Date().toISOString());
  }

  function section(titleKey, content, cls) {
    return el("section", { class: "section " + (cls || "") }, [el("h2", null, t(titleKey)), content]);
  }

  function dl(rows) {
    var d = el("dl", { class: "kv" });
    rows.forEach(function (r) {
      d.appendChild(el("dt", null, t(r[0])));
      d.appendChild(el("dd", r[2] || null, r[1]));
    });
    return d;
  }

  // ---- health of devices (from /api/v1/status) -------------------------------------------

  function deviceState(d) {
    var s = d.health ? d.health.last_status : "not_polled_yet";
    if (s === "ok") return "ok";
    if (s === "not_polled_yet") return "waiting";
    return "failed";
  }

  function healthBadge(d) {
    var state = deviceState(d);
    var h = d.health || {};
    var text = t("device_" + state);
    if (state === "failed") {
      text += " · " + tOr("err.", h.last_status);
      if (h.consecutive_failures > 1) text += " · " + t("failures_in_row", { n: h.consecutive_failures });
    }
    return el("span", { class: "badge state-" + state, "data-health": state }, text);
  }

  // ---- alerts ---------------------------------------------------------------------------

  // the unit of a field, from the plot's latest values (an alert names only the field)
  function unitOf(plot, field) {
    var x = (plot.latest || []).filter(function (l) { return l.field === field; })[0];
    return x ? unitText(x.unit) : "";
  }

  function alertList(alerts, plot) {
    if (!alerts || !alerts.length)
      return el("p", { class: "alerts none" }, t("no_alerts"));
    return el(
      "ul",
      { class: "alerts active" },
      alerts.map(function (a) {
        var u = a.unit ? unitText(a.unit) : unitOf(plot, a.field);
        // a stale rule on a device as a whole has no field: the device names it
        var text = (a.field ? fieldName(a.field) : a.device || "") + " " + tOr("alert_", a.condition || "");
        // below/above name their threshold; stale and stuck are the condition alone
        if (a.condition === "below" || a.condition === "above") text += " " + fmtNum(a.threshold) + " " + u;
        if (a.value !== undefined && a.value !== null) text += "：" + fmtNum(a.value) + " " + u;
        return el("li", { class: "alert", "data-rule": a.rule }, [
          el("strong", null, text),
          el("span", { class: "muted" }, " · " + (a.rule || "") + (a.device ? " · " + a.device : "") + " · " + t("alert_since") + " " + fmtTime(a.since)),
        ]);
      })
    );
  }

  // ---- latest values as tiles -------------------------------------------------------------

  function fieldOrder(name) {
    var i = MAIN_FIELDS.indexOf(name);
    return i < 0 ? MAIN_FIELDS.length : i;
  }

  // entries of a plot's "latest", main fields first, in a stable order
  function sortedLatest(latest) {
    return (latest || []).map(function (x, i) { return [x, i]; }).sort(function (a, b) {
      return fieldOrder(a[0].field) - fieldOrder(b[0].field) || a[1] - b[1];
    }).map(function (p) { return p[0]; });
  }

  function tile(x, intervalMs) {
    var q = x.quality || "invalid";
    var stale = intervalMs && x.age_s !== null && x.age_s !== undefined &&
      x.age_s * 1000 > STALE_INTERVALS * intervalMs;
    var cls = "tile q-" + q + (stale ? " stale" : "");
    var marks = [];
    if (q !== "ok") marks.push(el("span", { class: "mark q-" + q }, tOr("quality.", q)));
    if (stale) marks.push(el("span", { class: "mark stale" }, t("stale")));
    return el("div", {
      class: cls,
      "data-device": x.device,
      "data-field": x.field,
      "data-quality": q,
      "data-stale": stale ? "1" : "0",
      "data-time": x.time,
    }, [
      el("div", { class: "label" }, fieldName(x.field)),
      el("div", { class: "reading" }, [
        el("span", { class: "value" }, fmtNum(x.value)),
        el("span", { class: "unit" }, unitText(x.unit)),
      ]),
      el("div", { class: "meta" }, [el("span", { class: "dev" }, x.device), " · " + fmtAge(x.age_s)]),
      marks.length ? el("div", { class: "marks" }, marks) : null,
    ]);
  }

  function tiles(plot, devicesById) {
    var latest = sortedLatest(plot.latest);
    if (!latest.length) return el("p", { class: "muted" }, t("no_data"));
    return el("div", { class: "tiles" }, latest.map(function (x) {
      var d = devicesById[x.device];
      return tile(x, d ? d.interval_ms : 0);
    }));
  }

  function devicesHealth(plot, devicesById) {
    return el("ul", { class: "health" }, (plot.devices || []).map(function (id) {
      var d = devicesById[id];
      var h = (d && d.health) || {};
      return el("li", { "data-device": id, "data-health": d ? deviceState(d) : "unknown" }, [
        el("span", { class: "dev" }, id),
        d ? healthBadge(d) : null,
        el("span", { class: "muted" }, t("last_success") + " " + fmtAge(h.last_success_age_s)),
      ]);
    }));
  }

  function byId(list) {
    var m = {};
    (list || []).forEach(function (x) { m[x.id] = x; });
    return m;
  }

  function cropText(plot) {
    var parts = [cropName(plot.crop || "")];
    if (plot.area_mu !== undefined && plot.area_mu !== null)
      parts.push(fmtNum(plot.area_mu) + " " + t("unit_mu"));
    return parts.join(" · ");
  }

  // ---- base overview -----------------------------------------------------------------------

  function plotCard(plot, devicesById) {
    return el("article", { class: "card plot-card", "data-plot": plot.id }, [
      el("header", { class: "card-head" }, [
        el("h3", null, el("a", { href: plotHref(plot.id) }, plot.id)),
        el("span", { class: "crop" }, cropText(plot)),
      ]),
      alertList(plot.alerts, plot),
      tiles(plot, devicesById),
      el("h4", null, t("devices_health")),
      devicesHealth(plot, devicesById),
      el("a", { class: "more", href: plotHref(plot.id) }, t("details") + " →"),
    ]);
  }

  function renderBase(state) {
    return Promise.all([getJSON("/api/v1/plots"), getJSON("/api/v1/status")]).then(function (r) {
      var plots = r[0], status = r[1];
      var devicesById = byId(status.devices);
      var out = [];
      var bases = (plots.bases || []).slice();
      // plots of a base the list does not name still show, under their base's id
      (plots.plots || []).forEach(function (p) {
        if (!bases.some(function (b) { return b.id === p.base; })) bases.push({ id: p.base });
      });
      bases.forEach(function (b) {
        var mine = (plots.plots || []).filter(function (p) { return p.base === b.id; });
        var where = [b.county, b.township].filter(Boolean).join(" ");
        out.push(el("section", { class: "base", "data-base": b.id }, [
          el("h1", null, b.name || b.id),
          el("p", { class: "muted" }, [b.id, where ? " · " + where : "", " · " + t("gateway") + " " + (plots.gateway || "")]),
          el("div", { class: "cards" }, mine.map(function (p) { return plotCard(p, devicesById); })),
        ]));
      });
      if (!out.length) out.push(el("p", { class: "muted" }, t("no_data")));
      state.title = t("nav_base");
      main.replaceChildren.apply(main, out);
    });
  }

  // ---- devices ---------------------------------------------------------------------------

  function renderDevices(state) {
    return getJSON("/api/v1/status").then(function (st) {
      var busesById = byId(st.buses);
      var buses = el("div", { class: "cards" }, (st.buses || []).map(function (b) {
        return el("article", { class: "card", "data-bus": b.id }, [
          el("header", { class: "card-head" }, [el("h3", null, b.id), el("span", { class: "crop" }, tOr("bus.", b.type))]),
          dl([
            ["polls", String(b.polls)],
            ["failed_polls", String(b.failed_polls)],
            ["requests", String(b.requests)],
            ["retries", String(b.retries)],
            ["skipped_polls", String(b.skipped_polls)],
          ]),
        ]);
      }));
      // failed devices first (what needs a visit), the others in the config's order
      var list = (st.devices || []).map(function (d, i) { return [d, i]; }).sort(function (a, b) {
        return (deviceState(b[0]) === "failed") - (deviceState(a[0]) === "failed") || a[1] - b[1];
      }).map(function (p) { return p[0]; });
      var devices = el("div", { class: "cards" }, list.map(function (d) {
        var h = d.health || {};
        var bus = busesById[d.bus];
        var resp = h.response_count && h.response_seconds_sum !== undefined
          ? fmtNum((h.response_seconds_sum / h.response_count) * 1000) + " " + t("unit_ms") : "—";
        var state = deviceState(d);
        return el("article", { class: "card device-card state-" + state, "data-device": d.id, "data-health": state }, [
          el("header", { class: "card-head" }, [el("h3", null, d.id), healthBadge(d)]),
          dl([
            ["plot", el("a", { href: plotHref(d.plot) }, d.plot)],
            ["bus", d.bus + (bus ? " · " + tOr("bus.", bus.type) : "")],
            ["unit_id", String(d.unit_id)],
            ["profile", d.profile],
            ["interval", fmtDuration(d.interval_ms)],
            ["last_success", h.last_success ? fmtTime(h.last_success) + " (" + fmtAge(h.last_success_age_s) + ")" : t("never"), { class: state === "failed" ? "bad" : null }],
            ["last_poll", fmtTime(h.last_poll)],
            ["polls", String(h.polls || 0)],
            ["failures", kinds(h.failures), { "data-failures": "1" }],
            ["response_time", resp],
            ["backoff", "×" + (h.backoff || 1)],
          ]),
        ]);
      }));
      state.title = t("nav_devices");
      main.replaceChildren(
        el("h1", null, t("devices")),
        devices,
        section("buses", buses)
      );
    });
  }

  // ---- delivery ------------------------------------------------------------------------------

  function sinkState(s) {
    if (s.last_error && s.last_error !== "ok") return "down";
    return s.last_delivery ? "up" : "waiting";
  }

  function renderDelivery(state) {
    return getJSON("/api/v1/status").then(function (st) {
      var sinks = (st.sinks || []).map(function (s) {
        var ss = sinkState(s);
        var age = s.last_delivery ? (parseTime(st.now) - parseTime(s.last_delivery)) / 1000 : null;
        return el("article", { class: "card sink-card state-" + ss, "data-sink": s.name, "data-state": ss }, [
          el("header", { class: "card-head" }, [
            el("h3", null, tOr("sink.", s.name)),
            el("span", { class: "badge state-" + (ss === "down" ? "failed" : ss === "up" ? "ok" : "waiting") }, t("sink_" + ss)),
          ]),
          dl([
            ["backlog", String(s.backlog_records), { class: "big", "data-backlog": "1" }],
            ["last_delivery", s.last_delivery ? fmtTime(s.last_delivery) + " (" + fmtAge(age) + ")" : t("never")],
            ["delivered", String(s.delivered)],
            ["refused", String(s.refused)],
            ["reconnects", String(s.reconnects)],
            ["cursor", String(s.cursor)],
            ["last_error", tOr("err.", s.last_error)],
            ["errors", kinds(s.errors)],
          ]),
        ]);
      });
      var j = st.journal || {};
      var journal = el("article", { class: "card", "data-journal": "1" }, [
        dl([
          ["committed_seq", String(j.committed_seq)],
          ["first_seq", String(j.first_seq)],
          ["records_since_start", String(j.records)],
          ["journal_backlog", fmtBytes(j.backlog_bytes || 0)],
          ["journal_budget", j.backlog_limit_bytes ? fmtBytes(j.backlog_limit_bytes) : t("unlimited")],
          ["fsyncs", String(j.fsyncs)],
        ]),
      ]);
      var gw = el("article", { class: "card" }, [
        dl([
          ["gateway", st.gateway],
          ["version", st.version],
          ["started", fmtTime(st.started)],
          ["config_generation", String(st.config_generation)],
        ]),
      ]);
      state.title = t("nav_delivery");
      main.replaceChildren(
        el("h1", null, t("sinks")),
        sinks.length ? el("div", { class: "cards" }, sinks) : el("p", { class: "muted", "data-no-sinks": "1" }, t("no_sinks")),
        section("journal", el("div", { class: "cards" }, [journal, gw]))
      );
    });
  }

  // ---- plot page ---------------------------------------------------------------------------

  // the dygraph of each series, by "device/field": the tests read their points
  window.selgwCharts = {};
  window.selgwPlotView = null;

  function periodFromUrl() {
    var p = new URLSearchParams(window.location.search).get("period");
    return PERIODS.indexOf(p) >= 0 ? p : "24h";
  }

  function setUrlParam(name, value) {
    var u = new URL(window.location.href);
    u.searchParams.set(name, value);
    window.history.replaceState(null, "", u.pathname + u.search + u.hash);
  }

  function chartData(points) {
    return points.map(function (p) { return [new Date(p[0]), p[1] === null ? null : p[1]]; });
  }

  function readout(box, label, unit) {
    var r = box.querySelector(".readout");
    return function (ev, x, pts) {
      var p = pts && pts[0];
      r.textContent = p ? fmtTime(new Date(x).toISOString()) + "  " + label + " " + fmtNum(p.yval) + " " + unit : "";
    };
  }

  // dygraphs' legend plugin writes HTML with inline style attributes (refused by the page's
  // Content-Security-Policy) and puts series labels into it as HTML: it is left out, and the
  // value under the finger or pointer is written as text below the chart (readout above).
  var legendRemoved = false;
  function withoutLegend() {
    if (legendRemoved) return;
    Dygraph.PLUGINS = Dygraph.PLUGINS.filter(function (p) { return p !== Dygraph.Plugins.Legend; });
    legendRemoved = true;
  }

  function drawChart(box, series, from, to) {
    withoutLegend();
    var key = series.device + "/" + series.field;
    var holder = box.querySelector(".chart");
    var old = window.selgwCharts[key];
    var hasValue = series.points.some(function (p) { return p[1] !== null; });
    box.querySelector(".empty").hidden = hasValue;
    // nothing to draw (only failed polls, or none): the line of text says so, no empty axes
    if (!hasValue) {
      if (old) old.destroy();
      delete window.selgwCharts[key];
      holder.hidden = true;
      return;
    }
    holder.hidden = false;
    var data = chartData(series.points);
    var window_ = from !== null && to !== null ? [from, to] : null;
    if (old) {
      old.updateOptions({ file: data, dateWindow: window_ });
      return;
    }
    // the label goes into dygraphs' HTML: it is always a word of our own table
    var label = fieldName(series.field);
    window.selgwCharts[key] = new Dygraph(holder, data, {
      labels: ["t", label],
      connectSeparatedPoints: false, // a failed or missing poll is a gap, never a line
      drawPoints: true,
      pointSize: 1.5,
      strokeWidth: 1.5,
      colors: ["#1f6f43"],
      highlightCallback: readout(box, label, unitText(series.unit)),
      unhighlightCallback: function () { box.querySelector(".readout").textContent = ""; },
      dateWindow: window_,
      axisLabelFontSize: 11,
      xAxisLabelWidth: 60,
      yAxisLabelWidth: 40,
      gridLineColor: "#e3e3e3",
      axes: { x: { axisLabelFormatter: xLabel } },
    });
  }

  // x axis labels: dygraphs' own are English ("02 Dec"); Chinese ones are "12月2日", "06:00"
  function xLabel(d, granularity, opts) {
    if (lang === "en") return Dygraph.dateAxisLabelFormatter(d, granularity, opts);
    var G = Dygraph.Granularity;
    if (granularity >= G.MONTHLY) return d.getFullYear() + "年" + (d.getMonth() + 1) + "月";
    var midnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
    if (midnight || granularity >= G.DAILY) return (d.getMonth() + 1) + "月" + d.getDate() + "日";
    var hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return granularity < G.MINUTELY ? hm + ":" + pad(d.getSeconds()) : hm;
  }

  function chartBox(series) {
    return el("div", { class: "chart-box", "data-series": series.device + "/" + series.field }, [
      el("h3", null, [
        fieldName(series.field),
        unitText(series.unit) ? " (" + unitText(series.unit) + ")" : "",
        el("span", { class: "dev" }, " · " + series.device),
      ]),
      el("div", { class: "chart" }),
      el("p", { class: "empty muted", hidden: true }, t("no_values")),
      el("p", { class: "readout" }),
    ]);
  }

  function householdsTable(plot) {
    var hs = plot.households || [];
    if (!hs.length) return el("p", { class: "muted" }, t("none"));
    var head = el("tr", null, ["household", "contract", "valid_from", "valid_to", "contract_state"].map(function (k) {
      return el("th", null, t(k));
    }));
    var rows = hs.map(function (h) {
      return el("tr", { "data-contract": h.contract, class: h.active ? "" : "inactive" }, [
        el("td", null, h.household),
        el("td", null, h.contract),
        el("td", null, h.from || ""),
        el("td", null, h.to || t("open_ended")),
        el("td", null, t(h.active ? "contract_active" : "contract_inactive")),
      ]);
    });
    return el("div", { class: "scroll" }, el("table", { class: "table" }, [el("thead", null, head), el("tbody", null, rows)]));
  }

  // an alert raised or cleared, from its record's JSON (the event's text), in words
  function alertEvent(e) {
    var a;
    try {
      a = JSON.parse(e.text || "");
    } catch (err) {
      a = null;
    }
    if (!a) return el("li", { "data-type": "alert" }, [el("span", { class: "time" }, fmtTime(e.time)), el("span", { class: "text" }, e.text || "")]);
    var u = a.unit ? unitText(a.unit) : "";
    var text = tOr("alert_", a.state || "") + "：" + (a.field ? fieldName(a.field) : a.device || "") + " " + tOr("alert_", a.condition || "");
    if (a.threshold !== null && a.threshold !== undefined) text += " " + fmtNum(a.threshold) + " " + u;
    if (a.value !== null && a.value !== undefined) text += "（" + fmtNum(a.value) + " " + u + "）";
    return el("li", { "data-type": "alert", "data-state": a.state || "", "data-rule": a.rule || "" }, [
      el("span", { class: "time" }, fmtTime(e.time)),
      el("span", { class: "text" }, text),
      el("span", { class: "ref" }, (a.rule || "") + (a.device ? " · " + a.device : "")),
    ]);
  }

  function notesList(notes) {
    var ann = (notes && notes.annotations) || [];
    var ev = (notes && notes.events) || [];
    var out = [];
    if (!ann.length) out.push(el("p", { class: "muted" }, t("no_notes")));
    else
      out.push(el("ul", { class: "notes" }, ann.map(function (a) {
        return el("li", { "data-ref": a.ref || "" }, [
          el("span", { class: "time" }, fmtTime(a.time)),
          el("span", { class: "text" }, a.text),
          a.ref ? el("span", { class: "ref" }, t("note_ref") + " " + a.ref) : null,
        ]);
      })));
    if (ev.length) {
      out.push(el("h3", null, t("events")));
      out.push(el("ul", { class: "notes events" }, ev.map(function (e) {
        if (e.type === "alert") return alertEvent(e);
        // an event's text can be long (the plot's tags as JSON): folded, shown on a tap
        return el("li", { "data-type": e.type || "" }, [
          el("span", { class: "time" }, fmtTime(e.time)),
          el("details", { class: "text" }, [
            el("summary", null, tOr("event.", e.type || "")),
            el("pre", null, e.text || ""),
          ]),
        ]);
      })));
    }
    return out;
  }

  function renderPlot(state, plotId) {
    var first = !state.plot;
    if (first) {
      state.plot = { period: periodFromUrl(), tick: 0 };
      window.selgwCharts = {};
    }
    var ps = state.plot;
    var wantHistory = first || ps.tick % HISTORY_EVERY === 0 || ps.dirty;
    ps.tick++;
    var jobs = [getJSON("/api/v1/plots"), getJSON("/api/v1/status")];
    if (wantHistory) {
      var q = "?period=" + ps.period;
      jobs.push(getJSON("/api/v1/plots/" + encodeURIComponent(plotId) + "/history" + q));
      jobs.push(getJSON("/api/v1/plots/" + encodeURIComponent(plotId) + "/notes" + q));
    }
    return Promise.all(jobs).then(function (r) {
      var plots = r[0], status = r[1];
      var plot = (plots.plots || []).filter(function (p) { return p.id === plotId; })[0];
      if (!plot) {
        state.title = t("no_plot");
        main.replaceChildren(el("h1", null, t("no_plot")), el("p", { class: "muted" }, plotId),
          el("a", { href: "/" }, t("not_found_hint")));
        state.plot = null;
        return;
      }
      var devicesById = byId(status.devices);
      var base = (plots.bases || []).filter(function (b) { return b.id === plot.base; })[0];
      state.title = plot.id;
      if (first) {
        ps.nodes = {
          head: el("div"),
          alerts: el("div"),
          latest: el("div"),
          charts: el("div", { class: "charts" }),
          households: el("div"),
          notes: el("div"),
        };
        var buttons = el("div", { class: "periods", role: "group" }, PERIODS.map(function (p) {
          var b = el("button", { type: "button", "data-period": p }, t("period_" + p));
          b.addEventListener("click", function () {
            if (ps.period === p) return;
            ps.period = p;
            ps.dirty = true;
            setUrlParam("period", p);
            markPeriod();
            refreshNow();
          });
          return b;
        }));
        var markPeriod = function () {
          buttons.querySelectorAll("button").forEach(function (b) {
            b.setAttribute("aria-pressed", b.getAttribute("data-period") === ps.period ? "true" : "false");
          });
        };
        markPeriod();
        main.replaceChildren(
          ps.nodes.head,
          section("alerts", ps.nodes.alerts),
          section("latest", ps.nodes.latest),
          el("section", { class: "section" }, [
            el("div", { class: "section-head" }, [el("h2", null, t("charts")), buttons]),
            el("p", { class: "muted small" }, t("chart_gaps")),
            ps.nodes.charts,
          ]),
          section("households", ps.nodes.households),
          section("notes", ps.nodes.notes)
        );
      }
      ps.nodes.head.replaceChildren(
        el("h1", { "data-plot": plot.id }, plot.id),
        el("p", { class: "muted" }, [cropText(plot), base ? " · " + (base.name || base.id) : ""])
      );
      ps.nodes.alerts.replaceChildren(alertList(plot.alerts, plot));
      ps.nodes.latest.replaceChildren(tiles(plot, devicesById), devicesHealth(plot, devicesById));
      ps.nodes.households.replaceChildren(householdsTable(plot));
      if (!wantHistory) return;
      ps.dirty = false;
      var hist = r[2], notes = r[3];
      var from = parseTime(hist.from), to = parseTime(hist.to);
      // the charts span the period, or from the plot's first point in it when the journal
      // starts later (a new gateway): a day's chart of ten minutes' data would be a sliver
      var firstPoint = null;
      (hist.series || []).forEach(function (s) {
        if (s.points.length && (firstPoint === null || s.points[0][0] < firstPoint))
          firstPoint = s.points[0][0];
      });
      if (firstPoint !== null && from !== null && firstPoint > from) from = firstPoint;
      window.selgwPlotView = { plot: plotId, period: ps.period, from: hist.from, to: hist.to, step_s: hist.step_s };
      var keys = {};
      (hist.series || []).forEach(function (s) { keys[s.device + "/" + s.field] = true; });
      // a series that went away (a reload) loses its chart
      Object.keys(window.selgwCharts).forEach(function (k) {
        if (!keys[k]) {
          window.selgwCharts[k].destroy();
          delete window.selgwCharts[k];
        }
      });
      var boxes = {};
      ps.nodes.charts.querySelectorAll(".chart-box").forEach(function (b) { boxes[b.getAttribute("data-series")] = b; });
      var ordered = (hist.series || []).slice().sort(function (a, b) {
        return fieldOrder(a.field) - fieldOrder(b.field);
      });
      var wanted = ordered.map(function (s) {
        var k = s.device + "/" + s.field;
        return boxes[k] || chartBox(s);
      });
      ps.nodes.charts.replaceChildren.apply(ps.nodes.charts, wanted);
      if (!ordered.length) ps.nodes.charts.replaceChildren(el("p", { class: "muted" }, t("no_data")));
      ordered.forEach(function (s, i) { drawChart(wanted[i], s, from, to); });
      ps.nodes.notes.replaceChildren.apply(ps.nodes.notes, notesList(notes));
    });
  }

  // ---- routes and the refresh loop ---------------------------------------------------------

  function route() {
    var path = window.location.pathname;
    if (path === "/") return { name: "base", render: renderBase };
    if (path === "/devices") return { name: "devices", render: renderDevices };
    if (path === "/delivery") return { name: "delivery", render: renderDelivery };
    var m = /^\/plot\/([^/]+)$/.exec(path);
    if (m) {
      var id;
      try {
        id = decodeURIComponent(m[1]);
      } catch (e) {
        id = m[1];
      }
      return { name: "plot", render: function (s) { return renderPlot(s, id); } };
    }
    return { name: "notfound", render: null };
  }

  function translateStatic() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-t]").forEach(function (e) {
      e.textContent = t(e.getAttribute("data-t"));
    });
    document.getElementById("lang").title = t("lang_switch_title");
  }

  var current = null; // { route, state, timer, generation }
  var generation = 0;

  function schedule(gen) {
    if (current && current.generation === gen) current.timer = window.setTimeout(function () { tick(gen); }, REFRESH_MS);
  }

  function tick(gen) {
    if (!current || current.generation !== gen) return;
    window.clearTimeout(current.timer);
    var ready = namesLoaded ? Promise.resolve() : loadNames().then(function () { namesLoaded = true; });
    ready.then(function () {
      if (current && current.generation === gen) return current.route.render(current.state);
    }).then(function () {
      if (!current || current.generation !== gen) return;
      setBanner("");
      setUpdated();
      document.title = (current.state.title ? current.state.title + " · " : "") + t("title") + " · selgw";
      document.body.setAttribute("data-ready", "1");
      schedule(gen);
    }, function (err) {
      if (!current || current.generation !== gen) return;
      if (!err || !err.remote) console.error(err); // a mistake of this script: say it
      setBanner(t("offline") + " (" + (err && err.message ? err.message : err) + ")");
      schedule(gen);
    });
  }

  function refreshNow() {
    if (current) tick(current.generation);
  }

  function start() {
    if (current) window.clearTimeout(current.timer);
    generation++;
    translateStatic();
    var r = route();
    document.querySelectorAll("nav a").forEach(function (a) {
      if (a.getAttribute("data-route") === r.name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    document.body.removeAttribute("data-ready");
    if (!r.render) {
      current = null;
      document.title = t("not_found") + " · selgw";
      main.replaceChildren(el("h1", null, t("not_found")), el("p", null, el("a", { href: "/" }, t("not_found_hint"))));
      document.body.setAttribute("data-ready", "1");
      return;
    }
    Object.keys(window.selgwCharts).forEach(function (k) { window.selgwCharts[k].destroy(); });
    window.selgwCharts = {};
    main.replaceChildren(el("p", { class: "muted" }, t("loading")));
    current = { route: r, state: {}, timer: null, generation: generation };
    tick(generation);
  }

  document.getElementById("lang").addEventListener("click", function () {
    lang = lang === "en" ? "zh" : "en";
    storeLang(lang);
    setUrlParam("lang", lang === "en" ? "en" : "zh-CN");
    start();
  });

  start();
})();
