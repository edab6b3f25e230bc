/* The coverage page: tidy records from GET /coverage/data (already suppressed on the
 * server), drawn with Observable Plot. A suppressed figure arrives as
 * {value: null, suppressed: true} and is drawn as a grey dashed box marked "*", never as
 * a zero-length bar. Groups keep the server's order (by name): no chart ranks
 * organisations.
 *
 * Plot adds a <style> element to each chart; the page's Content-Security-Policy forbids
 * inline styles, so it is removed before the chart enters the document and coverage.css
 * gives the same rules (class "ntk-plot").
 *
 * For tests: each .chart gets data-state="ready" once drawn, data-suppressed = the number
 * of suppressed figures it draws, data-values = the number of published ones.
 */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var SUPPRESSED_FILL = "#e8e8e8";
  var SUPPRESSED_STROKE = "#5b5b5b";
  var WINDOWS = [30, 60, 90];
  var WINDOW_COLOURS = ["#1f5f99", "#4f8fc9", "#9cc3e6"];
  var state = { question: null, data: null, expiring: null };

  function status(text) { $("status").textContent = text || ""; }

  function Failure(status, code, message) { this.status = status; this.code = code; this.message = message; }

  /* GET /coverage/data with the bearer token in the Authorization header (never in the URL). */
  function get(params, as) {
    var query = new URLSearchParams(params).toString();
    return fetch("/coverage/data?" + query, {
      method: "GET",
      credentials: "omit",
      cache: "no-store",
      headers: { "Authorization": "Bearer " + (window.ntkAuth.token() || "") }
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (body) {
          var first = (body.errors && body.errors[0]) || {};
          throw new Failure(response.status, (first.extensions && first.extensions.code) || "ERROR", first.message || ("HTTP " + response.status));
        }, function () { throw new Failure(response.status, "ERROR", "HTTP " + response.status); });
      }
      return as === "blob" ? response.blob() : response.json();
    });
  }

  function failed(err) {
    if (err && (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN")) {
      window.ntkAuth.forget();
      $("app").hidden = true;
      $("sign-out").hidden = true;
      $("sign-in-error").textContent = err.code === "FORBIDDEN"
        ? "This token's role may not see coverage (staff, analyst or admin only)."
        : "The token was not accepted.";
      $("sign-in").hidden = false;
      $("token").focus();
      status("");
      return;
    }
    status("Could not load: " + (err && err.message ? err.message : String(err)));
  }

  function isoDay(date) { return date + "T00:00:00Z"; }

  function today() { return new Date().toISOString().slice(0, 10); }

  function readQuestion() {
    var q = { by: $("by").value, at: $("at").value || today() };
    if ($("compare").value) { q.compare = $("compare").value; }
    return q;
  }

  function params(q, extra) {
    var p = { by: q.by, at: isoDay(q.at), expiring_days: "30" };
    if (q.compare) { p.compare = isoDay(q.compare); }
    Object.keys(extra || {}).forEach(function (k) { p[k] = extra[k]; });
    return p;
  }

  /* Records of one table (and series), in the server's order. */
  function records(data, table, series, measures) {
    return data.records.filter(function (r) {
      return r.table === table && (series === null || r.series === series) && (!measures || measures.indexOf(r.measure) >= 0);
    });
  }

  function groupsOf(recs) {
    var seen = {};
    var out = [];
    recs.forEach(function (r) {
      if (r.row_kind === "group" && !seen[r.group_id]) { seen[r.group_id] = true; out.push(r.group); }
    });
    return out;
  }

  function fmt(r) {
    if (r.suppressed) { return "*"; }
    if (r.value === null) { return "–"; }
    if (r.kind === "percent") { return (r.series === "change" && r.value > 0 ? "+" : "") + r.value + (r.series === "change" ? " pts" : "%"); }
    return (r.series === "change" && r.value > 0 ? "+" : "") + r.value;
  }

  /* Append a Plot figure to `container` without its inline <style> (see the header comment). */
  function place(container, figure) {
    Array.prototype.forEach.call(figure.querySelectorAll("style"), function (s) { s.remove(); });
    /* A chart is one image with a text alternative; Plot's aria-label on each <g> has no role to belong to. */
    Array.prototype.forEach.call(figure.querySelectorAll("g[aria-label]"), function (g) { g.removeAttribute("aria-label"); });
    figure.setAttribute("role", "img");
    if (figure.tagName && figure.tagName.toLowerCase() === "style") { return; }
    container.appendChild(figure);
  }

  function wrap(container, title) {
    var box = document.createElement("figure");
    box.className = "small";
    var cap = document.createElement("figcaption");
    cap.textContent = title;
    box.appendChild(cap);
    container.appendChild(box);
    return box;
  }

  function width(container, columns) {
    var w = container.clientWidth || 600;
    return Math.max(300, Math.floor(w / columns) - 16);
  }

  /* Horizontal bars per group; suppressed groups get a grey dashed box marked "*". */
  function bars(box, recs, groups, opts) {
    var shown = recs.filter(function (r) { return !r.suppressed && r.value !== null; });
    var hidden = recs.filter(function (r) { return r.suppressed; });
    var undef = recs.filter(function (r) { return !r.suppressed && r.value === null; });
    var values = shown.map(function (r) { return r.value; });
    var lo = Math.min(0, Math.min.apply(null, values.concat([0])));
    var hi = opts.max !== undefined ? opts.max : Math.max(1, Math.max.apply(null, values.concat([1])));
    var marks = [
      Plot.ruleX([0], { stroke: "#9aa1ab" }),
      Plot.barX(shown, { x: "value", y: "group", fill: function (r) { return r.value < 0 ? "#b5542c" : opts.colour; } }),
      Plot.text(shown, { x: "value", y: "group", text: fmt, dx: 4, textAnchor: "start", fill: "#1d2430" }),
      Plot.barX(hidden, { x1: lo, x2: hi, y: "group", fill: SUPPRESSED_FILL, stroke: SUPPRESSED_STROKE, strokeDasharray: "4,3", insetTop: 2, insetBottom: 2 }),
      Plot.text(hidden, { x: (lo + hi) / 2, y: "group", text: function () { return "* suppressed"; }, fill: "#333" }),
      Plot.text(undef, { x: 0, y: "group", text: function () { return "– no students"; }, dx: 4, textAnchor: "start", fill: "#5b6472" })
    ];
    var figure = Plot.plot({
      className: "ntk-plot",
      width: opts.width,
      height: 24 + groups.length * 20,
      marginLeft: opts.marginLeft,
      marginRight: 56,
      x: { domain: [lo, hi * 1.08], label: opts.label, grid: true, tickFormat: opts.tickFormat },
      y: { domain: groups, label: null },
      ariaLabel: opts.aria,
      marks: marks
    });
    place(box, figure);
    return { suppressed: hidden.length, values: shown.length };
  }

  function tally(container, counts) {
    var s = 0, v = 0;
    counts.forEach(function (c) { s += c.suppressed; v += c.values; });
    container.dataset.suppressed = String(s);
    container.dataset.values = String(v);
    container.dataset.state = "ready";
  }

  function clear(container) { while (container.firstChild) { container.removeChild(container.firstChild); } }

  function marginFor(groups) {
    var longest = groups.reduce(function (m, g) { return Math.max(m, g.length); }, 0);
    return Math.min(190, 12 + longest * 6.2);
  }

  function drawCoverage(data, series) {
    var el = $("chart-coverage");
    clear(el);
    var recs = records(data, "students", series, ["consented_pct", "served_pct"]).filter(function (r) { return r.row_kind === "group"; });
    var groups = groupsOf(recs);
    var columns = el.clientWidth > 900 ? 2 : 1;
    var counts = [["consented_pct", "With a valid consent (%)", "#2f7d4f"], ["served_pct", "Actively served (%)", "#3b6ea5"]].map(function (m) {
      var box = wrap(el, m[1]);
      var mine = recs.filter(function (r) { return r.measure === m[0]; });
      return bars(box, mine, groups, {
        width: width(el, columns), marginLeft: marginFor(groups), colour: m[2], max: 100, label: "% of the group's students",
        aria: m[1] + " by group", tickFormat: function (d) { return d + "%"; }
      });
    });
    tally(el, counts);
    drawTable(data, series);
  }

  function drawTable(data, series) {
    var host = $("table-coverage");
    clear(host);
    var meta = data.tables.filter(function (t) { return t.name === "students"; })[0];
    var cols = meta.columns.map(function (c) { return [c.name, c.title]; }).concat(meta.ratios.map(function (q) { return [q.name, q.title]; }));
    var table = document.createElement("table");
    var cap = document.createElement("caption");
    cap.textContent = meta.title + (series ? " (" + (series === "after" ? data.meta.at : data.meta.since).slice(0, 10) + ")" : "");
    table.appendChild(cap);
    var head = table.createTHead().insertRow();
    ["Group"].concat(cols.map(function (c) { return c[1]; })).forEach(function (t) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = t;
      head.appendChild(th);
    });
    var body = table.createTBody();
    var rows = {};
    var order = [];
    records(data, "students", series, null).forEach(function (r) {
      if (!rows[r.group_id]) { rows[r.group_id] = { label: r.group, total: r.is_total, cells: {} }; order.push(r.group_id); }
      rows[r.group_id].cells[r.measure] = r;
    });
    order.forEach(function (id) {
      var row = body.insertRow();
      if (rows[id].total) { row.className = "total"; }
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = rows[id].label;
      row.appendChild(th);
      cols.forEach(function (c) {
        var r = rows[id].cells[c[0]];
        var td = row.insertCell();
        td.textContent = r ? fmt(r) : "";
        if (r && r.suppressed) { td.className = "suppressed"; td.title = "suppressed"; }
      });
    });
    host.appendChild(table);
  }

  function drawReasons(data, series) {
    var el = $("chart-reasons");
    clear(el);
    var recs = records(data, "blocking_reasons", series, null).filter(function (r) { return r.row_kind === "group" && r.measure !== "served_blocked"; });
    var groups = groupsOf(recs);
    var keep = {};
    recs.forEach(function (r) { if (r.suppressed || r.value) { keep[r.measure_title] = true; } });
    recs = recs.filter(function (r) { return keep[r.measure_title]; });
    var reasons = [];
    recs.forEach(function (r) { if (reasons.indexOf(r.measure_title) < 0) { reasons.push(r.measure_title); } });
    var shown = recs.filter(function (r) { return !r.suppressed; });
    var hidden = recs.filter(function (r) { return r.suppressed; });
    var max = Math.max.apply(null, shown.map(function (r) { return r.value; }).concat([1]));
    var cellWidth = 34;
    var figure = Plot.plot({
      className: "ntk-plot",
      width: marginFor(groups) + 20 + reasons.length * cellWidth,
      height: 150 + groups.length * 22,
      marginLeft: marginFor(groups),
      marginBottom: 150,
      padding: 0.06,
      x: { domain: reasons, label: null, tickRotate: -50 },
      y: { domain: groups, label: null },
      color: { type: "linear", domain: [0, max], range: ["#ffffff", "#b5542c"] },
      ariaLabel: "Served students blocked, by reason and group",
      marks: [
        Plot.cell(shown, { x: "measure_title", y: "group", fill: "value", stroke: "#d0d4da" }),
        Plot.text(shown, { x: "measure_title", y: "group", text: fmt, fill: function (r) { return r.value > max * 0.55 ? "#ffffff" : "#1d2430"; } }),
        Plot.cell(hidden, { x: "measure_title", y: "group", fill: SUPPRESSED_FILL, stroke: SUPPRESSED_STROKE, strokeDasharray: "3,2" }),
        Plot.text(hidden, { x: "measure_title", y: "group", text: function () { return "*"; }, fill: "#333" })
      ]
    });
    place(el, figure);
    tally(el, [{ suppressed: hidden.length, values: shown.length }]);
  }

  function drawExpiring(byWindow) {
    var el = $("chart-expiring");
    clear(el);
    var legend = document.createElement("p");
    legend.className = "legend";
    WINDOWS.forEach(function (w, i) {
      var item = document.createElement("span");
      var sw = document.createElement("span");
      sw.className = "swatch w" + i;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(" within " + w + " days"));
      legend.appendChild(item);
    });
    el.appendChild(legend);
    var measures = [
      ["consents_expiring", "Students whose consent ends"],
      ["trainings_expiring", "Providers whose training ends"],
      ["agreements_expiring", "Providers whose agreement ends"]
    ];
    var columns = el.clientWidth > 1100 ? 3 : 1;
    var counts = measures.map(function (m) {
      var recs = [];
      byWindow.forEach(function (data, i) {
        records(data, "expiring", data.meta.comparison ? "after" : null, [m[0]]).forEach(function (r) {
          if (r.row_kind === "group") { recs.push(Object.assign({}, r, { window: WINDOWS[i] + " days", w: i })); }
        });
      });
      var groups = groupsOf(recs);
      var shown = recs.filter(function (r) { return !r.suppressed; });
      var hidden = recs.filter(function (r) { return r.suppressed; });
      var max = Math.max.apply(null, shown.map(function (r) { return r.value; }).concat([1]));
      var box = wrap(el, m[1]);
      var figure = Plot.plot({
        className: "ntk-plot",
        width: width(el, columns),
        height: 30 + groups.length * 30,
        marginLeft: marginFor(groups),
        marginRight: 40,
        x: { domain: [0, max * 1.15], label: "count", grid: true },
        y: { domain: WINDOWS.map(function (w) { return w + " days"; }), axis: null },
        fy: { domain: groups, label: null, padding: 0.15 },
        ariaLabel: m[1] + ", within 30, 60 and 90 days, by group",
        marks: [
          Plot.barX(shown, { x: "value", y: "window", fy: "group", fill: function (r) { return WINDOW_COLOURS[r.w]; } }),
          Plot.text(shown, { x: "value", y: "window", fy: "group", text: fmt, dx: 3, textAnchor: "start", fontSize: 9, fill: "#1d2430" }),
          Plot.barX(hidden, { x1: 0, x2: max, y: "window", fy: "group", fill: SUPPRESSED_FILL, stroke: SUPPRESSED_STROKE, strokeDasharray: "3,2" }),
          Plot.text(hidden, { x: max / 2, y: "window", fy: "group", text: function () { return "*"; }, fontSize: 9, fill: "#333" })
        ]
      });
      place(box, figure);
      return { suppressed: hidden.length, values: shown.length };
    });
    tally(el, counts);
  }

  function drawChange(data) {
    var el = $("chart-change");
    clear(el);
    if (!data.meta.comparison) {
      $("no-compare").hidden = false;
      $("since").textContent = "…";
      el.dataset.state = "idle";
      return;
    }
    $("no-compare").hidden = true;
    $("since").textContent = data.meta.since.slice(0, 10);
    var recs = records(data, "students", "change", ["students", "consented", "served"]).filter(function (r) { return r.row_kind === "group"; });
    var groups = groupsOf(recs);
    var columns = el.clientWidth > 1100 ? 3 : 1;
    var counts = [["students", "Students"], ["consented", "With a valid consent"], ["served", "Actively served"]].map(function (m) {
      var box = wrap(el, m[1] + ": change in students");
      var mine = recs.filter(function (r) { return r.measure === m[0]; });
      var vals = mine.filter(function (r) { return !r.suppressed; }).map(function (r) { return Math.abs(r.value); });
      var span = Math.max.apply(null, vals.concat([1]));
      return bars(box, mine, groups, {
        width: width(el, columns), marginLeft: marginFor(groups), colour: "#2f7d4f", max: span, label: "change (later minus earlier)",
        aria: m[1] + ": change per group"
      });
    });
    tally(el, counts);
  }

  function draw() {
    var data = state.data;
    var series = data.meta.comparison ? "after" : null;
    $("as-of").textContent = "as of " + data.meta.at.slice(0, 10) + (data.meta.comparison ? " (compared with " + data.meta.since.slice(0, 10) + ")" : "");
    Array.prototype.forEach.call(document.querySelectorAll(".k"), function (n) { n.textContent = data.meta.k; });
    Array.prototype.forEach.call(document.querySelectorAll(".by-name"), function (n) { n.textContent = data.meta.by; });
    drawCoverage(data, series);
    drawReasons(data, series);
    drawChange(data);
    if (state.expiring) { drawExpiring(state.expiring); }
  }

  function load() {
    var q = readQuestion();
    state.question = q;
    status("Loading…");
    ["chart-coverage", "chart-reasons", "chart-expiring"].forEach(function (id) { $(id).dataset.state = "loading"; });
    var url = new URL(window.location.href);
    url.search = new URLSearchParams({ by: q.by, at: q.at, compare: q.compare || "" }).toString();
    window.history.replaceState(null, "", url.toString());
    get(params(q)).then(function (data) {
      $("sign-in").hidden = true;
      $("app").hidden = false;
      window.ntkAuth.showSignOut($("sign-out"));
      state.data = data;
      state.expiring = null;
      draw();
      status("");
      var plain = { by: q.by, at: q.at };
      return Promise.all(WINDOWS.map(function (w) { return get(params(plain, { expiring_days: String(w) })); })).then(function (all) {
        state.expiring = all;
        drawExpiring(all);
      });
    }).catch(failed);
  }

  function download(fmt) {
    var q = state.question || readQuestion();
    status("Preparing the " + fmt + " file…");
    get(params(q, { format: fmt }), "blob").then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "coverage-" + q.by + "-" + q.at + (q.compare ? "-vs-" + q.compare : "") + "." + fmt;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
      status("");
    }).catch(failed);
  }

  function start() {
    var initial = new URLSearchParams(window.location.search);
    $("by").value = ["community", "school", "program", "partner"].indexOf(initial.get("by")) >= 0 ? initial.get("by") : "community";
    $("at").value = /^\d{4}-\d{2}-\d{2}$/.test(initial.get("at") || "") ? initial.get("at") : today();
    $("compare").value = /^\d{4}-\d{2}-\d{2}$/.test(initial.get("compare") || "") ? initial.get("compare") : "";
    $("question").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    $("download-csv").addEventListener("click", function () { download("csv"); });
    $("download-xlsx").addEventListener("click", function () { download("xlsx"); });
    $("sign-out").addEventListener("click", function () {
      window.ntkAuth.forget();
      window.location.reload();
    });
    var redraw = null;
    window.addEventListener("resize", function () {
      clearTimeout(redraw);
      redraw = setTimeout(function () { if (state.data) { draw(); } }, 200);
    });
    window.ntkAuth.ask($("sign-in"), $("token-form"), $("token"), $("sign-in-error"), load);
    if (window.ntkAuth.token()) {
      load();
    } else {
      $("sign-in").hidden = false;
      $("token").focus();
    }
  }

  if (!window.Plot || !window.d3) {
    status("The chart library is missing: run `make web` (npm ci in api/web) on the server.");
    return;
  }
  start();
})();
