// taskhub dashboard: small progressive enhancements. Every page works without this file.
// 1. "Local" time zone link: points at the browser's own zone (hidden without JavaScript).
// 2. Hub picker: opens the chosen hub at once.
// 3. Auto-refresh: reloads the page every data-refresh seconds, but not while a form field has focus
//    (without JavaScript a <noscript> meta refresh does it).
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  document.querySelectorAll("[data-local-tz]").forEach(function (a) {
    if (!zone) { return; }
    var url = new URL(a.getAttribute("href"), window.location.href);
    url.searchParams.set("tz", zone);
    a.setAttribute("href", url.pathname + url.search);
    a.textContent = "Local (" + zone + ")";
    a.hidden = false;
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    window.setInterval(function () {
      var a = document.activeElement;
      var busy = a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT");
      if (!busy) { window.location.reload(); }
    }, every * 1000);
  }
})();
