// The routing board (/routing/board): re-reads its live part (agents, queues) every few seconds while
// the tab is visible, and swaps it in. The team forms below it are plain HTML forms (CSRF in each).
(function () {
  "use strict";
  var live = document.getElementById("board-live");
  if (!live) return;
  var url = live.getAttribute("data-url");
  var EVERY_MS = 5000;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;  // rendered and escaped by the server
          live.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* offline for a moment: the next round tries again */ })
      .then(function () { busy = false; });
  }

  setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", refresh);
})();
