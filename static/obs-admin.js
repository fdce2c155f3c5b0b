// Tells the server the viewer's time zone (common/timezone.py): dates are then shown in it.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("obs_tz=" + zone) === -1) {
      document.cookie = "obs_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* an old browser: dates stay in UTC */ }
})();
