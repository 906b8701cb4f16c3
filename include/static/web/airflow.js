// Links to Airflow's own pages (a day's runs and logs) open in Airflow's page, not inside the
// Faces view's frame. Airflow's frame is sandboxed without top navigation, so a click asks
// Airflow's router (same origin) to go there: history.pushState, then a popstate it follows.
// Outside Airflow's frame the link is an ordinary link.
(function () {
  "use strict";
  var host = null;
  try {
    if (window.parent !== window && window.parent.document) host = window.parent;
  } catch (e) {
    host = null;
  }
  if (!host) return;
  document.addEventListener("click", function (event) {
    var a = event.target && event.target.closest ? event.target.closest("a[data-airflow]") : null;
    if (!a || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var url = new URL(a.getAttribute("href"), window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    var was = host.history.state || {};
    // the state React Router keeps in history (its index moves on by one)
    var state = { usr: null, key: Math.random().toString(36).slice(2, 10), idx: (was.idx || 0) + 1 };
    host.history.pushState(state, "", url.pathname + url.search);
    host.dispatchEvent(new PopStateEvent("popstate", { state: state }));
  });
})();
