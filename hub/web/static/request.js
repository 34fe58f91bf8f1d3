// The agent pages' one way to call the hub (inbox, tasks, templates): the session cookie with the page's CSRF
// token, a 401 back to the login (returning here after it), and a refusal as an Error with the API's
// message, `field` and `code`. Loaded before each page's own script.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  window.oknoRequest = function (method, url, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (b) {
          var message = (b.error && b.error.message) || String(response.status);
          var error = new Error(message);
          error.field = (b.error && b.error.field) || null;  // the card's form marks that field
          error.code = (b.error && b.error.code) || null;
          throw error;
        });
      }
      return response;
    });
  };
})();
