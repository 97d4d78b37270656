// moneytrail web app: small enhancements only (every page works without them).
// No inline script anywhere: this file is served from the app's own origin under its CSP.
document.addEventListener("DOMContentLoaded", function () {
  var err = document.querySelector(".error[role=alert]");
  if (err) { err.setAttribute("tabindex", "-1"); err.focus(); }
});
