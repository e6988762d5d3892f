/*
 * Vision Queue: the behaviour of the four pages (app.js, loaded after api.js).
 * Each page's <body data-page="..."> picks its init function below. Sign-in, requests and the
 * DOM helpers live in api.js; read its header for how the token is found.
 */
(function () {
  "use strict";

  var VQ = window.VQ;
  var $ = VQ.$;
  var el = VQ.el;
  var setText = VQ.setText;
  var show = VQ.show;

  var DRAFT_KEY = "visionQueue.draft";
  var NOTICE_KEY = "visionQueue.notice";
  var ACTIVE_STATUSES = { pending: true, processing: true };

  // =============================================================================================
  // index.html: the notes form

  function initIndex() {
    var form = $("vision-form");
    var button = $("generate");
    var clearButton = $("clear-notes");
    var fields = Array.prototype.slice.call(form.querySelectorAll("textarea[data-key]"));
    var saveTimer = null;
    var draftsEnabled = true;
    var busy = false;
    var waitUntil = 0;

    restoreDraft();
    fields.forEach(updateCounter);
    updateFilledCount();

    form.addEventListener("input", function (event) {
      if (event.target && event.target.tagName === "TEXTAREA") {
        updateCounter(event.target);
        updateFilledCount();
        scheduleSave();
      }
    });
    window.addEventListener("pagehide", saveNow);
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) saveNow(); else checkActiveJob();
    });
    form.addEventListener("submit", onSubmit);
    clearButton.addEventListener("click", onClear);
    checkActiveJob();

    function readDraft() {
      var raw = VQ.storage.get(DRAFT_KEY);
      if (!raw) return null;
      try {
        var parsed = JSON.parse(raw);
        return parsed && typeof parsed.answers === "object" && parsed.answers ? parsed.answers : null;
      } catch (e) {
        return null;
      }
    }

    function restoreDraft() {
      var answers = readDraft();
      if (!answers) return;
      fields.forEach(function (field) {
        var value = answers[field.dataset.key];
        // Do not overwrite what the browser itself restored (back/forward navigation).
        if (typeof value === "string" && field.value === "") field.value = value;
      });
    }

    function collect() {
      var answers = {};
      fields.forEach(function (field) {
        var value = field.value;
        if (value.trim() !== "") answers[field.dataset.key] = value;
      });
      return answers;
    }

    function scheduleSave() {
      if (saveTimer) clearTimeout(saveTimer);
      saveTimer = setTimeout(saveNow, 400);
    }

    function saveNow() {
      if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
      if (!draftsEnabled) return;
      var answers = collect();
      if (Object.keys(answers).length === 0) {
        VQ.storage.remove(DRAFT_KEY);
      } else {
        VQ.storage.set(DRAFT_KEY, JSON.stringify({ answers: answers, savedAt: new Date().toISOString() }));
      }
    }

    function clearDraft() {
      draftsEnabled = false;
      if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
      VQ.storage.remove(DRAFT_KEY);
    }

    function updateCounter(field) {
      var counter = $("count-" + field.dataset.key);
      if (!counter) return;
      var max = parseInt(field.getAttribute("maxlength"), 10) || 4000;
      var length = field.value.length;
      if (length >= max * 0.8) {
        setText(counter, length + " of " + max + " characters used");
        counter.classList.toggle("is-full", length >= max);
        show(counter, true);
      } else {
        setText(counter, "");
        show(counter, false);
      }
    }

    function updateFilledCount() {
      var filled = fields.filter(function (field) { return field.value.trim() !== ""; }).length;
      setText($("filled-count"), filled === 0
        ? "No areas filled in yet \u2014 that is fine too."
        : filled + " of " + fields.length + " areas have notes.");
    }

    function setBusy(value) {
      busy = value;
      button.disabled = value || Date.now() < waitUntil;
      button.setAttribute("aria-disabled", button.disabled ? "true" : "false");
      form.setAttribute("aria-busy", value ? "true" : "false");
    }

    function showFormError(message) {
      var box = $("form-error");
      box.textContent = "";
      if (message) box.appendChild(el("p", { text: message }));
      show(box, !!message);
    }

    function onClear() {
      if (Object.keys(collect()).length === 0) {
        fields[0].focus();
        return;
      }
      if (!window.confirm("Clear all your notes? This cannot be undone.")) return;
      fields.forEach(function (field) { field.value = ""; updateCounter(field); });
      VQ.storage.remove(DRAFT_KEY);
      updateFilledCount();
      setText($("form-status"), "Your notes were cleared.");
      fields[0].focus();
    }

    function onSubmit(event) {
      event.preventDefault();
      if (busy || Date.now() < waitUntil) return;
      saveNow();
      var answers = {};
      var raw = collect();
      Object.keys(raw).forEach(function (key) {
        // The API refuses control characters other than tab and newlines; drop them quietly.
        var cleaned = raw[key].replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, "");
        if (cleaned.trim() !== "") answers[key] = cleaned;
      });

      showFormError("");
      setBusy(true);
      setText(button, "Starting\u2026");
      setText($("form-status"), "Starting your vision\u2026");

      VQ.api.createJob(answers).then(function (result) {
        var data = result.data;
        if (!data || typeof data.jobId !== "string" || data.jobId === "") {
          throw new VQ.ApiError("network", 0, "bad_response", "The server did not return a job id.", null);
        }
        if (data.existing === true) {
          // Nothing new was started: keep the notes, and tell the job page why we are there.
          VQ.session.set(NOTICE_KEY, JSON.stringify({
            jobId: data.jobId,
            text: "You already had a vision being written, so no new one was started. Your notes are still saved on the start page."
          }));
        } else {
          clearDraft();
        }
        setText($("form-status"), "Opening its progress page\u2026");
        window.location.assign("job.html?jobId=" + encodeURIComponent(data.jobId));
      }).catch(function (error) {
        setText(button, "Generate Vision");
        setText($("form-status"), "");
        if (error.status === 401) {
          setBusy(false);
          VQ.showAuthError(error);
          $("auth-error").scrollIntoView({ block: "center" });
          return;
        }
        var message = error.message;
        if (error.status === 429) {
          var seconds = error.retryAfter || 0;
          if (seconds > 0) {
            message = message + " Please wait " + seconds + (seconds === 1 ? " second" : " seconds") + " before trying again.";
            waitUntil = Date.now() + seconds * 1000;
            setTimeout(function () { waitUntil = 0; setBusy(busy); }, seconds * 1000 + 50);
          }
        } else if (error.status === 413) {
          message = message + " Please shorten some of your notes.";
        } else if (!error.kind || error.kind !== "http") {
          message = message + " Check your connection and try again; your notes are kept.";
        }
        setBusy(false);
        showFormError(message);
      });
    }

    function checkActiveJob() {
      VQ.api.listJobs().then(function (result) {
        var jobs = Array.isArray(result.data.jobs) ? result.data.jobs : [];
        var active = null;
        for (var i = 0; i < jobs.length; i++) {
          if (jobs[i] && ACTIVE_STATUSES[jobs[i].status]) { active = jobs[i]; break; }
        }
        var notice = $("active-job-notice");
        if (active) {
          $("active-job").setAttribute("href", "job.html?jobId=" + encodeURIComponent(active.jobId));
          var done = (active.categoriesCompleted || 0) + (active.categoriesFailed || 0);
          setText($("active-job-progress"), active.status === "pending"
            ? "It is about to start."
            : done + " of " + (active.totalCategories || 12) + " areas are written so far.");
        }
        show(notice, !!active);
        button.classList.toggle("button-secondary", !!active);
        button.classList.toggle("button-primary", !active);
      }, function (error) {
        if (error.status === 401) VQ.showAuthError(error);
      });
    }
  }

  // =============================================================================================
  // job.html: live progress

  var STATE_WORDS = { pending: "waiting", running: "writing", done: "done", failed: "failed" };

  function categoryStateText(category, maxAttempts) {
    if (category.status === "retrying") {
      var next = (Number(category.attempts) || 0) + 1;
      return "retrying (attempt " + next + " of " + (maxAttempts || 3) + ")";
    }
    return STATE_WORDS[category.status] || String(category.status || "");
  }

  function initJob() {
    var jobId = VQ.param("jobId");
    if (!jobId || !VQ.isUuid(jobId)) {
      show($("job-missing"), true);
      return;
    }

    var VISIBLE_INTERVAL = 5000;
    var HIDDEN_INTERVAL = 30000;
    var timer = null;
    var inFlight = false;
    var stopped = false;
    var last = null;          // the last status answer
    var clockOffset = 0;      // server clock minus this device's clock
    var estimate = null;      // {ms, at, average}: time left as of `at` (device clock)
    var rows = {};            // category key -> {item, state, detail, live}
    var retryWait = null;     // {title, at}: the area waiting for its next try, when nothing is written
    var modelWait = null;     // {key, at}: the area being written waits for the model (Retry-After)
    var typicalMs = null;     // how long an area usually takes, for the estimate and "slow"

    show($("job-panel"), true);
    $("share-link").value = window.location.href;
    showNotice();

    $("copy-link").addEventListener("click", function () {
      VQ.copyText(window.location.href).then(function () {
        setText($("copy-link-status"), "Link copied.");
      }, function () {
        $("share-link").select();
        setText($("copy-link-status"), "Copying is not available here; the link is selected so you can copy it.");
      });
    });
    $("share-link").addEventListener("focus", function () { this.select(); });
    $("cancel").addEventListener("click", onCancel);
    $("retry").addEventListener("click", onRetry);
    document.addEventListener("visibilitychange", function () {
      if (stopped) return;
      if (!document.hidden) poll(); else schedule();
    });
    setInterval(tick, 1000);
    poll();

    function showNotice() {
      var raw = VQ.session.take(NOTICE_KEY);
      if (!raw) return;
      try {
        var notice = JSON.parse(raw);
        if (notice && notice.jobId === jobId && typeof notice.text === "string") {
          setText($("job-notice"), notice.text);
          show($("job-notice"), true);
        }
      } catch (e) { /* ignore */ }
    }

    function schedule(delay) {
      if (timer) clearTimeout(timer);
      timer = null;
      if (stopped) return;
      var wait = delay !== undefined ? delay : (document.hidden ? HIDDEN_INTERVAL : VISIBLE_INTERVAL);
      timer = setTimeout(poll, wait);
    }

    function stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    }

    function resume() {
      stopped = false;
      poll();
    }

    function setConnection(ok) {
      // Text is set as it is shown, so screen readers announce it (a live region only speaks
      // when its content changes).
      var node = $("connection");
      if (ok) {
        show(node, false);
        setText(node, "");
      } else {
        setText(node, "Connection lost \u2014 reconnecting\u2026");
        show(node, true);
      }
    }

    function poll() {
      if (stopped || inFlight) return;
      if (timer) { clearTimeout(timer); timer = null; }
      inFlight = true;
      var nextDelay;
      VQ.api.jobStatus(jobId).then(function (result) {
        setConnection(true);
        if (result.serverTime !== null) clockOffset = result.serverTime - Date.now();
        render(result.data);
      }, function (error) {
        if (error.kind === "http" && error.status === 404) {
          stop();
          show($("job-panel"), false);
          show($("not-found"), true);
          document.title = "Not found - Vision";
        } else if (error.kind === "http" && error.status === 401) {
          stop();
          setConnection(true);
          VQ.showAuthError(error);
          setText($("job-status"), "Sign-in needed to see this job.");
        } else if (error.isTransient()) {
          // Keep the last state on screen and keep trying.
          setConnection(false);
          if (error.status === 429 && error.retryAfter) nextDelay = Math.max(VISIBLE_INTERVAL, error.retryAfter * 1000);
        } else {
          stop();
          showActionError(error.message);
        }
      }).then(function () {
        inFlight = false;
        if (!stopped) schedule(nextDelay);
      });
    }

    function showActionError(message) {
      var box = $("action-error");
      box.textContent = "";
      if (message) box.appendChild(el("p", { text: message }));
      show(box, !!message);
    }

    function render(job) {
      last = job;
      var categories = Array.isArray(job.categories) ? job.categories : [];
      var total = Number(job.totalCategories) || categories.length || 12;
      var written = Number(job.categoriesCompleted) || 0;
      var failed = Number(job.categoriesFailed) || 0;
      var finished = written + failed;
      var percent = typeof job.progress === "number" ? job.progress : Math.floor(finished * 100 / total);
      if (job.status === "completed") percent = 100;

      var bar = $("progress");
      if (bar.dataset.status !== job.status) bar.dataset.status = job.status;
      bar.max = total;
      bar.value = Math.min(finished, total);
      if (failed > 0) {
        // Areas given up on count as finished for the bar, but are never called written.
        bar.setAttribute("aria-valuetext", written + " of " + total + " areas written, " + failed + " failed");
        setText($("progress-text"), written + " of " + total + " written \u00b7 " + failed + " failed");
      } else {
        bar.setAttribute("aria-valuetext", finished + " of " + total + " areas written, " + percent + " percent");
        setText($("progress-text"), finished + " of " + total + " \u00b7 " + percent + "%");
      }
      if (job.status === "failed") document.title = "Failed - Vision";
      else if (job.status === "cancelled") document.title = "Cancelled - Vision";
      else document.title = finished + "/" + total + " - Vision";

      typicalMs = typeof job.typicalCategorySeconds === "number" ? job.typicalCategorySeconds * 1000 : null;
      renderCategories(categories, job.maxAttempts);
      renderUsage(job);
      var active = activeCategory(job, categories);
      renderCurrent(job, active, finished, total);
      updateEstimate(job, categories, total - finished);
      tick();

      var status = job.status;
      show($("cancel"), !!ACTIVE_STATUSES[status]);
      show($("close-hint"), !!ACTIVE_STATUSES[status]);
      show($("retry"), status === "failed");
      show($("job-failed"), status === "failed");
      show($("job-cancelled"), status === "cancelled");
      if (status === "failed") setText($("job-error"), job.error || "Every category failed.");

      var heading = $("job-heading");
      if (status === "completed") {
        stop();
        setText(heading, "Your vision is ready");
        if (typeof job.visionId === "string" && job.visionId !== "") {
          setText($("job-status"), "Done! Opening your vision\u2026");
          window.location.replace("vision.html?id=" + encodeURIComponent(job.visionId));
        } else {
          setText($("job-status"), "Done, but the finished document could not be found. See My visions.");
        }
      } else if (status === "failed") {
        stop();
        setText(heading, "Your vision could not be finished");
        setText($("job-status"), "Failed: " + (job.error || "every category failed."));
      } else if (status === "cancelled") {
        stop();
        setText(heading, "Vision cancelled");
        setText($("job-status"), "Cancelled");
      } else {
        setText(heading, "Writing your vision");
        setText($("job-status"), statusSentence(job, active, finished, total));
      }
    }

    function statusSentence(job, active, finished, total) {
      if (job.status === "pending") return "Waiting to start\u2026";
      if (active) {
        var title = active.title || VQ.categoryTitle(active.key);
        var verb = active.status === "retrying" ? "Waiting to retry " : "Writing ";
        return verb + title + " \u2014 " + finished + " of " + total + " done.";
      }
      if (finished >= total) return "Putting your document together\u2026";
      return "Working \u2014 " + finished + " of " + total + " done.";
    }

    function findCategory(categories, key) {
      if (!key) return null;
      for (var i = 0; i < categories.length; i++) {
        if (categories[i].key === key) return categories[i];
      }
      return null;
    }

    /**
     * The area being worked on: the one being written, else one waiting for its retry. The
     * server's currentCategory is the area claimed last, which may be done already while
     * another area waits for its next try, so the per-area states decide.
     */
    function activeCategory(job, categories) {
      if (!ACTIVE_STATUSES[job.status]) return null;
      var current = findCategory(categories, job.currentCategory);
      if (current && current.status === "running") return current;
      var firstRetrying = null;
      for (var i = 0; i < categories.length; i++) {
        if (categories[i].status === "running") return categories[i];
        if (!firstRetrying && categories[i].status === "retrying") firstRetrying = categories[i];
      }
      if (current && current.status === "retrying") return current;
      return firstRetrying;
    }

    function renderCurrent(job, active, finished, total) {
      var node = $("current-category");
      retryWait = null;
      setText($("current-label"), !ACTIVE_STATUSES[job.status] ? "State"
        : active && active.status === "retrying" ? "Waiting to retry" : "Now writing");
      if (active) {
        node.dataset.key = active.key;
        var title = active.title || VQ.categoryTitle(active.key);
        if (active.status === "retrying") {
          retryWait = { title: title, at: VQ.parseTime(active.nextAttemptAt) };
          setText(node, retryText());
        } else {
          setText(node, title);
        }
        return;
      }
      delete node.dataset.key;
      var text;
      if (job.status === "pending") text = "Not started yet";
      else if (job.status === "processing") text = finished >= total ? "Assembling the document" : "Between areas";
      else if (job.status === "completed") text = "Finished";
      else if (job.status === "failed") text = "Stopped";
      else if (job.status === "cancelled") text = "Cancelled";
      else text = "\u2014";
      setText(node, text);
    }

    /** Milliseconds until the waiting area's next try (0 when due), or null. */
    function retryWaitMs() {
      if (!retryWait || retryWait.at === null) return null;
      return Math.max(0, retryWait.at - (Date.now() + clockOffset));
    }

    /** "Health, in 12 s": counted down by tick(). */
    function retryText() {
      if (!retryWait) return "";
      var ms = retryWaitMs();
      if (ms === null) return retryWait.title + ", soon";
      return retryWait.title + (ms > 1000 ? ", in " + VQ.formatDuration(ms).replace(/ /g, "\u00a0") : ", now");
    }

    function renderCategories(categories, maxAttempts) {
      var list = $("categories");
      categories.forEach(function (category, index) {
        var row = rows[category.key];
        if (!row) {
          var number = el("span", { className: "category-number", text: String(index + 1), attrs: { "aria-hidden": "true" } });
          var name = el("span", { className: "category-name", text: category.title || VQ.categoryTitle(category.key) });
          var state = el("span", { className: "category-state" });
          var detail = el("span", { className: "category-detail" });
          var item = el("li", { className: "category", data: { key: category.key } },
            [number, el("span", { className: "category-main" }, [name, detail]), state]);
          list.appendChild(item);
          row = rows[category.key] = { item: item, state: state, detail: detail };
        }
        if (row.item.dataset.state !== category.status) row.item.dataset.state = category.status;
        setText(row.state, categoryStateText(category, maxAttempts));
        if (category.status === "running") row.item.setAttribute("aria-current", "step");
        else row.item.removeAttribute("aria-current");

        if (category.status === "running" && category.waitingUntil) {
          modelWait = { key: category.key, at: VQ.parseTime(category.waitingUntil) };
        } else if (modelWait && modelWait.key === category.key) {
          modelWait = null;
        }
        row.category = category;
        setText(row.detail, categoryDetail(category));
        show(row.detail, row.detail.textContent !== "");

        // The section as the model writes it, shown as text (never as HTML) while it runs.
        var live = category.status === "running" && typeof category.partialText === "string" ? category.partialText : "";
        if (live && !row.live) {
          row.live = el("p", { className: "category-live", attrs: { "aria-label": "Written so far" } });
          row.item.querySelector(".category-main").appendChild(row.live);
        }
        if (row.live) {
          setText(row.live, live ? live + " \u2026" : "");
          show(row.live, live !== "");
        }
      });
    }

    /** The line under an area's name: why it failed, its wait for the model, that it was cut or is slow. */
    function categoryDetail(category) {
      var now = Date.now() + clockOffset;
      if (category.status === "retrying" || category.status === "failed") return category.error ? String(category.error) : "";
      if (category.status === "running") {
        var waitAt = VQ.parseTime(category.waitingUntil);
        if (waitAt !== null) {
          var ms = Math.max(0, waitAt - now);
          return "Waiting for the model, retrying " + (ms > 1000 ? "in " + VQ.formatDuration(ms) : "now");
        }
        var started = VQ.parseTime(category.startedAt);
        if (started !== null && typicalMs !== null && now - started > Math.max(30000, 3 * typicalMs)) {
          return "Taking longer than usual (" + VQ.formatDuration(now - started) + ", usually " + VQ.formatDuration(typicalMs) + ")";
        }
        return "";
      }
      if (category.status === "done" && category.truncated) return "Cut short at the length limit";
      return "";
    }

    /** "12,431 tokens · about $0.0031": what the model calls cost so far; hidden for the built-in writer. */
    function renderUsage(job) {
      var total = job.tokens && typeof job.tokens.total === "number" ? job.tokens.total : 0;
      show($("usage-stat"), total > 0);
      if (total <= 0) return;
      var text = total.toLocaleString("en-US") + " tokens";
      if (typeof job.estimatedCost === "number") {
        text += " \u00b7 about $" + (job.estimatedCost < 0.01 ? job.estimatedCost.toFixed(4) : job.estimatedCost.toFixed(2));
      }
      setText($("usage"), text);
    }

    function updateEstimate(job, categories, left) {
      if (!ACTIVE_STATUSES[job.status]) { estimate = null; return; }
      var durations = [];
      categories.forEach(function (category) {
        if (category.status !== "done") return;
        var start = VQ.parseTime(category.startedAt);
        var end = VQ.parseTime(category.completedAt);
        if (start !== null && end !== null && end >= start) durations.push(end - start);
      });
      if (left <= 0 || (durations.length === 0 && typicalMs === null)) { estimate = null; return; }
      // This job's own areas when it has written some, else the service's recent typical time.
      var average = durations.length > 0
        ? durations.reduce(function (a, b) { return a + b; }, 0) / durations.length : typicalMs;
      estimate = { ms: average * left, at: Date.now(), average: average };
    }

    /** Runs every second: the elapsed clock and the count-down between polls. */
    function tick() {
      if (!last) return;
      var start = VQ.parseTime(last.startedAt) || VQ.parseTime(last.createdAt);
      var end = VQ.parseTime(last.completedAt);
      var final = !ACTIVE_STATUSES[last.status];
      if (final && end === null) end = VQ.parseTime(last.updatedAt);
      var now = Date.now() + clockOffset;
      setText($("elapsed"), start === null ? "\u2014" : VQ.formatDuration((final && end !== null ? end : now) - start));

      var remaining;
      if (last.status === "completed") remaining = "None";
      else if (final) remaining = "\u2014";
      else if (last.status === "pending" && !estimate) remaining = "Starting soon";
      else if (!estimate) remaining = "Estimating\u2026";
      else {
        var ms = estimate.ms - (Date.now() - estimate.at);
        var wait = retryWaitMs();
        // An area waiting for its next try holds the job up at least that long.
        if (wait !== null) ms = Math.max(ms, wait + estimate.average);
        remaining = ms > 0 ? VQ.formatEstimate(ms) : "Almost done";
        remaining = remaining.charAt(0).toUpperCase() + remaining.slice(1);
      }
      setText($("remaining"), remaining);
      if (retryWait) setText($("current-category"), retryText());
      // Count down a wait for the model, and notice an area running long, between polls.
      Object.keys(rows).forEach(function (key) {
        var row = rows[key];
        if (row.category && row.category.status === "running") {
          setText(row.detail, categoryDetail(row.category));
          show(row.detail, row.detail.textContent !== "");
        }
      });
    }

    function onCancel() {
      if (!window.confirm("Cancel this vision? The areas not written yet will not be written.")) return;
      var button = $("cancel");
      button.disabled = true;
      showActionError("");
      VQ.api.cancelJob(jobId).then(function () {
        button.disabled = false;
        show(button, false);
        $("job-heading").focus();
        resume();
      }, function (error) {
        button.disabled = false;
        if (error.status === 401) VQ.showAuthError(error);
        else {
          showActionError("Could not cancel: " + error.message);
          if (error.status === 409) resume(); // it ended meanwhile: show how
        }
      });
    }

    function onRetry() {
      var button = $("retry");
      button.disabled = true;
      setText(button, "Retrying\u2026");
      showActionError("");
      VQ.api.retryJob(jobId).then(function () {
        button.disabled = false;
        setText(button, "Retry failed categories");
        show($("job-failed"), false);
        show(button, false);
        setText($("job-status"), "Retrying the failed areas\u2026");
        $("job-heading").focus();
        resume();
      }, function (error) {
        button.disabled = false;
        setText(button, "Retry failed categories");
        if (error.status === 401) VQ.showAuthError(error);
        else {
          showActionError("Could not retry: " + error.message);
          if (error.status === 409) resume();
        }
      });
    }
  }

  // =============================================================================================
  // vision.html: the finished document

  /** Plain text from the Markdown document: heading hashes and _emphasis_ underscores removed. */
  function markdownToText(markdown) {
    return String(markdown)
      .split("\n")
      .map(function (line) {
        return line
          .replace(/^\s{0,3}#{1,6}\s+/, "")
          .replace(/(^|[\s(])_(?=\S)([^_\n]*?\S)_(?=$|[\s).,;:!?])/g, "$1$2");
      })
      .join("\n");
  }

  function initVision() {
    var id = VQ.param("id");
    var errorBox = $("vision-error");
    function fail(message) {
      show($("vision-loading"), false);
      errorBox.textContent = "";
      errorBox.appendChild(el("p", { text: message }));
      show(errorBox, true);
    }
    if (!id || !VQ.isUuid(id)) {
      fail("This link has no valid vision id. Open one of your visions from My visions.");
      return;
    }

    var markdown = "";
    var title = "My Life Vision";

    $("copy").addEventListener("click", function () {
      VQ.copyText(markdown).then(function () {
        setText($("vision-status"), "Copied the Markdown to the clipboard.");
      }, function () {
        setText($("vision-status"), "Copying is not available in this browser; use Download instead.");
      });
    });
    $("download-md").addEventListener("click", function () {
      VQ.download("vision.md", markdown, "text/markdown");
      setText($("vision-status"), "Downloading vision.md");
    });
    $("download-txt").addEventListener("click", function () {
      VQ.download("vision.txt", markdownToText(markdown), "text/plain");
      setText($("vision-status"), "Downloading vision.txt");
    });
    $("print").addEventListener("click", function () { window.print(); });

    var version = VQ.param("version");
    if (version !== null && !/^[1-9][0-9]{0,8}$/.test(version)) version = null;
    VQ.api.vision(id, version).then(function (result) {
      var vision = result.data;
      show($("vision-loading"), false);
      title = typeof vision.title === "string" && vision.title ? vision.title : title;
      markdown = typeof vision.document === "string" ? vision.document : "";
      setText($("vision-title"), title);
      document.title = title + " \u00b7 Vision Queue";
      var created = VQ.formatDateTime(vision.createdAt);
      setText($("vision-meta"), created ? "Written " + created : "");
      var sections = Array.isArray(vision.sections) ? vision.sections : [];
      var latest = renderVersions(vision);
      renderSections(sections, latest ? vision.jobId : null);
      if (latest) offerRetry(vision, sections);
      show($("vision"), true);
    }, function (error) {
      if (error.status === 401) {
        show($("vision-loading"), false);
        VQ.showAuthError(error);
      } else if (error.status === 404) {
        fail("This vision does not exist or belongs to another account.");
      } else if (error.kind !== "http") {
        fail(error.message + " Check your connection and reload the page.");
      } else {
        fail(error.message);
      }
    });
  }

  /** Sections that could not be written can be retried: that reopens the job's progress page. */
  function offerRetry(vision, sections) {
    var missing = sections.filter(function (section) {
      return typeof section.text !== "string" || section.text.trim() === "";
    }).length;
    if (missing === 0 || typeof vision.jobId !== "string" || vision.jobId === "") return;
    setText($("missing-text"), missing === 1
      ? "One section could not be written. You can ask for it to be written again."
      : missing + " sections could not be written. You can ask for them to be written again.");
    show($("missing-note"), true);
    var button = $("retry-missing");
    button.addEventListener("click", function () {
      button.disabled = true;
      show($("missing-error"), false);
      VQ.api.retryJob(vision.jobId).then(function () {
        window.location.assign("job.html?jobId=" + encodeURIComponent(vision.jobId));
      }, function (error) {
        button.disabled = false;
        if (error.status === 401) { VQ.showAuthError(error); return; }
        setText($("missing-error"), "Could not retry: " + error.message);
        show($("missing-error"), true);
      });
    });
  }

  /**
   * "Versions: 1 2 3" linking each earlier version; answers whether this is the latest (only the
   * latest can be rewritten or retried).
   */
  function renderVersions(vision) {
    var versions = Array.isArray(vision.versions) ? vision.versions : [];
    var latest = versions.length ? versions[versions.length - 1].version : vision.version;
    var list = $("version-list");
    list.textContent = "";
    versions.forEach(function (entry) {
      var label = "Version " + entry.version;
      var when = VQ.formatDateTime(entry.createdAt);
      var item;
      if (entry.version === vision.version) {
        item = el("span", { className: "version-current", text: String(entry.version), attrs: { "aria-current": "page", title: label + (when ? ", " + when : "") } });
      } else {
        var href = "vision.html?id=" + encodeURIComponent(vision.visionId) + (entry.version === latest ? "" : "&version=" + entry.version);
        item = el("a", { text: String(entry.version), attrs: { href: href, title: label + (when ? ", " + when : ""), "aria-label": label } });
      }
      list.appendChild(el("li", {}, [item]));
    });
    show($("versions"), versions.length > 1);
    var isLatest = vision.version === latest;
    if (!isLatest) $("latest-link").href = "vision.html?id=" + encodeURIComponent(vision.visionId);
    show($("old-version"), !isLatest);
    return isLatest;
  }

  /**
   * "Rewrite this section": asks for new notes (optional) and sends the section back through the
   * queue; the page then follows the job until the new version is ready.
   */
  function rewriteForm(jobId, section) {
    var key = String(section.key);
    var title = section.title || VQ.categoryTitle(key);
    var open = el("button", { className: "button button-quiet rewrite-open no-print", text: "Rewrite this section",
      attrs: { type: "button", "aria-expanded": "false", "aria-controls": "rewrite-" + key } });
    var notes = el("textarea", { className: "rewrite-notes", attrs: { id: "rewrite-notes-" + key, rows: "3", maxlength: "4000",
      placeholder: "Leave empty to keep your notes for " + title } });
    var submit = el("button", { className: "button button-primary", text: "Rewrite " + title, attrs: { type: "submit" } });
    var error = el("p", { className: "job-error", attrs: { role: "alert" } });
    var form = el("form", { className: "rewrite-form no-print", attrs: { id: "rewrite-" + key } }, [
      el("label", { text: "New notes for " + title + " (optional)", attrs: { for: "rewrite-notes-" + key } }), notes,
      el("div", { className: "button-row" }, [submit]), error
    ]);
    show(form, false);
    show(error, false);
    open.addEventListener("click", function () {
      var opening = form.hidden;
      show(form, opening);
      open.setAttribute("aria-expanded", opening ? "true" : "false");
      if (opening) notes.focus();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      show(error, false);
      var text = notes.value.trim();
      VQ.api.regenerate(jobId, key, text === "" ? undefined : text).then(function () {
        window.location.assign("job.html?jobId=" + encodeURIComponent(jobId));
      }, function (failure) {
        submit.disabled = false;
        if (failure.status === 401) { VQ.showAuthError(failure); return; }
        setText(error, "Could not rewrite: " + failure.message);
        show(error, true);
      });
    });
    return [open, form];
  }

  function renderSections(sections, rewritableJobId) {
    var container = $("sections");
    container.textContent = "";
    sections.forEach(function (section) {
      var headingId = "section-" + String(section.key).replace(/[^a-z0-9_-]/gi, "");
      var node = el("section", {
        className: "vision-section",
        data: { key: section.key },
        attrs: { "aria-labelledby": headingId }
      }, [el("h2", { text: section.title || VQ.categoryTitle(section.key), attrs: { id: headingId } })]);
      if (typeof section.text === "string" && section.text.trim() !== "") {
        section.text.split(/\n\s*\n/).forEach(function (paragraph) {
          if (paragraph.trim() !== "") node.appendChild(el("p", { text: paragraph.trim() }));
        });
      } else {
        node.classList.add("is-missing");
        node.dataset.missing = "true";
        node.appendChild(el("p", { className: "muted", text: "This section could not be written." }));
      }
      if (rewritableJobId) rewriteForm(rewritableJobId, section).forEach(function (part) { node.appendChild(part); });
      container.appendChild(node);
    });
  }

  // =============================================================================================
  // visions.html: every job of this user

  var JOB_STATUS_WORDS = {
    pending: "Waiting to start",
    processing: "Writing",
    completed: "Completed",
    failed: "Failed",
    cancelled: "Cancelled"
  };

  function initVisions() {
    var refreshTimer = null;
    load();
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && refreshTimer) load();
    });

    function load() {
      if (refreshTimer) { clearTimeout(refreshTimer); refreshTimer = null; }
      VQ.api.listJobs().then(function (result) {
        show($("list-error"), false);
        var jobs = Array.isArray(result.data.jobs) ? result.data.jobs : [];
        render(jobs);
        var anyActive = jobs.some(function (job) { return job && ACTIVE_STATUSES[job.status]; });
        if (anyActive) refreshTimer = setTimeout(load, document.hidden ? 30000 : 10000);
      }, function (error) {
        setText($("jobs-status"), "");
        if (error.status === 401) {
          VQ.showAuthError(error);
          return;
        }
        var box = $("list-error");
        box.textContent = "";
        box.appendChild(el("p", { text: "Could not load your visions: " + error.message }));
        show(box, true);
        if (error.isTransient()) refreshTimer = setTimeout(load, 15000);
      });
    }

    function render(jobs) {
      var list = $("jobs");
      list.textContent = "";
      show($("empty"), jobs.length === 0);
      setText($("jobs-status"), jobs.length === 0 ? "" :
        jobs.length === 1 ? "1 vision." : jobs.length + " visions.");
      jobs.forEach(function (job) {
        if (!job || typeof job.jobId !== "string") return;
        list.appendChild(jobItem(job));
      });
    }

    function jobItem(job) {
      var total = Number(job.totalCategories) || 12;
      var completed = Number(job.categoriesCompleted) || 0;
      var failed = Number(job.categoriesFailed) || 0;
      var finished = completed + failed;
      var isDone = job.status === "completed" && typeof job.visionId === "string" && job.visionId !== "";
      var href = isDone
        ? "vision.html?id=" + encodeURIComponent(job.visionId)
        : "job.html?jobId=" + encodeURIComponent(job.jobId);
      var created = VQ.formatDateTime(job.createdAt);

      var stateText = JOB_STATUS_WORDS[job.status] || String(job.status || "");
      if (job.status === "processing") {
        var current = job.currentCategory ? " " + VQ.categoryTitle(job.currentCategory) : "";
        stateText = "Writing" + current;
      }

      var link = el("a", { className: "job-link", attrs: { href: href } }, [
        isDone ? "Life vision" : (ACTIVE_STATUSES[job.status] ? "Vision in progress" : "Unfinished vision"),
        el("span", { className: "visually-hidden", text: created ? ", started " + created : "" })
      ]);
      var time = el("time", { className: "job-time", text: created || "Unknown date",
        attrs: { datetime: job.createdAt || null, "aria-hidden": "true" } });
      var badge = el("span", { className: "badge", data: { status: job.status }, text: stateText });

      var bar = el("progress", {
        className: "progress progress-small",
        data: { status: job.status },
        attrs: {
          max: String(total),
          value: String(Math.min(finished, total)),
          "aria-label": "Progress",
          "aria-valuetext": finished + " of " + total + " areas"
        }
      });
      var progressText = failed > 0
        ? completed + " of " + total + " written, " + failed + " failed"
        : finished + " of " + total + " areas";

      var action = el("span", { className: "job-action", attrs: { "aria-hidden": "true" },
        text: isDone ? "Read \u2192" : (ACTIVE_STATUSES[job.status] ? "Follow \u2192" : "Details \u2192") });

      return el("li", { className: "job", data: { jobId: job.jobId, status: job.status } }, [
        el("div", { className: "job-top" }, [
          el("div", { className: "job-heading" }, [link, time]),
          badge
        ]),
        el("div", { className: "job-progress" }, [bar, el("span", { className: "job-progress-text", text: progressText })]),
        action
      ]);
    }
  }

  // =============================================================================================

  var pages = { index: initIndex, job: initJob, vision: initVision, visions: initVisions };

  function start() {
    VQ.initDevBanner();
    var init = pages[document.body.dataset.page];
    if (init) init();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
