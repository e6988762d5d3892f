/*
 * Vision Queue: the operator's page (admin.html), loaded after api.js.
 *
 * Asks for the operator token (VQ_ADMIN_TOKEN) once and keeps it in this tab's sessionStorage
 * only; every call sends it instead of a user's token. Shows the queue's figures (refreshed every
 * 10 s), every user's jobs with filters, and one job's categories and attempts, with cancel and
 * retry. Text from the server is only ever set with textContent.
 */
(function () {
  "use strict";

  var VQ = window.VQ;
  var $ = VQ.$, el = VQ.el, show = VQ.show, setText = VQ.setText;
  var TOKEN_KEY = "visionQueue.adminToken";
  var FIGURES_EVERY_MS = 10000;

  var admin = null;       // the API bound to the token
  var nextBefore = null;  // paging of the job list
  var selected = null;    // the job shown in detail
  var figuresTimer = null;

  function explain(error) {
    if (error.status === 401) return "The operator token was refused. Check VQ_ADMIN_TOKEN and enter it again.";
    if (error.status === 403) return "That is a user's sign-in token; this page needs the operator token (VQ_ADMIN_TOKEN).";
    if (error.status === 404 && error.code === "not_found") return "The operator page is off on this server: set VQ_ADMIN_TOKEN and restart it.";
    return error.message;
  }

  /** A refused token sends the operator back to the sign-in form. */
  function fail(error, box) {
    if (error.status === 401 || error.status === 403 || (error.status === 404 && error.code === "not_found")) {
      signOut();
      setText($("admin-error"), explain(error));
      show($("admin-error"), true);
      return;
    }
    setText(box, explain(error));
    show(box, true);
  }

  function signIn(token) {
    VQ.session.set(TOKEN_KEY, token);
    admin = VQ.api.admin(token);
    show($("sign-in"), false);
    show($("sign-out"), true);
    show($("console"), true);
    loadFigures();
    loadJobs(false);
    clearInterval(figuresTimer);
    figuresTimer = setInterval(loadFigures, FIGURES_EVERY_MS);
  }

  function signOut() {
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
    admin = null;
    clearInterval(figuresTimer);
    show($("console"), false);
    show($("sign-out"), false);
    show($("sign-in"), true);
    $("admin-token").value = "";
  }

  function seconds(value) {
    if (value === null || value === undefined) return "–";
    return value < 60 ? value.toFixed(1) + " s" : VQ.formatDuration(value * 1000);
  }

  function loadFigures() {
    if (!admin) return;
    admin.overview().then(function (result) {
      var figures = result.data;
      setText($("figure-running"), String(figures.runningJobs));
      setText($("figure-waiting"), String(figures.waitingJobs));
      setText($("figure-categories"), String(figures.runningCategories));
      setText($("figure-failed"), String(figures.failedLastHour));
      setText($("figure-median"), seconds(figures.medianCategorySeconds));
    }, function (error) { fail(error, $("admin-error")); });
  }

  function filterQuery() {
    var parts = [];
    var status = $("filter-status").value;
    var user = $("filter-user").value.trim();
    if (status) parts.push("status=" + encodeURIComponent(status));
    if (user) parts.push("user=" + encodeURIComponent(user));
    if ($("filter-failed").checked) parts.push("failed=true");
    if ($("filter-stalled").checked) parts.push("stalled=true");
    return parts;
  }

  function loadJobs(more) {
    if (!admin) return;
    var parts = filterQuery();
    if (more && nextBefore) parts.push("before=" + nextBefore);
    var body = $("jobs").querySelector("tbody");
    setText($("jobs-status"), "Loading…");
    admin.jobs(parts.join("&")).then(function (result) {
      if (!more) body.textContent = "";
      result.data.jobs.forEach(function (job) { body.appendChild(jobRow(job)); });
      nextBefore = result.data.nextBefore;
      show($("more"), nextBefore !== null && nextBefore !== undefined);
      var count = body.children.length;
      setText($("jobs-status"), count === 0 ? "No job matches." : count + (count === 1 ? " job" : " jobs") + " shown.");
    }, function (error) { setText($("jobs-status"), ""); fail(error, $("admin-error")); });
  }

  function statusText(job) {
    return job.status + (job.stalled ? " · stalled" : "");
  }

  function jobRow(job) {
    var open = el("button", { className: "button button-quiet", text: "Details", attrs: { type: "button" } });
    open.addEventListener("click", function () { loadDetail(job.jobId); });
    var row = el("tr", { data: { jobId: job.jobId } }, [
      el("td", { text: VQ.formatDateTime(job.createdAt) }),
      el("td", { text: job.userId }),
      el("td", { className: "admin-status", text: statusText(job) }),
      el("td", { text: job.categoriesCompleted + " of " + job.totalCategories }),
      el("td", { text: String(job.categoriesFailed) }),
      el("td", {}, [el("code", { text: "\u2026" + job.jobId.slice(-8), attrs: { title: job.jobId } }), " ", open])
    ]);
    if (selected === job.jobId) row.className = "admin-selected";
    return row;
  }

  function fact(name, value) {
    return el("div", {}, [el("dt", { text: name }), el("dd", { text: value === null || value === undefined ? "–" : String(value) })]);
  }

  function took(category) {
    var start = VQ.parseTime(category.startedAt), end = VQ.parseTime(category.completedAt);
    return start !== null && end !== null ? seconds((end - start) / 1000) : "–";
  }

  function loadDetail(jobId) {
    selected = jobId;
    Array.prototype.forEach.call($("jobs").querySelectorAll("tbody tr"), function (row) {
      row.className = row.dataset.jobId === jobId ? "admin-selected" : "";
    });
    show($("detail-error"), false);
    admin.job(jobId).then(function (result) { showDetail(result.data); }, function (error) { fail(error, $("detail-error")); });
  }

  function showDetail(job) {
    var section = $("detail");
    show(section, true);
    setText($("detail-title"), "Job " + job.jobId);
    var facts = $("detail-facts");
    facts.textContent = "";
    [
      ["User", job.userId], ["Status", statusText(job)], ["Written", job.categoriesCompleted + " of " + job.totalCategories],
      ["Failed", job.categoriesFailed], ["Created", VQ.formatDateTime(job.createdAt)], ["Updated", VQ.formatDateTime(job.updatedAt)],
      ["Ended", job.completedAt ? VQ.formatDateTime(job.completedAt) : null], ["Tokens", job.tokens.total]
    ].forEach(function (pair) { facts.appendChild(fact(pair[0], pair[1])); });
    if (job.error) {
      setText($("detail-error"), job.error);
      show($("detail-error"), true);
    }
    var ended = job.status === "completed" || job.status === "failed" || job.status === "cancelled";
    show($("detail-cancel"), !ended);
    show($("detail-retry"), ended && job.status !== "cancelled" && job.categoriesFailed > 0);

    var categories = $("detail-categories").querySelector("tbody");
    categories.textContent = "";
    job.categories.forEach(function (category) {
      categories.appendChild(el("tr", { data: { category: category.key } }, [
        el("td", { text: category.title }),
        el("td", { text: category.status }),
        el("td", { text: String(category.attempts) }),
        el("td", { text: took(category) }),
        el("td", { text: String(category.tokens.total) }),
        el("td", { className: "admin-error-text", text: category.error || "" })
      ]));
    });
    var attempts = $("detail-attempts").querySelector("tbody");
    attempts.textContent = "";
    job.attempts.forEach(function (attempt) {
      attempts.appendChild(el("tr", {}, [
        el("td", { text: VQ.formatDateTime(attempt.endedAt) }),
        el("td", { text: attempt.category === "assembly" ? "Assembly" : VQ.categoryTitle(attempt.category) }),
        el("td", { text: String(attempt.attempt) }),
        el("td", { text: attempt.outcome }),
        el("td", { text: seconds(attempt.latencyMs / 1000) }),
        el("td", { text: String(attempt.tokens.total) }),
        el("td", { className: "admin-error-text", text: attempt.error || "" })
      ]));
    });
    show($("attempts-empty"), job.attempts.length === 0);
  }

  function act(action, doing, done) {
    if (!selected) return;
    var jobId = selected;
    setText($("detail-status"), doing);
    action(jobId).then(function () {
      setText($("detail-status"), done);
      loadDetail(jobId);
      loadJobs(false);
      loadFigures();
    }, function (error) { setText($("detail-status"), ""); fail(error, $("detail-error")); });
  }

  function init() {
    $("sign-in").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = $("admin-token").value.trim();
      if (!token) return;
      show($("admin-error"), false);
      signIn(token);
    });
    $("sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      loadJobs(false);
    });
    $("more").addEventListener("click", function () { loadJobs(true); });
    $("detail-cancel").addEventListener("click", function () {
      act(function (id) { return admin.cancel(id); }, "Cancelling…", "Cancelled.");
    });
    $("detail-retry").addEventListener("click", function () {
      act(function (id) { return admin.retry(id); }, "Starting the retry…", "The failed categories are being written again.");
    });
    var kept = VQ.session.get(TOKEN_KEY);
    if (kept) signIn(kept); else signOut();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
