/* GraphiQL from the npm packages installed in api/web (no CDN). The bearer token comes
 * from the same sessionStorage entry as the partner-network page (auth.js). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  function mount() {
    if (!window.React || !window.ReactDOM || !window.GraphiQL) {
      $("status").textContent = "GraphiQL is not installed: run `make web` (npm ci in api/web) on the server.";
      return;
    }
    var fetcher = window.GraphiQL.createFetcher({
      url: "/graphql",
      headers: { "Authorization": "Bearer " + window.ntkAuth.token() }
    });
    var root = window.ReactDOM.createRoot($("graphiql"));
    root.render(window.React.createElement(window.GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }));
  }

  window.ntkAuth.ask($("sign-in"), $("token-form"), $("token"), $("sign-in-error"), mount);
  if (window.ntkAuth.token()) {
    mount();
  } else {
    $("sign-in").hidden = false;
    $("token").focus();
  }
})();
