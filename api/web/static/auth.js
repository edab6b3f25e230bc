/* Bearer token for the pages of this server, and the one way they call /graphql.
 *
 * The token is asked for in a form, kept in sessionStorage (this tab only, gone when it
 * closes), and sent only in the Authorization header of same-origin POSTs to /graphql;
 * never in a URL, a cookie or a log. The Content-Security-Policy allows scripts and
 * connections to this origin only.
 */
(function () {
  "use strict";
  var KEY = "needtoknow.token";

  function GraphQLFailure(code, message, status) {
    this.name = "GraphQLFailure";
    this.code = code;
    this.message = message;
    this.status = status;
  }
  GraphQLFailure.prototype = Object.create(Error.prototype);

  function token() {
    try { return window.sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  window.ntkAuth = {
    GraphQLFailure: GraphQLFailure,
    token: token,
    remember: function (value) { window.sessionStorage.setItem(KEY, value.trim()); },
    forget: function () { window.sessionStorage.removeItem(KEY); },
    /* POST a query; resolves to `data`, rejects with a GraphQLFailure carrying extensions.code. */
    graphql: function (query, variables) {
      return fetch("/graphql", {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + (token() || "") },
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
    /* On each submit of `form`: remember the token, hide `section`, call onToken(). */
    ask: function (section, form, input, errorBox, onToken) {
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
