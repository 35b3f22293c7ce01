// Live gate monitor: re-fetch the server-rendered gate cards every few seconds (no reload, no library).
(function () {
  "use strict";
  var box = document.getElementById("gates");
  var state = document.getElementById("live-state");
  if (!box) { return; }
  var every = parseInt(box.getAttribute("data-every"), 10) || 3000;
  function tick() {
    fetch(box.getAttribute("data-src"), {credentials: "same-origin", cache: "no-store"})
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error(String(r.status)); }
        return r.text();
      })
      .then(function (html) {
        box.innerHTML = html;  // rendered and escaped by the server's templates
        box.setAttribute("data-updated", String(Date.now()));
        state.textContent = state.getAttribute("data-ok") || state.textContent;
      })
      .catch(function (e) { state.textContent = "⚠ " + e.message; })
      .then(function () { setTimeout(tick, every); });
  }
  state.setAttribute("data-ok", state.textContent);
  setTimeout(tick, every);
})();
