/* How the pages of this server authenticate, and the one way they call it.
 *
 * Two ways in, the same for every page (network, coverage, GraphiQL, family ...):
 *
 * - A bearer token typed into the page's form: kept in sessionStorage (this tab only, gone
 *   when it closes) and sent only in the Authorization header of same-origin requests;
 *   never in a URL, a cookie or a log.
 * - Single sign-on ("Sign in with your organisation account", shown when the server offers
 *   it): the server runs the authorization-code flow with PKCE and keeps the session in an
 *   HTTP-only cookie this script cannot read. What it can read is the CSRF cookie
 *   (ntk_csrf); while it exists and no bearer token is stored, every same-origin fetch of
 *   the page goes with the cookie and an X-CSRF-Token header instead of an Authorization
 *   header. window.fetch is wrapped for that, so pages that build their own requests
 *   (coverage downloads, GraphiQL's fetcher) need no change.
 *
 * ntkAuth.token() is truthy while the page is signed in either way (the stored token, or the
 * marker "session"); ntkAuth.mode() says which. The Content-Security-Policy allows scripts
 * and connections to this origin only.
 */
(function () {
  "use strict";
  var KEY = "needtoknow.token";
  var CSRF_COOKIE = "ntk_csrf";
  var SESSION = "session";

  function GraphQLFailure(code, message, status) {
    this.name = "GraphQLFailure";
    this.code = code;
    this.message = message;
    this.status = status;
  }
  GraphQLFailure.prototype = Object.create(Error.prototype);

  function stored() {
    try { return window.sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  function csrf() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === CSRF_COOKIE) { return decodeURIComponent(parts[i].slice(eq + 1)); }
    }
    return null;
  }

  function mode() {
    if (stored()) { return "token"; }
    return csrf() ? SESSION : null;
  }

  function sameOrigin(input) {
    var url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  /* Same-origin requests of a signed-in session: the cookie and the CSRF header, no bearer. */
  var nativeFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    if (mode() !== SESSION || !sameOrigin(input)) { return nativeFetch(input, init); }
    var options = Object.assign({}, init || {});
    var headers = new Headers(options.headers || (input instanceof Request ? input.headers : undefined));
    headers.delete("Authorization");
    headers.set("X-CSRF-Token", csrf());
    options.headers = headers;
    options.credentials = "same-origin";
    return nativeFetch(input, options);
  };

  function endSession() {
    var token = csrf();
    if (!token) { return; }
    // keepalive: pages reload right after forget(); the request still reaches the server.
    nativeFetch("/auth/logout", { method: "POST", credentials: "same-origin", keepalive: true, headers: { "X-CSRF-Token": token } });
    document.cookie = CSRF_COOKIE + "=; Max-Age=0; Path=/; SameSite=Strict";
  }

  /* A "Sign in with your organisation account" link before `form`, when the server offers it. */
  function offerSignOn(section, form) {
    if (section.querySelector(".ntk-sso")) { return; }
    nativeFetch("/auth/session", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : { sso: false };
    }).then(function (status) {
      if (!status.sso) { return; }
      var box = document.createElement("p");
      box.className = "ntk-sso";
      var link = document.createElement("a");
      link.id = "sso-sign-in";
      link.href = "/auth/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      link.textContent = "Sign in with your organisation account";
      box.appendChild(link);
      var or = document.createElement("p");
      or.className = "muted";
      or.textContent = "or paste a bearer token:";
      form.parentNode.insertBefore(or, form);
      form.parentNode.insertBefore(box, or);
    }, function () { /* no sign-on offered: the token form stays */ });
  }

  window.ntkAuth = {
    GraphQLFailure: GraphQLFailure,
    mode: mode,
    token: function () { var m = mode(); return m === "token" ? stored() : m === SESSION ? SESSION : null; },
    remember: function (value) { window.sessionStorage.setItem(KEY, value.trim()); },
    /* Show a page's sign-out button, named for what it ends: a session or a pasted token. */
    showSignOut: function (button) {
      button.textContent = mode() === SESSION ? "Sign out" : "Forget token";
      button.hidden = false;
    },
    forget: function () {
      window.sessionStorage.removeItem(KEY);
      endSession();
    },
    /* Headers for a same-origin request made without window.fetch (none needed with fetch). */
    headers: function () {
      var m = mode();
      if (m === "token") { return { "Authorization": "Bearer " + stored() }; }
      return m === SESSION ? { "X-CSRF-Token": csrf() } : {};
    },
    /* POST a query; resolves to `data`, rejects with a GraphQLFailure carrying extensions.code. */
    graphql: function (query, variables) {
      var headers = { "Content-Type": "application/json" };
      if (mode() === "token") { headers.Authorization = "Bearer " + stored(); }
      return window.fetch("/graphql", {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: headers,
        body: JSON.stringify({ query: query, variables: variables || {} })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (body.errors && body.errors.length) {
            var first = body.errors[0];
            throw new GraphQLFailure((first.extensions && first.extensions.code) || "ERROR", first.message, response.status);
          }
          return body.data;
        }, function () {
          throw new GraphQLFailure("BAD_RESPONSE", "HTTP " + response.status, response.status);
        });
      });
    },
    /* On each submit of `form`: remember the token, hide `section`, call onToken(). Also offers single sign-on. */
    ask: function (section, form, input, errorBox, onToken) {
      offerSignOn(section, form);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!input.value.trim()) { return; }
        window.ntkAuth.remember(input.value);
        input.value = "";
        errorBox.textContent = "";
        section.hidden = true;
        onToken();
      });
    }
  };
})();
