/* The partner-network page: the overview from GraphQL `networkOverview` (computed and cached
 * on the server), drawn with cytoscape and laid out with cytoscape-fcose; a node's coverage
 * (GraphQL `coverage`) in the side panel. Every count arrives already suppressed
 * ({value, suppressed, display}); this script only shows it. No student is ever a node.
 *
 * Overview first: communities are compound nodes holding their schools; partners are linked
 * to the communities their programs serve; programs stay folded into their partner ("n
 * programs") until the partner is expanded. Find and focus: the search box suggests every
 * node; choosing one centres it, highlights its neighbourhood and dims the rest; the
 * breadcrumbs lead back. The view (date, community filter, focus, expanded partners, zoom
 * and pan) is kept in the URL's query string, never the token.
 *
 * Node size never depends on a count: aggregates never rank organisations.
 *
 * For tests and benchmarks: #graph gets data-state="ready", data-nodes, data-edges,
 * data-view (the view's query string), data-fetch-ms (the overview request) and
 * data-draw-ms (layout and first render) once drawn; window.ntkNetwork.cy is the
 * cytoscape instance.
 */
(function () {
  "use strict";

  var COUNT = "{ value suppressed display }";
  var PROGRAM = "{ id label fullLabel students " + COUNT + " partnerIds communityIds }";
  var OVERVIEW = "query Overview($at: DateTime) { networkOverview(at: $at) {" +
    " at consistencyToken suppressionK suppressionKInclusive nodeCount" +
    " communities { id label students " + COUNT + " schools { id label students " + COUNT + " } }" +
    " schoolsWithoutCommunity { id label students " + COUNT + " }" +
    " partners { id label students " + COUNT + " programCount programs " + PROGRAM + " communities { id programCount } }" +
    " programsWithoutPartner " + PROGRAM + " } }";

  var COVERAGE = "query Coverage($by: CoverageGroup!, $at: DateTime) {" +
    " coverage(by: $by, at: $at) { at tables { name title columns { name title } ratioColumns { name title }" +
    "  rows { id label cells { column count { value suppressed display } } ratios { ratio percent { value suppressed display } } } } } }";

  var KIND_NAME = { PARTNER: "Partner", PROGRAM: "Program", COMMUNITY: "Community", SCHOOL: "School" };
  var PANEL_TABLES = [
    ["students", ["students", "consented", "served", "full_access", "served_blocked", "consented_unserved"], ["consented_pct", "served_pct", "full_access_pct"]],
    ["providers", ["providers", "trained"], ["trained_pct"]],
    ["expiring", ["consents_expiring", "trainings_expiring", "agreements_expiring"], []]
  ];
  var PHONE = 700;

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    view: { at: "", community: "", focus: "", open: [], zoom: null, x: null, y: null },
    overview: null, cy: null, nodes: {}, coverage: {}, crumbs: [], suggestions: {}, restoring: false
  };

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

  /* ---- the view in the URL ---------------------------------------------------------- */

  function readView() {
    var q = new URLSearchParams(window.location.search);
    var num = function (k) { var v = parseFloat(q.get(k)); return isFinite(v) ? v : null; };
    state.view = {
      at: /^\d{4}-\d{2}-\d{2}$/.test(q.get("at") || "") ? q.get("at") : "",
      community: q.get("community") || "",
      focus: q.get("focus") || "",
      open: (q.get("open") || "").split(",").filter(Boolean),
      zoom: num("zoom"), x: num("x"), y: num("y")
    };
  }

  function viewQuery() {
    var v = state.view;
    var q = new URLSearchParams();
    if (v.at) { q.set("at", v.at); }
    if (v.community) { q.set("community", v.community); }
    if (v.focus) { q.set("focus", v.focus); }
    if (v.open.length) { q.set("open", v.open.join(",")); }
    if (state.cy) {
      q.set("zoom", state.cy.zoom().toFixed(4));
      q.set("x", state.cy.pan().x.toFixed(1));
      q.set("y", state.cy.pan().y.toFixed(1));
    }
    return q.toString();
  }

  function writeView() {
    if (state.restoring) { return; }
    var q = viewQuery();
    window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : ""));
    $("graph").dataset.view = q;
  }

  /* The instant asked about: noon UTC of the chosen day (null: now). */
  function atOf(day) { return day ? day + "T12:00:00Z" : null; }

  /* ---- elements --------------------------------------------------------------------- */

  /* Box size for a label in a node (cytoscape's width: "label" is deprecated): measured
   * with the page's font, wrapped at `max` pixels, plus padding. */
  var measure = document.createElement("canvas").getContext("2d");
  function boxFor(label, size, max) {
    measure.font = size + "px system-ui, sans-serif";
    var lines = 0, widest = 0;
    label.split("\n").forEach(function (line) {
      var w = measure.measureText(line).width;
      lines += Math.max(1, Math.ceil(w / max));
      widest = Math.max(widest, Math.min(w, max));
    });
    return { w: Math.ceil(widest) + 14, h: Math.ceil(lines * size * 1.25) + 12 };
  }

  function sized(data, size, max) {
    var b = boxFor(data.label, size, max);
    data.w = b.w;
    data.h = b.h;
    return data;
  }

  function countText(c) { return c.suppressed ? "*" : c.display; }

  function node(id, kind, label, count, extra) {
    var n = { id: id, kind: kind, label: label, students: count };
    Object.keys(extra || {}).forEach(function (k) { n[k] = extra[k]; });
    state.nodes[id] = n;
    return n;
  }

  function visibleOverview() {
    var o = state.overview;
    var only = state.view.community;
    if (!only) { return o; }
    return {
      communities: o.communities.filter(function (c) { return c.id === only; }),
      schoolsWithoutCommunity: [],
      partners: o.partners.filter(function (p) { return p.communities.some(function (l) { return l.id === only; }); }),
      programsWithoutPartner: o.programsWithoutPartner.filter(function (p) { return p.communityIds.indexOf(only) >= 0; })
    };
  }

  /* Every node of the overview by id (drawn or not): kind, label (programs: with their
   * partner), count, and what the panel lists. */
  function buildIndex() {
    var o = state.overview;
    state.nodes = {};
    o.communities.forEach(function (c) {
      node(c.id, "COMMUNITY", c.label, c.students, { schools: c.schools });
      c.schools.forEach(function (s) { node(s.id, "SCHOOL", s.label, s.students, { community: c.id }); });
    });
    o.schoolsWithoutCommunity.forEach(function (s) { node(s.id, "SCHOOL", s.label, s.students, {}); });
    o.partners.forEach(function (p) {
      node(p.id, "PARTNER", p.label, p.students, { partner: p });
      p.programs.forEach(function (g) { node(g.id, "PROGRAM", g.fullLabel, g.students, { program: g }); });
    });
    o.programsWithoutPartner.forEach(function (g) { node(g.id, "PROGRAM", g.fullLabel, g.students, { program: g }); });
  }

  /* On a phone with nothing focused, the picture holds the communities and their schools
   * only (the list above it holds the partners); choosing anything draws its neighbourhood. */
  function compact() {
    return window.innerWidth < PHONE && !state.view.focus && !state.view.community;
  }

  function elements() {
    var o = visibleOverview();
    var out = [];
    var open = {};
    state.view.open.forEach(function (id) { open[id] = true; });
    var shown = {}, drawn = {};
    state.compact = compact();
    o.communities.forEach(function (c) {
      shown[c.id] = true;
      out.push({ group: "nodes", data: { id: c.id, label: c.label + " · " + countText(c.students), w: 120, h: 30 },
        classes: "community" + (c.students.suppressed ? " suppressed" : "") });
      c.schools.forEach(function (s) {
        out.push({ group: "nodes", data: sized({ id: s.id, parent: c.id, label: s.label + "\n" + countText(s.students) }, 11, 150),
          classes: "school" + (s.students.suppressed ? " suppressed" : "") });
      });
    });
    if (state.compact) { return out; }
    o.schoolsWithoutCommunity.forEach(function (s) {
      out.push({ group: "nodes", data: sized({ id: s.id, label: s.label + "\n" + countText(s.students) }, 11, 150),
        classes: "school" + (s.students.suppressed ? " suppressed" : "") });
    });
    function programNode(p) {
      if (drawn[p.id]) { return; }
      drawn[p.id] = true;
      out.push({ group: "nodes", data: sized({ id: p.id, label: p.label + "\n" + countText(p.students) }, 11, 150),
        classes: "program" + (p.students.suppressed ? " suppressed" : "") });
      p.communityIds.forEach(function (c) {
        if (shown[c]) {
          out.push({ group: "edges", data: { id: "serves:" + p.id + ">" + c, source: p.id, target: c }, classes: "serves" });
        }
      });
    }
    o.partners.forEach(function (p) {
      var expanded = !!open[p.id];
      var folded = p.programCount === 1 ? "1 program" : p.programCount + " programs";
      out.push({ group: "nodes", data: { id: p.id, name: p.label, label: p.label + "\n" + countText(p.students) + (expanded ? "" : " · " + folded), w: 26, h: 26 },
        classes: "partner" + (p.students.suppressed ? " suppressed" : "") + (expanded ? " expanded" : "") });
      if (expanded) {
        p.programs.forEach(function (prog) {
          programNode(prog);
          out.push({ group: "edges", data: { id: "offers:" + p.id + ">" + prog.id, source: p.id, target: prog.id }, classes: "offers" });
        });
      } else {
        p.communities.forEach(function (l) {
          if (shown[l.id]) {
            out.push({ group: "edges", data: { id: "serves:" + p.id + ">" + l.id, source: p.id, target: l.id, programs: l.programCount },
              classes: "serves" });
          }
        });
      }
    });
    o.programsWithoutPartner.forEach(programNode);
    return out;
  }

  var STYLE = [
    { selector: "node", style: {
      "shape": "round-rectangle", "background-color": "#fff", "border-width": 2,
      "label": "data(label)", "text-wrap": "wrap", "text-max-width": 150, "text-valign": "center", "text-halign": "center",
      "font-size": 12, "color": "#1d2430", "width": "data(w)", "height": "data(h)", "min-zoomed-font-size": 7 } },
    { selector: "node.partner", style: { "shape": "ellipse", "width": 26, "height": 26, "padding": 0, "border-color": "#2c5a8c",
      "background-color": "#6f9ccc", "text-valign": "bottom", "text-margin-y": 4, "text-max-width": 130, "font-size": 11 } },
    { selector: "node.program", style: { "border-color": "#a4600c", "background-color": "#fbf0e1", "shape": "cut-rectangle", "font-size": 11 } },
    { selector: "node.school", style: { "border-color": "#7a5aa6", "background-color": "#f5f1fb", "font-size": 11 } },
    { selector: "node.community", style: {
      "shape": "round-rectangle", "border-color": "#3f8f5a", "background-color": "#eef7f1", "background-opacity": 1,
      "text-valign": "top", "text-halign": "center", "font-size": 26, "font-weight": "bold", "color": "#1f5a34",
      "text-margin-y": -4, "padding": 12, "text-max-width": 400, "min-zoomed-font-size": 5 } },
    { selector: "node.suppressed", style: { "border-style": "dashed" } },
    { selector: "node.expanded", style: { "border-width": 4 } },
    { selector: "edge", style: { "width": 1.2, "curve-style": "straight", "line-color": "#9aa5b5", "opacity": 0.55,
      "target-arrow-shape": "none" } },
    { selector: "edge.offers", style: { "line-color": "#3b6ea5", "opacity": 0.9, "width": 2 } },
    { selector: ".dimmed", style: { "opacity": 0.12 } },
    { selector: ".hidden", style: { "display": "none" } },
    { selector: "node.near", style: { "text-background-color": "#ffffff", "text-background-opacity": 0.9, "text-background-padding": 2 } },
    { selector: "node.dimmed", style: { "text-opacity": 0.15 } },
    { selector: "edge.highlight", style: { "opacity": 1, "width": 2.5, "line-color": "#1d2430" } },
    { selector: "node.partner.lead", style: { "label": "data(short)", "text-wrap": "wrap", "text-max-width": 1000, "font-size": "data(lf)", "min-zoomed-font-size": 0,
      "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 1 } },
    { selector: "node.lead-t", style: { "text-valign": "top", "text-margin-y": -4 } },
    { selector: "node.lead-r", style: { "text-valign": "center", "text-halign": "right", "text-margin-x": 4, "text-margin-y": 0 } },
    { selector: "node.lead-l", style: { "text-valign": "center", "text-halign": "left", "text-margin-x": -4, "text-margin-y": 0 } },
    { selector: "edge.hover", style: { "opacity": 1, "width": 2, "line-color": "#2c5a8c" } },
    { selector: "node.focused", style: { "border-width": 5, "border-color": "#1d2430", "underlay-color": "#f2c94c",
      "underlay-opacity": 0.6, "underlay-padding": 6 } }
  ];

  /* Deterministic start positions: communities on a grid, partners on a ring around them. */
  function seedPositions(cy) {
    var comms = cy.nodes(".community");
    var cols = Math.max(1, Math.ceil(Math.sqrt(comms.length)));
    comms.forEach(function (c, i) {
      var cx = (i % cols) * 420, cyy = Math.floor(i / cols) * 320;
      c.children().forEach(function (s, j) { s.position({ x: cx + (j % 3) * 140, y: cyy + Math.floor(j / 3) * 50 }); });
      if (c.isChildless()) { c.position({ x: cx, y: cyy }); }
    });
    var others = cy.nodes().filter(function (n) { return !n.isParent() && !n.isChild() && !n.hasClass("community"); });
    var rows = Math.max(1, Math.ceil(comms.length / cols));
    var r = Math.max(cols * 420, rows * 320) * 0.75 + 300;
    var mid = { x: (cols - 1) * 210, y: (rows - 1) * 160 };
    others.forEach(function (n, i) {
      var a = (2 * Math.PI * i) / Math.max(1, others.length);
      n.position({ x: mid.x + r * Math.cos(a), y: mid.y + r * Math.sin(a) });
    });
  }

  /* fcose samples with Math.random; a fixed seed (mulberry32) makes the same data give the
   * same picture, so a link's zoom and pan land on the same place. */
  function seeded(run) {
    var saved = Math.random, a = 20261130;
    Math.random = function () {
      a = (a + 0x6D2B79F5) | 0;
      var t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    try { run(); } finally { Math.random = saved; }
  }

  function layoutOptions() {
    return {
      name: "fcose", quality: "draft", randomize: true, animate: false, fit: false, numIter: 1200,
      nodeDimensionsIncludeLabels: true, packComponents: false, uniformNodeDimensions: false,
      nodeRepulsion: function () { return 6000; }, idealEdgeLength: function () { return 90; },
      edgeElasticity: function () { return 0.45; }, nestingFactor: 0.3, gravity: 1.2, gravityRange: 2.5,
      gravityCompound: 1.5, gravityRangeCompound: 1.2,
      nodeSeparation: 60, tile: true, tilingPaddingVertical: 12, tilingPaddingHorizontal: 12
    };
  }

  /* fcose leaves some top-level boxes (with their labels) overlapping; push apart what still
   * overlaps, preferring the screen's long axis so the picture keeps its shape. */
  function separate(cy) {
    var box = cy.container().getBoundingClientRect();
    var want = Math.max(0.5, Math.min(3, box.width / Math.max(1, box.height)));
    var tops = cy.nodes().filter(function (n) { return !n.isChild(); });
    // Boxes are measured once and moved arithmetically; the nodes move once at the end.
    var boxes = tops.map(function (n) {
      var b = n.boundingBox({ includeLabels: true });
      return { n: n, x1: b.x1, x2: b.x2, y1: b.y1, y2: b.y2, dx: 0, dy: 0 };
    });
    var move = function (b, dx, dy) { b.x1 += dx; b.x2 += dx; b.y1 += dy; b.y2 += dy; b.dx += dx; b.dy += dy; };
    for (var pass = 0; pass < 80; pass++) {
      var moved = false;
      boxes.sort(function (a, b) { return a.x1 - b.x1; });
      for (var i = 0; i < boxes.length; i++) {
        for (var j = i + 1; j < boxes.length && boxes[j].x1 < boxes[i].x2 + 8; j++) {
          var a = boxes[i], b = boxes[j];
          var ox = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1) + 8;
          var oy = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1) + 8;
          if (ox > 0 && oy > 0) {
            var dx = 0, dy = 0;
            if (ox < oy * want) { dx = ((a.x1 + a.x2) < (b.x1 + b.x2) ? 1 : -1) * ox / 2; } else { dy = ((a.y1 + a.y2) < (b.y1 + b.y2) ? 1 : -1) * oy / 2; }
            move(b, dx, dy);
            move(a, -dx, -dy);
            moved = true;
          }
        }
      }
      if (!moved) { break; }
    }
    cy.batch(function () { boxes.forEach(function (b) { if (b.dx || b.dy) { shift(b.n, b.dx, b.dy); } }); });
  }

  /* Fit the picture to the screen's shape: pull the few far-flung nodes (a partner serving
   * one distant community) back to the 90th-percentile radius, then stretch the layout to
   * the container's aspect ratio. Top-level nodes move with their children. */
  function fitAspect(cy) {
    if (cy.nodes().filter(function (n) { return !n.isChild(); }).length < 60) { return; }  // small: fcose's packing is fine
    pullIn(cy);
    stretch(cy);
  }

  /* A community's schools in a tidy grid (by name) where the layout put the community:
   * fcose's draft pass leaves children on top of each other. */
  function gridSchools(cy) {
    cy.batch(function () {
      cy.nodes(".community").forEach(function (c) {
        var kids = c.children().sort(function (a, b) { return a.data("label") < b.data("label") ? -1 : 1; });
        if (kids.length < 1) { return; }
        var cols = Math.ceil(Math.sqrt(kids.length / 1.5));
        var w = Math.max.apply(null, kids.map(function (k) { return k.data("w"); })) + 10;
        var h = Math.max.apply(null, kids.map(function (k) { return k.data("h"); })) + 8;
        var rows = Math.ceil(kids.length / cols);
        var mid = c.position();
        kids.forEach(function (k, i) {
          k.position({ x: mid.x + ((i % cols) - (cols - 1) / 2) * w, y: mid.y + (Math.floor(i / cols) - (rows - 1) / 2) * h });
        });
      });
    });
  }

  /* Per axis, clamp top-level node centres to the 5th..95th percentile band (plus a margin). */
  function pullIn(cy) {
    var tops = cy.nodes().filter(function (n) { return !n.isChild(); });
    if (tops.length < 10) { return; }
    var centre = function (n) { var b = n.boundingBox(); return { x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 }; };
    var xs = tops.map(function (n) { return centre(n).x; }).sort(function (a, b) { return a - b; });
    var ys = tops.map(function (n) { return centre(n).y; }).sort(function (a, b) { return a - b; });
    var q = function (v, f) { return v[Math.min(v.length - 1, Math.floor(v.length * f))]; };
    var mx = (q(xs, 0.95) - q(xs, 0.05)) * 0.08, my = (q(ys, 0.95) - q(ys, 0.05)) * 0.08;
    var lo = { x: q(xs, 0.05) - mx, y: q(ys, 0.05) - my }, hi = { x: q(xs, 0.95) + mx, y: q(ys, 0.95) + my };
    tops.forEach(function (n) {
      var p = centre(n);
      var nx = Math.min(hi.x, Math.max(lo.x, p.x)), ny = Math.min(hi.y, Math.max(lo.y, p.y));
      if (nx !== p.x || ny !== p.y) { shift(n, nx - p.x, ny - p.y); }
    });
  }

  function stretch(cy) {
    var tops = cy.nodes().filter(function (n) { return !n.isChild(); });
    if (tops.length < 3) { return; }
    var bb = tops.boundingBox();
    var c = { x: (bb.x1 + bb.x2) / 2, y: (bb.y1 + bb.y2) / 2 };
    var centre = function (n) { var b = n.boundingBox(); return { x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 }; };
    var box = cy.container().getBoundingClientRect();
    var want = Math.max(0.5, Math.min(3, box.width / Math.max(1, box.height)));
    var have = (bb.x2 - bb.x1) / Math.max(1, bb.y2 - bb.y1);
    var sx = want > have ? want / have : 1, sy = want > have ? 1 : have / want;
    tops.forEach(function (n) { var p = centre(n); shift(n, (p.x - c.x) * (sx - 1), (p.y - c.y) * (sy - 1)); });
  }

  /* Connected parts side by side, in shelves as wide as the screen's shape asks (fcose packs
   * components only with cytoscape-layout-utilities, whose dependency tree is ~190 packages).
   * A community moves with its schools. */
  function packComponents(cy) {
    var tops = cy.nodes().filter(function (n) { return !n.isChild(); });
    var root = {};
    var find = function (id) { while (root[id] !== id) { root[id] = root[root[id]]; id = root[id]; } return id; };
    var top = function (n) { return n.isChild() ? n.parent() : n; };
    tops.forEach(function (n) { root[n.id()] = n.id(); });
    cy.edges().forEach(function (e) { root[find(top(e.source()).id())] = find(top(e.target()).id()); });
    var groups = {};
    tops.forEach(function (n) { var r = find(n.id()); (groups[r] = groups[r] || []).push(n); });
    var parts = Object.keys(groups).map(function (r) {
      var eles = cy.collection(groups[r]);
      return { eles: eles, bb: eles.boundingBox({ includeLabels: true }) };
    });
    if (parts.length < 2) { return; }
    var gap = 40, area = 0;
    parts.forEach(function (g) { area += (g.bb.w + gap) * (g.bb.h + gap); });
    var box = cy.container().getBoundingClientRect();
    var aspect = Math.max(0.5, Math.min(3, box.width / Math.max(1, box.height)));
    var widest = Math.max.apply(null, parts.map(function (g) { return g.bb.w; }));
    var rowWidth = Math.max(widest, Math.sqrt(area * aspect));
    parts.sort(function (a, b) { return b.bb.h - a.bb.h || b.bb.w - a.bb.w; });
    var x = 0, y = 0, rowHeight = 0;
    parts.forEach(function (g) {
      if (x > 0 && x + g.bb.w > rowWidth) { x = 0; y += rowHeight + gap; rowHeight = 0; }
      var dx = x - g.bb.x1, dy = y - g.bb.y1;
      g.eles.forEach(function (n) { shift(n, dx, dy); });
      x += g.bb.w + gap;
      rowHeight = Math.max(rowHeight, g.bb.h);
    });
  }

  function shift(n, dx, dy) {
    var targets = n.isParent() ? n.descendants() : n;
    targets.forEach(function (m) { var p = m.position(); m.position({ x: p.x + dx, y: p.y + dy }); });
  }

  function fitAll() {
    state.cy.fit(undefined, 24);
  }

  /* Readable partners at any scale: at fit, partner labels are below the readable size, so
   * name as many partners as fit without covering another label, those serving the most
   * communities first (a structural order: the page never ranks by student counts, which
   * suppression protects). Their labels keep a readable rendered size while zooming. */
  var LEAD_PX = 11;

  /* A long name on two lines split at the space nearest its middle (narrower labels fit more). */
  function twoLines(name) {
    if (name.length < 16 || name.indexOf(" ") < 0) { return [name]; }
    var mid = name.length / 2, best = -1;
    for (var i = 0; i < name.length; i++) {
      if (name[i] === " " && (best < 0 || Math.abs(i - mid) < Math.abs(best - mid))) { best = i; }
    }
    return [name.slice(0, best), name.slice(best + 1)];
  }

  function leaderSize(cy) {
    var size = Math.max(11, LEAD_PX / cy.zoom());
    cy.batch(function () { cy.nodes(".lead").forEach(function (n) { n.data("lf", size); }); });
  }

  function labelLeaders(cy) {
    var z = cy.zoom();
    var only = { includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false };
    var readable = function (n) { return parseFloat(n.style("font-size")) * z >= parseFloat(n.style("min-zoomed-font-size")); };
    var taken = cy.nodes().filter(function (n) { return n.data("label") && readable(n); })
      .map(function (n) { return n.renderedBoundingBox(only); }).filter(function (b) { return b.w > 0; });
    var bodies = cy.nodes().filter(function (n) { return !n.hasClass("partner") && !n.isParent(); })
      .map(function (n) { return n.renderedBoundingBox({ includeLabels: false }); });
    var dots = cy.nodes(".partner").map(function (n) { return n.renderedBoundingBox({ includeLabels: false }); });
    var hits = function (a, list, pad) {
      return list.some(function (b) { return a.x1 < b.x2 + pad && b.x1 < a.x2 + pad && a.y1 < b.y2 + pad && b.y1 < a.y2 + pad; });
    };
    // Measured here (canvas text metrics in the style's font) rather than by cytoscape, whose
    // label sizes are cached per style and lag a class change made in the same frame.
    var pen = document.createElement("canvas").getContext("2d");
    var w = cy.width(), h = cy.height(), lead = [];
    var partners = cy.nodes(".partner").filter(function (n) { return !readable(n); }).sort(function (a, b) {
      return b.connectedEdges(".serves").length - a.connectedEdges(".serves").length || (a.data("label") < b.data("label") ? -1 : 1);
    });
    // Candidate places, as on a map: under the dot, over it, then beside it (one line).
    var places = [["b", true], ["t", true], ["r", false], ["l", false]];
    partners.forEach(function (n) {
      pen.font = LEAD_PX + "px " + n.style("font-family");
      var dot = n.renderedBoundingBox({ includeLabels: false });
      var x = (dot.x1 + dot.x2) / 2, y = (dot.y1 + dot.y2) / 2, gap = 4 * z;
      for (var i = 0; i < places.length; i++) {
        var lines = places[i][1] ? twoLines(n.data("name")) : [n.data("name")];
        var width = Math.max.apply(null, lines.map(function (t) { return pen.measureText(t).width; })) + 4;
        var height = LEAD_PX * 1.25 * lines.length, side = places[i][0], b;
        if (side === "b") { b = { x1: x - width / 2, x2: x + width / 2, y1: dot.y2 + gap, y2: dot.y2 + gap + height }; }
        else if (side === "t") { b = { x1: x - width / 2, x2: x + width / 2, y1: dot.y1 - gap - height, y2: dot.y1 - gap }; }
        else if (side === "r") { b = { x1: dot.x2 + gap, x2: dot.x2 + gap + width, y1: y - height / 2, y2: y + height / 2 }; }
        else { b = { x1: dot.x1 - gap - width, x2: dot.x1 - gap, y1: y - height / 2, y2: y + height / 2 }; }
        if (b.x1 >= 0 && b.y1 >= 0 && b.x2 <= w && b.y2 <= h && !hits(b, taken, 4) && !hits(b, bodies, 2) && !hits(b, dots, 1)) {
          taken.push(b);
          lead.push([n, side, lines.join("\n")]);
          break;
        }
      }
    });
    cy.batch(function () {
      lead.forEach(function (l) { l[0].data({ lf: LEAD_PX / z, short: l[2] }); l[0].addClass("lead lead-" + l[1]); });
    });
    $("graph").dataset.leaders = String(cy.nodes(".lead").length);
  }

  function draw() {
    var started = window.performance.now();
    var graph = $("graph");
    graph.dataset.state = "loading";
    if (state.cy) { state.cy.destroy(); }
    var els = elements();
    var elementsMs = Math.round(window.performance.now() - started);
    var cy = window.cytoscape({
      container: graph, elements: els, style: STYLE, layout: { name: "preset", fit: false },  // fitting now would measure every label twice
      minZoom: 0.02, maxZoom: 4, autoungrabify: true, boxSelectionEnabled: false
    });
    state.cy = cy;
    window.ntkNetwork = { cy: cy };
    var phases = { elements: elementsMs }, mark = window.performance.now();
    phases.create = Math.round(mark - started - elementsMs);
    var phase = function (name) { var now = window.performance.now(); phases[name] = Math.round(now - mark); mark = now; };
    seedPositions(cy);
    seeded(function () { cy.layout(layoutOptions()).run(); });
    phase("fcose");
    gridSchools(cy);
    fitAspect(cy);
    phase("aspect");
    separate(cy);
    if (cy.nodes().filter(function (n) { return !n.isChild(); }).length >= 60) { stretch(cy); }  // scaling up one axis adds no overlap
    phase("separate");
    packComponents(cy);
    phase("pack");
    fitAll();
    labelLeaders(cy);
    phase("labels");
    cy.on("tap", "node", function (event) { choose(event.target.id()); });
    cy.on("tap", function (event) { if (event.target === cy) { hideTip(); } });
    cy.on("mouseover", "node", function (event) {
      showTip(event.target, event.renderedPosition);
      if (event.target.hasClass("partner")) { event.target.connectedEdges().addClass("hover"); }
    });
    cy.on("mouseout", "node", function (event) { hideTip(); event.target.connectedEdges().removeClass("hover"); });
    cy.on("zoom", debounce(function () { leaderSize(cy); }, 60));
    cy.on("viewport", debounce(writeView, 150));
    var nodes = cy.nodes().length, edges = cy.edges().length;
    $("shown").textContent = nodes + " nodes, " + edges + " links";
    graph.dataset.nodes = String(nodes);
    graph.dataset.edges = String(edges);
    phase("fit");
    fillSuggestions();
    fillList();
    phase("lists");
    graph.dataset.drawMs = String(Math.round(window.performance.now() - started));
    graph.dataset.phases = JSON.stringify(phases);
  }

  function debounce(fn, ms) {
    var t = null;
    return function () { if (t) { clearTimeout(t); } t = setTimeout(fn, ms); };
  }

  /* ---- tooltips --------------------------------------------------------------------- */

  function showTip(ele, at) {
    var n = state.nodes[ele.id()];
    if (!n) { return; }
    var tip = $("tooltip");
    tip.textContent = KIND_NAME[n.kind] + ": " + n.label + " — students " + (n.students.suppressed ? "suppressed" : n.students.display);
    var box = $("graph").getBoundingClientRect();
    tip.style.left = Math.round(box.left + window.scrollX + at.x + 12) + "px";
    tip.style.top = Math.round(box.top + window.scrollY + at.y + 12) + "px";
    tip.hidden = false;
  }

  function hideTip() { $("tooltip").hidden = true; }

  /* ---- find, focus, breadcrumbs ------------------------------------------------------- */

  function suggestionText(n) { return n.label + " (" + KIND_NAME[n.kind] + ")"; }

  function allNodes() {
    var o = state.overview, out = [];
    o.communities.forEach(function (c) {
      out.push({ id: c.id, kind: "COMMUNITY", label: c.label });
      c.schools.forEach(function (s) { out.push({ id: s.id, kind: "SCHOOL", label: s.label }); });
    });
    o.schoolsWithoutCommunity.forEach(function (s) { out.push({ id: s.id, kind: "SCHOOL", label: s.label }); });
    o.partners.forEach(function (p) {
      out.push({ id: p.id, kind: "PARTNER", label: p.label });
      p.programs.forEach(function (g) { out.push({ id: g.id, kind: "PROGRAM", label: g.fullLabel, partner: p.id }); });
    });
    o.programsWithoutPartner.forEach(function (g) { out.push({ id: g.id, kind: "PROGRAM", label: g.fullLabel }); });
    return out;
  }

  function fillSuggestions() {
    var list = $("search-suggestions");
    list.textContent = "";
    state.suggestions = {};
    allNodes().forEach(function (n) {
      var text = suggestionText(n);
      if (state.suggestions[text]) { return; }
      state.suggestions[text] = n;
      var o = document.createElement("option");
      o.value = text;
      list.appendChild(o);
    });
  }

  function listItem(ul, id, text) {
    var li = document.createElement("li");
    var b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = text;
    b.dataset.node = id;
    b.addEventListener("click", function () { choose(id); });
    li.appendChild(b);
    ul.appendChild(li);
  }

  function fillList() {
    var o = visibleOverview();
    $("list-communities").textContent = "";
    $("list-partners").textContent = "";
    o.communities.forEach(function (c) { listItem($("list-communities"), c.id, c.label + " · " + countText(c.students)); });
    o.partners.forEach(function (p) { listItem($("list-partners"), p.id, p.label + " · " + p.programCount + " programs"); });
  }

  function onSearch() {
    var n = state.suggestions[$("search").value];
    if (!n) { return; }
    $("search").value = "";
    choose(n.id);
  }

  /* Make `id` part of the drawing: unfold the partner of a program, drop a community
   * filter that leaves it out. */
  function reveal(id) {
    var n = state.nodes[id];
    if (n.kind === "PROGRAM") {
      var ptns = n.program.partnerIds;
      if (ptns.length && !ptns.some(function (x) { return state.view.open.indexOf(x) >= 0; })) { state.view.open.push(ptns[0]); }
    }
    if (state.view.community) {
      state.view.community = "";
      $("filter-community").value = "";
    }
  }

  function neighbourhood(ele) {
    var hood = ele.closedNeighborhood();
    if (ele.isParent()) { hood = hood.union(ele.children()).union(ele.children().neighborhood()); }
    if (ele.isChild()) { hood = hood.union(ele.parent()).union(ele.parent().neighborhood()); }
    return hood.union(hood.parent());
  }

  function focusOn(id) {
    var cy = state.cy;
    cy.elements().removeClass("dimmed highlight focused hidden near");
    var ele = cy.getElementById(id);
    if (!ele || ele.empty()) { return false; }
    var hood = neighbourhood(ele);
    cy.elements().difference(hood).addClass("dimmed");
    hood.edges().addClass("highlight");
    ele.addClass("focused");
    if (window.innerWidth < PHONE) { return focusPhone(ele, hood); }
    cy.fit(hood, 40);
    if (cy.zoom() > 1.6) { cy.zoom({ level: 1.6, renderedPosition: ele.renderedPosition() }); cy.center(ele); }
    return true;
  }

  /* On a phone the neighbourhood gets a picture of its own: the rest is hidden, the chosen
   * node (with its schools, or its school's community) on top, its neighbours by name in two
   * columns below, the whole fitted to the screen's width (pan down for the rest). */
  function focusPhone(ele, hood) {
    var cy = state.cy;
    cy.elements().difference(hood).addClass("hidden");
    hood.nodes(".partner").addClass("near");  // their labels sit under the dot, where lines pass
    var byLabel = function (a, b) { return a.data("label") < b.data("label") ? -1 : 1; };
    var home = ele.isChild() ? ele.parent() : ele;
    var leaves = hood.nodes().filter(function (n) { return !n.isParent(); });
    var core = leaves.filter(function (n) { return n.same(ele) || n.parent().same(home); }).sort(byLabel);
    var rest = leaves.difference(core).sort(byLabel);
    var y = 0;
    var place = function (nodes, width) {
      var rowHeight = 0;
      nodes.forEach(function (n, i) {
        var h = n.hasClass("partner") ? 84 : n.data("h") + 12;
        if (i % 2 === 0 && i > 0) { y += rowHeight; rowHeight = 0; }
        rowHeight = Math.max(rowHeight, h);
        n.position({ x: (i % 2) * width, y: y + h / 2 });
      });
      y += rowHeight;
    };
    cy.batch(function () {
      place(core, 180);
      y += 50;
      place(rest, 180);
    });
    var bb = hood.boundingBox();
    var zoom = Math.min(1.3, (cy.width() - 16) / Math.max(1, bb.w));
    cy.viewport({ zoom: zoom, pan: { x: 8 - bb.x1 * zoom + Math.max(0, (cy.width() - 16 - bb.w * zoom) / 2), y: 8 - bb.y1 * zoom } });
    return true;
  }

  function clearFocus() {
    if (state.cy) { state.cy.elements().removeClass("dimmed highlight focused hidden near"); }
  }

  function choose(id) {
    if (!state.nodes[id]) { return; }
    state.view.focus = id;
    var at = state.crumbs.indexOf(id);
    if (at >= 0) { state.crumbs = state.crumbs.slice(0, at + 1); } else { state.crumbs.push(id); }
    if (state.compact || state.cy.getElementById(id).empty() || window.innerWidth < PHONE) {
      if (state.cy.getElementById(id).empty()) { reveal(id); }
      redraw(false);
      return;
    }
    focusOn(id);
    renderCrumbs();
    showPanel(id);
    writeView();
  }

  function toOverview() {
    state.view.focus = "";
    state.crumbs = [];
    if (compact()) { redraw(false); return; }
    clearFocus();
    fitAll();
    renderCrumbs();
    clearPanel();
    writeView();
  }

  function renderCrumbs() {
    var ol = $("crumb-list");
    ol.textContent = "";
    var items = [["", "Overview"]].concat(state.crumbs.map(function (id) {
      var n = state.nodes[id];
      return [id, n ? KIND_NAME[n.kind] + ": " + n.label : id];
    }));
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      if (i === items.length - 1) {
        var span = document.createElement("span");
        span.textContent = item[1];
        span.setAttribute("aria-current", "page");
        li.appendChild(span);
      } else {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = item[1];
        b.addEventListener("click", function () { if (item[0]) { choose(item[0]); } else { toOverview(); } });
        li.appendChild(b);
      }
      ol.appendChild(li);
    });
  }

  /* ---- side panel ------------------------------------------------------------------- */

  function clearPanel() {
    $("panel-title").textContent = "Overview";
    $("panel-kind").textContent = "Choose a node (click it, find it, or pick it in the list) to see its coverage.";
    $("panel-figures").textContent = "";
    $("panel-related").textContent = "";
    $("panel-actions").textContent = "";
    $("panel-note").textContent = "";
    $("panel").dataset.node = "";
    $("panel").dataset.state = "ready";
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
    var key = kind + "@" + state.view.at;
    if (!state.coverage[key]) {
      state.coverage[key] = window.ntkAuth.graphql(COVERAGE, { by: kind, at: atOf(state.view.at) }).then(function (d) { return d.coverage; });
      state.coverage[key].catch(function () { delete state.coverage[key]; });
    }
    return state.coverage[key];
  }

  function showCoverage(n, report) {
    var dl = $("panel-figures");
    PANEL_TABLES.forEach(function (spec) {
      var table = report.tables.filter(function (t) { return t.name === spec[0]; })[0];
      if (!table) { return; }
      var row = table.rows.filter(function (r) { return r.id === n.id; })[0];
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

  function related(title, items) {
    if (!items.length) { return; }
    var ul = $("panel-related");
    var head = document.createElement("li");
    head.className = "section";
    head.textContent = title;
    ul.appendChild(head);
    items.forEach(function (it) { listItem(ul, it[0], it[1]); });
  }

  function showPanel(id) {
    var n = state.nodes[id];
    $("panel").dataset.node = id;
    $("panel").dataset.state = "loading";
    $("panel-title").textContent = n.label;
    $("panel-kind").textContent = KIND_NAME[n.kind];
    $("panel-figures").textContent = "";
    $("panel-related").textContent = "";
    $("panel-actions").textContent = "";
    $("panel-note").textContent = "";
    figure($("panel-figures"), "Students in the network", n.students);
    if (n.kind === "PARTNER") {
      var open = state.view.open.indexOf(id) >= 0;
      var b = document.createElement("button");
      b.type = "button";
      b.id = "toggle-programs";
      b.textContent = open ? "Fold its programs" : "Show its " + n.partner.programCount + " programs";
      b.addEventListener("click", function () { toggle(id); });
      $("panel-actions").appendChild(b);
      related("Programs", n.partner.programs.map(function (p) { return [p.id, p.label + " · " + countText(p.students)]; }));
      related("Serves", n.partner.communities.map(function (l) {
        var c = state.nodes[l.id];
        return [l.id, (c ? c.label : l.id) + " (" + l.programCount + (l.programCount === 1 ? " program)" : " programs)")];
      }));
    } else if (n.kind === "COMMUNITY") {
      related("Schools", n.schools.map(function (s) { return [s.id, s.label + " · " + countText(s.students)]; }));
      related("Partners serving it", state.overview.partners.filter(function (p) {
        return p.communities.some(function (l) { return l.id === id; });
      }).map(function (p) { return [p.id, p.label]; }));
    }
    coverageFor(n.kind).then(function (report) {
      if (state.view.focus !== id) { return; }
      showCoverage(n, report);
      $("panel").dataset.state = "ready";
    }, failed);
  }

  function toggle(partner) {
    var i = state.view.open.indexOf(partner);
    if (i >= 0) { state.view.open.splice(i, 1); } else { state.view.open.push(partner); }
    redraw();
    choose(partner);
  }

  /* ---- export ----------------------------------------------------------------------- */

  function download(href, name) {
    var a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function fileName(ext) {
    return "partner-network-" + (state.overview ? state.overview.at.slice(0, 10) : "view") + (state.view.focus ? "-" + state.view.focus : "") + "." + ext;
  }

  function exportPng() {
    download(state.cy.png({ full: false, scale: 2, bg: "#ffffff" }), fileName("png"));
  }

  function exportSvg() {
    var svg = state.cy.svg({ full: false, scale: 1, bg: "#ffffff" });
    var url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
    download(url, fileName("svg"));
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  /* ---- loading ---------------------------------------------------------------------- */

  function fillCommunities() {
    var select = $("filter-community");
    while (select.options.length > 1) { select.remove(1); }
    state.overview.communities.forEach(function (c) {
      var o = document.createElement("option");
      o.value = c.id;
      o.textContent = c.label;
      select.appendChild(o);
    });
    select.value = state.view.community;
    if (select.value !== state.view.community) { state.view.community = ""; }
  }

  /* Draw the overview and restore the focus, then the zoom and pan of the view. */
  function redraw(restore) {
    var v = state.view;
    draw();
    if (v.focus && state.nodes[v.focus] && state.cy.getElementById(v.focus).empty()) {
      reveal(v.focus);
      draw();
    }
    state.restoring = true;
    if (v.focus && state.nodes[v.focus]) {
      if (state.crumbs.indexOf(v.focus) < 0) { state.crumbs = [v.focus]; }
      focusOn(v.focus);
      showPanel(v.focus);
    } else {
      v.focus = "";
      state.crumbs = [];
      clearPanel();
    }
    if (restore && v.zoom !== null && v.x !== null && v.y !== null) {
      state.cy.viewport({ zoom: v.zoom, pan: { x: v.x, y: v.y } });
    }
    renderCrumbs();
    state.restoring = false;
    writeView();
    $("graph").dataset.state = "ready";
  }

  function load(restore) {
    status("Loading…");
    $("graph").dataset.state = "loading";
    var asked = window.performance.now();
    return window.ntkAuth.graphql(OVERVIEW, { at: atOf(state.view.at) }).then(function (data) {
      $("graph").dataset.fetchMs = String(Math.round(window.performance.now() - asked));
      state.overview = data.networkOverview;
      $("as-of").textContent = "as of " + state.overview.at;
      $("as-of-date").value = state.view.at || state.overview.at.slice(0, 10);
      $("legend-k").textContent = "k = " + state.overview.suppressionK + (state.overview.suppressionKInclusive ? " (k itself too)" : "");
      $("app").hidden = false;
      window.ntkAuth.showSignOut($("sign-out"));
      buildIndex();
      fillCommunities();
      redraw(restore);
      status("");
    }, failed);
  }

  function start() {
    readView();
    $("filter-community").addEventListener("change", function (e) {
      state.view.community = e.target.value;
      state.view.zoom = null;
      redraw(false);
    });
    $("as-of-date").addEventListener("change", function (e) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(e.target.value)) { return; }
      state.view.at = e.target.value;
      state.coverage = {};
      load(false);
    });
    $("search").addEventListener("change", onSearch);
    $("search").addEventListener("input", function (e) { if (state.suggestions[e.target.value]) { onSearch(); } });
    $("fit").addEventListener("click", function () { fitAll(); writeView(); });
    $("export-png").addEventListener("click", exportPng);
    $("export-svg").addEventListener("click", exportSvg);
    $("sign-out").addEventListener("click", function () {
      window.ntkAuth.forget();
      window.location.reload();
    });
    window.addEventListener("resize", debounce(function () { if (state.cy) { state.cy.resize(); } }, 200));
    window.ntkAuth.ask($("sign-in"), $("token-form"), $("token"), $("sign-in-error"), function () { load(true); });
    if (window.ntkAuth.token()) {
      load(true);
    } else {
      $("sign-in").hidden = false;
      $("token").focus();
    }
  }

  if (!window.cytoscape || !window.cytoscapeFcose || !window.cytoscapeSvg) {
    status("The graph library is missing: run `make web` (npm ci in api/web) on the server.");
    return;
  }
  window.cytoscape.use(window.cytoscapeFcose);
  // cytoscape-svg registers itself when it finds window.cytoscape.
  window.ntkNetwork = { phone: function () { return window.innerWidth < PHONE; } };
  start();
})();
