// The route import job page (onboarding/admin_bulk.py): follows the job's JSON status
// and updates the progress bar in place; reloads the page when the job stops working,
// so the report and the Apply/Cancel buttons come from the server. Without JavaScript
// a <noscript> meta refresh reloads the page instead.
(function () {
  var box = document.getElementById("import-job");
  if (!box || !box.dataset.statusUrl) { return; }
  var url = box.dataset.statusUrl;
  var every = (parseFloat(box.dataset.refreshSeconds) || 2) * 1000;
  var bar = document.getElementById("import-job-progress");
  var stage = document.getElementById("import-job-stage");
  var state = document.getElementById("import-job-state");
  var lastState = box.dataset.state || null;

  function show(status) {
    if (lastState !== null && status.state !== lastState) { window.location.reload(); return false; }
    lastState = status.state;
    if (!status.working) { window.location.reload(); return false; }
    if (state) { state.textContent = status.state_display; }
    if (bar) {
      if (status.percent === null) { bar.removeAttribute("value"); } else { bar.value = status.percent; }
    }
    if (stage && status.stage) {
      stage.textContent = status.stage + ": " + (status.percent === null ? status.done : status.percent + "%");
    }
    return true;
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) { if (!status || show(status)) { setTimeout(poll, every); } })
      .catch(function () { setTimeout(poll, every * 2); });
  }
  setTimeout(poll, every);
})();
