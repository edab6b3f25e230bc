/* The partner-network page: partners, programs, communities and schools from the GraphQL
 * `partnerNetwork` query, drawn with cytoscape; a node's coverage (GraphQL `coverage`) in
 * the side panel. Every count arrives already suppressed ({value, suppressed, display});
 * this script only shows it. No student is ever a node.
 *
 * Layout: one column per kind (partners, programs, communities, schools), nodes in the
 * server's order (by name). Node size never depends on a count: aggregates never rank
 * organisations against each other.
 *
 * For tests: #graph gets data-state="ready", data-nodes and data-edges once drawn;
 * window.ntkNetwork.cy is the cytoscape instance.
 */
(function () {
  "use strict";

  var NETWORK = "query Network($at: DateTime, $community: ID, $program: ID) {" +
    " partnerNetwork(at: $at, community: $community, program: $program) {" +
    "  at suppressionK suppressionKInclusive" +
    "  nodes { id kind label students { value suppressed display } }" +
    "  edges { source target kind students { value suppressed display } } } }";

  var COVERAGE = "query Coverage($by: CoverageGroup!, $at: DateTime) {" +
    " coverage(by: $by, at: $at) { at tables { name title columns { name title } ratioColumns { name title }" +
    "  rows { id label cells { column count { value suppressed display } } ratios { ratio percent { value suppressed display } } } } } }";

  var COLUMN = { PARTNER: 0, PROGRAM: 1, COMMUNITY: 2, SCHOOL: 3 };
  var KIND_NAME = { PARTNER: "Partner", PROGRAM: "Program", COMMUNITY: "Community", SCHOOL: "School" };
  var PANEL_TABLES = [
    ["students", ["students", "consented", "served", "full_access", "served_blocked", "consented_unserved"], ["consented_pct", "served_pct", "full_access_pct"]],
    ["providers", ["providers", "trained"], ["trained_pct"]],
    ["expiring", ["consents_expiring", "trainings_expiring", "agreements_expiring"], []]
  ];

  var $ = function (id) { return document.getElementById(id); };
  var state = { at: null, cy: null, nodes: {}, coverage: {}, selected: null };

  function status(text) { $("status").textContent = text || ""; }

  function failed(err) {
    if (err && (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN")) {
      window.ntkAuth.forget();
      $("app").hidden = true;
      $("sign-out").hidden = true;
      $("sign-in-error").textContent = err.code === "FORBIDDEN"
        ? "This token's role may not see the network (staff, analyst or admin only)."
        : "The token was not accepted.";
      $("sign-in").hidden = false;
      $("token").focus();
      status("");
      return;
    }
    status("Could not load: " + (err && err.message ? err.message : String(err)));
  }

  function option(select, value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    select.appendChild(o);
  }

  function fillFilters(nodes) {
    ["filter-community", "filter-program"].forEach(function (id) {
      var select = $(id);
      while (select.options.length > 1) { select.remove(1); }
    });
    nodes.forEach(function (n) {
      if (n.kind === "COMMUNITY") { option($("filter-community"), n.id, n.label); }
      if (n.kind === "PROGRAM") { option($("filter-program"), n.id, n.label); }
    });
  }

  function fillFinder(nodes) {
    var select = $("find-node");
    while (select.options.length > 1) { select.remove(1); }
    nodes.forEach(function (n) { option(select, n.id, KIND_NAME[n.kind] + ": " + n.label); });
  }

  /* Row of each node in its column: the server's order (by name), except that schools
   * are grouped next to their community, so LOCATED_IN edges cross less. */
  function rowsOf(network) {
    var next = { PARTNER: 0, PROGRAM: 0, COMMUNITY: 0, SCHOOL: 0 };
    var row = {};
    network.nodes.forEach(function (n) { if (n.kind !== "SCHOOL") { row[n.id] = next[n.kind]++; } });
    var communityOf = {};
    network.edges.forEach(function (e) {
      if (e.kind === "LOCATED_IN" && !(e.source in communityOf)) { communityOf[e.source] = row[e.target]; }
    });
    var schools = network.nodes.filter(function (n) { return n.kind === "SCHOOL"; });
    schools.map(function (n, i) { return [n.id in communityOf ? communityOf[n.id] : 1e9, i, n.id]; })
      .sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; })
      .forEach(function (key, i) { row[key[2]] = i; });
    return row;
  }

  function elements(network) {
    var rows = rowsOf(network);
    var out = [];
    network.nodes.forEach(function (n) {
      var row = rows[n.id];
      out.push({
        group: "nodes",
        data: { id: n.id, label: n.label + "\n" + n.students.display, kind: n.kind },
        classes: n.kind.toLowerCase() + (n.students.suppressed ? " suppressed" : ""),
        position: { x: 260 * COLUMN[n.kind], y: 90 * row }
      });
    });
    network.edges.forEach(function (e) {
      out.push({
        group: "edges",
        data: { id: e.kind + ":" + e.source + ">" + e.target, source: e.source, target: e.target, label: e.students.display },
        classes: e.kind.toLowerCase() + (e.students.suppressed ? " suppressed" : "")
      });
    });
    return out;
  }

  var STYLE = [
    { selector: "node", style: {
      "shape": "round-rectangle", "width": 150, "height": 46, "background-color": "#fff", "border-width": 3,
      "label": "data(label)", "text-wrap": "wrap", "text-max-width": 140, "text-valign": "center", "text-halign": "center",
      "font-size": 12, "color": "#1d2430" } },
    { selector: "node.partner", style: { "border-color": "#3b6ea5", "background-color": "#e6eef7" } },
    { selector: "node.program", style: { "border-color": "#c77d1a", "background-color": "#fbf0e1", "shape": "cut-rectangle" } },
    { selector: "node.community", style: { "border-color": "#3f8f5a", "background-color": "#e5f3ea", "shape": "ellipse" } },
    { selector: "node.school", style: { "border-color": "#7a5aa6", "background-color": "#efe9f7" } },
    { selector: "node.suppressed", style: { "border-style": "dashed" } },
    { selector: "node:selected", style: { "overlay-color": "#1d2430", "overlay-opacity": 0.15, "border-width": 5 } },
    { selector: "edge", style: {
      "width": 2, "curve-style": "bezier", "target-arrow-shape": "triangle", "label": "data(label)", "font-size": 11,
      "text-background-color": "#fff", "text-background-opacity": 1, "text-background-padding": 2, "color": "#333" } },
    { selector: "edge.offers", style: { "line-color": "#3b6ea5", "target-arrow-color": "#3b6ea5" } },
    { selector: "edge.serves_area", style: { "line-color": "#c77d1a", "target-arrow-color": "#c77d1a", "line-style": "dashed" } },
    { selector: "edge.located_in", style: { "line-color": "#7a5aa6", "target-arrow-color": "#7a5aa6", "line-style": "dotted" } }
  ];

  function draw(network) {
    var graph = $("graph");
    graph.dataset.state = "loading";
    state.nodes = {};
    network.nodes.forEach(function (n) { state.nodes[n.id] = n; });
    if (state.cy) { state.cy.destroy(); }
    state.cy = window.cytoscape({
      container: graph, elements: elements(network), style: STYLE, layout: { name: "preset" },
      minZoom: 0.2, maxZoom: 3, autoungrabify: true, boxSelectionEnabled: false
    });
    window.ntkNetwork = { cy: state.cy };
    state.cy.on("tap", "node", function (event) { select(event.target.id()); });
    state.cy.fit(undefined, 30);
    fillFinder(network.nodes);
    $("shown").textContent = network.nodes.length + " nodes, " + network.edges.length + " edges";
    graph.dataset.nodes = String(network.nodes.length);
    graph.dataset.edges = String(network.edges.length);
    graph.dataset.state = "ready";
    if (state.selected && state.nodes[state.selected]) { select(state.selected); } else { clearPanel(); }
  }

  function load(first) {
    var variables = { at: state.at, community: $("filter-community").value || null, program: $("filter-program").value || null };
    status("Loading…");
    $("graph").dataset.state = "loading";
    return window.ntkAuth.graphql(NETWORK, variables).then(function (data) {
      var network = data.partnerNetwork;
      state.at = network.at;
      $("as-of").textContent = "as of " + network.at;
      $("legend-k").textContent = "k = " + network.suppressionK + (network.suppressionKInclusive ? " (k itself too)" : "");
      $("app").hidden = false;
      $("sign-out").hidden = false;
      if (first) { fillFilters(network.nodes); }
      draw(network);
      status("");
    }, failed);
  }

  function clearPanel() {
    state.selected = null;
    $("panel-title").textContent = "Select a node";
    $("panel-kind").textContent = "Click a partner, program, community or school to see its coverage.";
    $("panel-figures").textContent = "";
    $("panel-note").textContent = "";
    $("panel").dataset.node = "";
  }

  function figure(dl, title, value) {
    var dt = document.createElement("dt");
    var dd = document.createElement("dd");
    dt.textContent = title;
    if (value.suppressed) {
      dd.textContent = "suppressed";
      dd.className = "suppressed";
      dd.title = "Fewer students than the threshold, or hidden so that a small count cannot be worked out.";
    } else {
      dd.textContent = value.display;
    }
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function section(dl, title) {
    var dt = document.createElement("dt");
    dt.className = "section";
    dt.textContent = title;
    dl.appendChild(dt);
  }

  function coverageFor(kind) {
    var key = kind + "@" + state.at;
    if (!state.coverage[key]) {
      state.coverage[key] = window.ntkAuth.graphql(COVERAGE, { by: kind, at: state.at }).then(function (d) { return d.coverage; });
      state.coverage[key].catch(function () { delete state.coverage[key]; });
    }
    return state.coverage[key];
  }

  function showCoverage(node, report) {
    var dl = $("panel-figures");
    PANEL_TABLES.forEach(function (spec) {
      var table = report.tables.filter(function (t) { return t.name === spec[0]; })[0];
      if (!table) { return; }
      var row = table.rows.filter(function (r) { return r.id === node.id; })[0];
      if (!row) { return; }
      section(dl, table.title);
      var titles = {};
      table.columns.forEach(function (c) { titles[c.name] = c.title; });
      table.ratioColumns.forEach(function (c) { titles[c.name] = c.title; });
      row.cells.forEach(function (c) { if (spec[1].indexOf(c.column) >= 0) { figure(dl, titles[c.column], c.count); } });
      row.ratios.forEach(function (r) { if (spec[2].indexOf(r.ratio) >= 0) { figure(dl, titles[r.ratio], r.percent); } });
    });
    $("panel-note").textContent = "Coverage at " + report.at + ". Suppressed: fewer than the threshold, or hidden to protect a small count.";
  }

  function select(id) {
    var node = state.nodes[id];
    if (!node) { return; }
    state.selected = id;
    state.cy.$(":selected").unselect();
    state.cy.getElementById(id).select();
    $("find-node").value = id;
    $("panel").dataset.node = id;
    $("panel").dataset.state = "loading";
    $("panel-title").textContent = node.label;
    $("panel-kind").textContent = KIND_NAME[node.kind];
    var dl = $("panel-figures");
    dl.textContent = "";
    figure(dl, "Students in the network", node.students);
    coverageFor(node.kind).then(function (report) {
      if (state.selected !== id) { return; }
      showCoverage(node, report);
      $("panel").dataset.state = "ready";
    }, failed);
  }

  function start() {
    $("filter-community").addEventListener("change", function () { load(false); });
    $("filter-program").addEventListener("change", function () { load(false); });
    $("find-node").addEventListener("change", function (e) { if (e.target.value) { select(e.target.value); } else { clearPanel(); } });
    $("sign-out").addEventListener("click", function () {
      window.ntkAuth.forget();
      window.location.reload();
    });
    window.ntkAuth.ask($("sign-in"), $("token-form"), $("token"), $("sign-in-error"), function () { load(true); });
    if (window.ntkAuth.token()) {
      load(true);
    } else {
      $("sign-in").hidden = false;
      $("token").focus();
    }
  }

  if (!window.cytoscape) {
    status("The graph library is missing: run `make web` (npm ci in api/web) on the server.");
    return;
  }
  start();
})();
