// The Faces view follows Airflow's light/dark choice, live. Airflow's UI keeps it as a
// "dark" class on its <html> (next-themes); the view is a same-origin frame of that page,
// so it reads the class and watches it. Outside Airflow's frame: the system's choice.
(function () {
  "use strict";
  var html = document.documentElement;
  var host = null;
  try {
    if (window.parent !== window && window.parent.document) host = window.parent.document.documentElement;
  } catch (e) {
    host = null; // another origin: not Airflow's frame
  }
  var system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function follow() {
    var dark = host ? host.classList.contains("dark") : !!(system && system.matches);
    html.classList.toggle("dark", dark);
    html.style.colorScheme = dark ? "dark" : "light";
  }
  follow();
  if (host && window.MutationObserver) {
    new MutationObserver(follow).observe(host, { attributes: true, attributeFilter: ["class"] });
  } else if (system && system.addEventListener) {
    system.addEventListener("change", follow);
  }
})();

// Airflow titles each of its pages "Airflow": while a page of the view is open in Airflow's
// frame, Airflow's tab has the view page's own title, and gets its own back when it closes.
(function () {
  "use strict";
  var host = null;
  try {
    if (window.parent !== window && window.parent.document) host = window.parent.document;
  } catch (e) {
    host = null;
  }
  if (!host) return;
  var was = host.title;
  function show() {
    if (document.title) host.title = document.title;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show);
  else show();
  window.addEventListener("pagehide", function () {
    host.title = was;
  });
})();
