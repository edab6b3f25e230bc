/* The family page: who can see my student's record, why, until when; who asked; give and revoke consent.
 *
 * Every request goes through window.ntkAuth (auth.js): the sign-in, the token's keeping and
 * the Authorization header are its business, not this script's. Strings come translated in
 * the page (#messages); dates are formatted for the page's language.
 */
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("messages").textContent);
  var LANG = document.documentElement.lang || "en";
  var PAGE = 10;
  var ZONE = document.documentElement.getAttribute("data-time-zone") || undefined;  // the partnership's: consents end at its midnight
  var DAY = new Intl.DateTimeFormat(LANG, { dateStyle: "long", timeZone: ZONE });
  var MOMENT = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short", timeZone: ZONE });
  var NOON_UTC = new Intl.DateTimeFormat(LANG, { dateStyle: "long", timeZone: "UTC" });  // a calendar day given as YYYY-MM-DD
  var state = { students: [], current: null, access: [], consents: {}, cursors: [null], page: 0, pending: null, revoking: null };

  var STUDENTS = "{ myStudents { id name standing message } }";
  var REPORT = "query Report($s: ID!) {" +
    " providersWithAccess(studentId: $s) { provider { id name } partners { id name } outcome releasedCategories" +
    "   consent { id signedAt effectiveFrom expiresAt purposes } serviceStatus program { id name } teamId until since }" +
    " upcomingChanges(studentId: $s, within: 30) { at providerId categoriesAfter losesAccess }" +
    " myConsents(studentId: $s) { givenByYou recipients { id name kind }" +
    "   consent { id status kind signedAt effectiveFrom expiresAt revokedAt purposes categories signatureMethod signerIdentity textVersion } }" +
    " consentChoices(studentId: $s) { recipients { id name servesStudent } latestEndDate textVersion } }";
  var DISCLOSURES = "query Disclosures($s: ID!, $first: Int!, $after: String) {" +
    " familyDisclosures(studentId: $s, first: $first, after: $after) { total endCursor hasNextPage" +
    "   items { id decisionTime provider { name } organisations askedByRole application purpose categoriesAsked releasedCategories shown } } }";
  var GIVE = "mutation Give($input: GiveConsentInput!, $key: String) { giveConsent(input: $input, idempotencyKey: $key) {" +
    " __typename ... on ConsentReceipt { studentId signerId recipient { id name } consistencyToken" +
    "   consent { id signedAt expiresAt purposes categories signatureMethod signerIdentity textVersion } }" +
    " ... on ConsentRefused { standing message } ... on ValidationError { field message code } } }";
  var REVOKE = "mutation Revoke($id: ID!, $key: String) { revokeMyConsent(consentId: $id, idempotencyKey: $key) {" +
    " __typename ... on ConsentPayload { consent { id revokedAt } consistencyToken } ... on ValidationError { field message code } } }";

  function $(id) { return document.getElementById(id); }
  function t(key, vars) {
    var text = M[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) { return vars && vars[name] != null ? vars[name] : ""; });
  }
  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") { node.textContent = props[k]; } else if (k === "className") { node.className = props[k]; } else { node.setAttribute(k, props[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }
  function day(iso) { return iso ? DAY.format(new Date(iso)) : t("open"); }
  function moment(iso) { return MOMENT.format(new Date(iso)); }
  function lastDay(iso) { return iso ? DAY.format(new Date(new Date(iso).getTime() - 1)) : t("open"); }
  function purpose(code) { return code ? (M["purpose." + code] || code) : t("purposeUnknown"); }
  function cats(list) { return list.map(function (c) { return M["category." + c] || c; }).join(t("sep")); }
  function studentLabel(s) { return s.name || t("student", { id: s.id }); }
  function say(text) { $("status").textContent = text || ""; }
  function newKey() {
    return window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function failed(error) {
    if (error && error.code === "UNAUTHENTICATED") {
      window.ntkAuth.forget();
      showSignIn(t("badToken"));
      return;
    }
    say(t("failed"));
  }

  function showSignIn(message) {
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    say("");
  }

  /* ------------------------------------------------------------------ students */

  function loadStudents() {
    say(t("loading"));
    window.ntkAuth.graphql(STUDENTS).then(function (data) {
      $("sign-in").hidden = true;
      $("app").hidden = false;
      $("sign-out").hidden = false;
      state.students = data.myStudents;
      drawStudents();
      say("");
      if (state.students.length === 1) { choose(state.students[0].id); }
    }, failed);
  }

  function drawStudents() {
    var list = clear($("students"));
    if (!state.students.length) { list.appendChild(el("li", { text: t("noStudents") })); return; }
    state.students.forEach(function (s) {
      var button = el("button", { type: "button", className: "student", "data-id": s.id, "aria-pressed": String(s.id === state.current) }, [studentLabel(s)]);
      button.addEventListener("click", function () { choose(s.id); });
      list.appendChild(el("li", {}, [button]));
    });
  }

  function choose(id) {
    state.current = id;
    state.cursors = [null];
    state.page = 0;
    drawStudents();
    var s = state.students.filter(function (x) { return x.id === id; })[0];
    var ok = s.standing === "OK";
    $("student").hidden = false;
    $("standing").hidden = ok;
    $("standing").textContent = ok ? "" : M["standing." + s.standing.toLowerCase()] || s.message;
    $("report").hidden = !ok;
    resetGive();
    if (ok) { loadReport(); loadDisclosures(); }
  }

  /* ------------------------------------------------------------------ report */

  function loadReport() {
    say(t("loading"));
    return window.ntkAuth.graphql(REPORT, { s: state.current }).then(function (data) {
      state.access = data.providersWithAccess;
      state.consents = {};
      data.myConsents.forEach(function (c) { state.consents[c.consent.id] = c; });
      drawAccess(data.providersWithAccess);
      drawSoon(data.upcomingChanges, data.myConsents);
      drawConsents(data.myConsents);
      drawChoices(data.consentChoices);
      say("");
    }, failed);
  }

  function recipientNames(consentId) {
    var c = state.consents[consentId];
    return c ? c.recipients.map(function (r) { return r.name; }).join(t("sep")) : "";
  }

  function drawAccess(rows) {
    var list = clear($("access"));
    if (!rows.length) { list.appendChild(el("li", { className: "empty", text: t("nobody") })); return; }
    rows.forEach(function (a) {
      var orgs = a.partners.map(function (p) { return p.name; }).join(t("sep"));
      var c = a.consent;
      var why = [];
      if (c) {
        var vars = { signed: day(c.signedAt), recipient: recipientNames(c.id) || orgs, purpose: c.purposes.map(purpose).join(t("sep")), until: lastDay(c.expiresAt) };
        why.push(t(c.expiresAt ? "whyConsent" : "whyConsentOpen", vars));
      }
      var status = a.serviceStatus ? t("status." + a.serviceStatus.toLowerCase()) : "";
      if (a.teamId) { status += t("sep") + t("throughTeam"); }
      why.push(t(a.program ? "whyService" : "whyServiceNoProgram", { provider: a.provider.name, status: status, program: a.program ? a.program.name : "", since: day(a.since) }));
      if (a.outcome === "PARTIAL") { why.push(t("partial")); }
      var facts = el("dl", { className: "facts" }, [
        el("dt", { text: t("sees") }), el("dd", { text: cats(a.releasedCategories) }),
        el("dt", { text: t("forPurpose") }), el("dd", { text: c ? c.purposes.map(purpose).join(t("sep")) : "" }),
        el("dt", { text: t("since") }), el("dd", { text: day(a.since) }),
        el("dt", { text: t("until") }), el("dd", { text: lastDay(a.until) }),
        el("dt", { text: t("why") }), el("dd", { text: why.join(" ") })
      ]);
      list.appendChild(el("li", { className: "entry" }, [
        el("h3", { text: a.provider.name }),
        el("p", { className: "org", text: orgs + (a.program ? " · " + t("program", { program: a.program.name }) : "") }),
        facts
      ]));
    });
  }

  function drawSoon(changes, consents) {
    var items = [];
    var names = {};
    state.access.forEach(function (a) { names[a.provider.id] = a.provider.name; });
    changes.forEach(function (ch) {
      var who = names[ch.providerId] || ch.providerId;
      items.push({ at: ch.at, text: ch.losesAccess ? t("soonLoses", { date: day(ch.at), provider: who })
        : t("soonChanges", { date: day(ch.at), provider: who, categories: cats(ch.categoriesAfter) }) });
    });
    var horizon = Date.now() + 30 * 86400000;
    consents.forEach(function (c) {
      var d = c.consent;
      if (c.givenByYou && !d.revokedAt && d.expiresAt && new Date(d.expiresAt).getTime() <= horizon && new Date(d.expiresAt).getTime() > Date.now()) {
        items.push({ at: d.expiresAt, text: t("soonConsent", { date: lastDay(d.expiresAt), recipient: recipientNames(d.id), purpose: d.purposes.map(purpose).join(t("sep")) }) });
      }
    });
    items.sort(function (a, b) { return a.at < b.at ? -1 : a.at > b.at ? 1 : 0; });
    var list = clear($("soon"));
    if (!items.length) { list.appendChild(el("li", { className: "empty", text: t("soonNone") })); return; }
    items.forEach(function (i) { list.appendChild(el("li", { text: i.text })); });
  }

  function consentState(d) {
    var now = Date.now();
    if (d.revokedAt && new Date(d.revokedAt).getTime() <= now) { return { text: t("revokedOn", { date: day(d.revokedAt) }), live: false }; }
    if (d.expiresAt && new Date(d.expiresAt).getTime() <= now) { return { text: t("expiredOn", { date: lastDay(d.expiresAt) }), live: false }; }
    if (d.status !== "ACTIVE") { return { text: t("notActive"), live: false }; }
    var start = d.effectiveFrom || d.signedAt;
    if (start && new Date(start).getTime() > now) { return { text: t("notYetOn", { date: day(start) }), live: true }; }
    return { text: t("inForce"), live: true };
  }

  function drawConsents(rows) {
    var list = clear($("consents"));
    if (!rows.length) { list.appendChild(el("li", { className: "empty", text: t("consentsNone") })); return; }
    rows.forEach(function (c) {
      var d = c.consent;
      var st = consentState(d);
      var names = c.recipients.map(function (r) { return r.name; }).join(t("sep"));
      var item = el("li", { className: "entry" + (st.live ? "" : " past") }, [
        el("h3", { text: names }),
        el("p", { className: "badge" + (st.live ? " live" : ""), text: st.text }),
        el("dl", { className: "facts" }, [
          el("dt", { text: t("forPurpose") }), el("dd", { text: d.purposes.map(purpose).join(t("sep")) }),
          el("dt", { text: t("sees") }), el("dd", { text: cats(d.categories) }),
          el("dt", { text: t("since") }), el("dd", { text: day(d.effectiveFrom || d.signedAt) }),
          el("dt", { text: t("until") }), el("dd", { text: lastDay(d.expiresAt) })
        ]),
        el("p", { className: "hint", text: c.givenByYou ? t("byYou") : t("byOther") })
      ]);
      if (c.givenByYou && st.live && !d.revokedAt && d.kind === "PERMIT") {
        var button = el("button", { type: "button", className: "danger no-print", "aria-label": t("revokeFor", { recipient: names, purpose: d.purposes.map(purpose).join(t("sep")) }) }, [t("revoke")]);
        button.addEventListener("click", function () { askRevoke(d, names, button); });
        item.appendChild(button);
      }
      list.appendChild(item);
    });
  }

  /* ------------------------------------------------------------------ revoke */

  function askRevoke(d, names, opener) {
    state.revoking = { id: d.id, names: names, purposes: d.purposes.map(purpose).join(t("sep")), opener: opener, key: newKey() };
    $("confirm-text").textContent = t("revokeConfirm", { recipient: names, purpose: state.revoking.purposes });
    $("confirm-yes").textContent = t("revokeYes");
    $("confirm-no").textContent = t("revokeNo");
    opener.parentNode.appendChild($("confirm"));
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  }

  function closeConfirm() {
    var r = state.revoking;
    $("confirm").hidden = true;
    $("consents").parentNode.appendChild($("confirm"));
    state.revoking = null;
    if (r && r.opener && document.body.contains(r.opener)) { r.opener.focus(); }
  }

  function doRevoke() {
    var r = state.revoking;
    if (!r) { return; }
    window.ntkAuth.graphql(REVOKE, { id: r.id, key: r.key }).then(function (data) {
      var out = data.revokeMyConsent;
      closeConfirm();
      if (out.__typename !== "ConsentPayload") { say(out.message); return; }
      $("revoke-result").hidden = false;
      $("revoke-result").textContent = t("revoked", { time: moment(out.consent.revokedAt), recipient: r.names });
      loadReport().then(function () { $("consents-title").focus(); });
    }, failed);
  }

  /* ------------------------------------------------------------------ give */

  function drawChoices(choices) {
    var select = clear($("give-recipient"));
    select.appendChild(el("option", { value: "", text: t("chooseRecipient") }));
    choices.recipients.forEach(function (r) {
      select.appendChild(el("option", { value: r.id, text: r.servesStudent ? r.name + " (" + t("servesStudent") + ")" : r.name }));
    });
    var end = $("give-end");
    var tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    end.min = tomorrow;
    end.max = choices.latestEndDate;
    $("give-end-help").textContent = t("needEndDate", { date: NOON_UTC.format(new Date(choices.latestEndDate + "T12:00:00Z")) });
  }

  function resetGive() {
    $("give-form").hidden = false;
    $("give-form").reset();
    $("review").hidden = true;
    $("receipt").hidden = true;
    $("refused").hidden = true;
    $("revoke-result").hidden = true;
    ["give-recipient-error", "give-purpose-error", "give-categories-error", "give-end-error", "review-error"].forEach(function (id) { $(id).textContent = ""; });
    state.pending = null;
  }

  function readForm() {
    var form = $("give-form");
    var chosen = form.querySelector("input[name=purpose]:checked");
    var categories = Array.prototype.map.call(form.querySelectorAll("input[name=category]:checked"), function (i) { return i.value; });
    var end = $("give-end");
    var problems = [];
    function check(ok, id, message, field) {
      $(id).textContent = ok ? "" : message;
      field.setAttribute("aria-invalid", String(!ok));
      if (!ok) { problems.push(field); }
    }
    check(!!$("give-recipient").value, "give-recipient-error", t("needRecipient"), $("give-recipient"));
    check(!!chosen, "give-purpose-error", t("needPurpose"), form.querySelector("input[name=purpose]"));
    check(categories.length > 0, "give-categories-error", t("needCategories"), form.querySelector("input[name=category]"));
    check(!!end.value && end.value >= end.min && end.value <= end.max, "give-end-error", t("needEndDate", { date: NOON_UTC.format(new Date(end.max + "T12:00:00Z")) }), end);
    if (problems.length) { problems[0].focus(); return null; }
    var select = $("give-recipient");
    return {
      input: { studentId: state.current, recipientId: select.value, purpose: chosen.value, categories: categories, endDate: end.value, language: LANG },
      recipientName: select.options[select.selectedIndex].text.replace(/ \(.*\)$/, "")
    };
  }

  function documentText(p, container) {
    var s = state.students.filter(function (x) { return x.id === p.input.studentId; })[0];
    var vars = { recipient: p.recipientName, student: studentLabel(s), categories: cats(p.input.categories), purpose: purpose(p.input.purpose),
      until: NOON_UTC.format(new Date(p.input.endDate + "T12:00:00Z")) };
    clear(container);
    ["doc1", "doc2", "doc3", "doc4"].forEach(function (k) { container.appendChild(el("p", { text: t(k, vars) })); });
  }

  function review(event) {
    event.preventDefault();
    var p = readForm();
    if (!p) { return; }
    p.key = newKey();
    state.pending = p;
    documentText(p, $("review-text"));
    $("review-agree").checked = false;
    $("review-error").textContent = "";
    $("give-form").hidden = true;
    $("review").hidden = false;
    $("review-title").focus();
  }

  function sign() {
    var p = state.pending;
    if (!p) { return; }
    if (!$("review-agree").checked) { $("review-error").textContent = t("needAgree"); $("review-agree").focus(); return; }
    $("review-sign").disabled = true;
    window.ntkAuth.graphql(GIVE, { input: p.input, key: p.key }).then(function (data) {
      $("review-sign").disabled = false;
      var out = data.giveConsent;
      $("review").hidden = true;
      if (out.__typename === "ConsentReceipt") {
        showReceipt(p, out);
        loadReport();
        return;
      }
      $("give-form").hidden = false;
      var reason = out.__typename === "ConsentRefused" ? (M["standing." + out.standing.toLowerCase()] || out.message) : out.message;
      $("refused").hidden = false;
      $("refused").textContent = t("refused") + " " + reason;
    }, function (error) { $("review-sign").disabled = false; failed(error); });
  }

  function showReceipt(p, out) {
    var c = out.consent;
    documentText(p, $("receipt-text"));
    $("receipt-message").textContent = t("signed");
    var facts = clear($("receipt-facts"));
    [["receiptId", c.id], ["receiptSigned", moment(c.signedAt)], ["receiptMethod", t("receiptMethodValue") + " (" + c.signatureMethod + ")"],
      ["receiptIdentity", c.signerIdentity], ["receiptVersion", c.textVersion]].forEach(function (row) {
      facts.appendChild(el("dt", { text: t(row[0]) }));
      facts.appendChild(el("dd", { text: row[1] }));
    });
    $("receipt").hidden = false;
    $("receipt-title").focus();
    state.pending = null;
  }

  /* ------------------------------------------------------------------ disclosures */

  function loadDisclosures() {
    var after = state.cursors[state.page];
    return window.ntkAuth.graphql(DISCLOSURES, { s: state.current, first: PAGE, after: after }).then(function (data) {
      var page = data.familyDisclosures;
      var body = clear($("disclosures").tBodies[0]);
      if (!page.items.length) {
        body.appendChild(el("tr", {}, [el("td", { colspan: "4", text: t("disclosuresNone") })]));
      }
      page.items.forEach(function (d) {
        var provider = d.provider.name + (d.organisations.length ? " · " + d.organisations.join(t("sep")) : "");
        var who = d.askedByRole === "admin" ? t("askedByAdmin", { provider: provider })
          : d.askedByRole === "app" ? t("askedByApp", { provider: provider, application: d.application || "" }) : provider;
        var asked = purpose(d.purpose) + (d.categoriesAsked ? ": " + cats(d.categoriesAsked) : "");
        var answer = d.shown ? t("shownYes", { categories: d.releasedCategories.length ? cats(d.releasedCategories) : t("all") }) : t("shownNo");
        body.appendChild(el("tr", {}, [
          el("td", { text: moment(d.decisionTime) }), el("td", { text: who }), el("td", { text: asked }),
          el("td", { className: d.shown ? "shown" : "not-shown", text: answer })
        ]));
      });
      state.cursors[state.page + 1] = page.endCursor;
      var first = page.total ? state.page * PAGE + 1 : 0;
      $("page-of").textContent = t("pageOf", { from: first, to: state.page * PAGE + page.items.length, total: page.total });
      $("newer").disabled = state.page === 0;
      $("older").disabled = !page.hasNextPage;
    }, failed);
  }

  /* ------------------------------------------------------------------ wiring */

  function start() {
    $("give-form").addEventListener("submit", review);
    $("review-sign").addEventListener("click", sign);
    $("review-back").addEventListener("click", function () { $("review").hidden = true; $("give-form").hidden = false; $("give-recipient").focus(); });
    $("receipt-done").addEventListener("click", function () { resetGive(); $("give-title").focus(); });
    $("receipt-print").addEventListener("click", function () { document.body.classList.add("print-receipt"); window.print(); });
    window.addEventListener("afterprint", function () { document.body.classList.remove("print-receipt"); });
    $("print").addEventListener("click", function () { window.print(); });
    $("confirm-yes").addEventListener("click", doRevoke);
    $("confirm-no").addEventListener("click", closeConfirm);
    $("confirm").addEventListener("keydown", function (e) { if (e.key === "Escape") { closeConfirm(); } });
    $("older").addEventListener("click", function () { state.page += 1; loadDisclosures().then(function () { $("disclosures-wrap").focus(); }); });
    $("newer").addEventListener("click", function () { if (state.page > 0) { state.page -= 1; loadDisclosures(); } });
    $("sign-out").addEventListener("click", function () { window.ntkAuth.forget(); showSignIn(t("signedOut")); $("token").focus(); });
    window.ntkAuth.ask($("sign-in"), $("token-form"), $("token"), $("sign-in-error"), loadStudents);
    if (window.ntkAuth.token()) { loadStudents(); } else { showSignIn(""); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
