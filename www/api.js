/*
 * Vision Queue: shared browser code for the static pages (api.js, loaded before app.js).
 *
 * Signing in
 *   Every API call sends "Authorization: Bearer <token>" when a token is available, looked up
 *   afresh for each request:
 *     1. window.VisionQueue.token: an embedding app sets  window.VisionQueue = {token: "..."}
 *        from its own script, loaded before these files;
 *     2. otherwise the localStorage key "visionQueue.token".
 *   With neither, no Authorization header is sent; that works when the service runs in
 *   development mode, where every visitor is the same local user. The token is never put in a
 *   URL and never logged. When the API answers 401 the page explains that a sign-in token is
 *   needed and where it comes from.
 *
 * Safety
 *   The pages run under a strict Content-Security-Policy: no inline script, no inline style, no
 *   other origins. Text from the user or the server (notes, the written vision, error messages)
 *   is only ever inserted with textContent / createElement, never as HTML.
 *
 * API
 *   JSON in and out, camelCase. Errors are {"error": {"code": "...", "message": "..."}}; the
 *   message is what the user is shown. See app.js for the pages.
 */
(function () {
  "use strict";

  var TOKEN_STORAGE_KEY = "visionQueue.token";
  var REQUEST_TIMEOUT_MS = 20000;

  /** The twelve categories, in writing order (titles for places the API only gives a key). */
  var CATEGORIES = [
    { key: "fun", title: "Fun" },
    { key: "health", title: "Health" },
    { key: "travel", title: "Travel" },
    { key: "love", title: "Love" },
    { key: "family", title: "Family" },
    { key: "social", title: "Social" },
    { key: "home", title: "Home" },
    { key: "work", title: "Work" },
    { key: "money", title: "Money" },
    { key: "possessions", title: "Possessions" },
    { key: "giving", title: "Giving" },
    { key: "spirituality", title: "Spirituality" }
  ];

  // ---------------------------------------------------------------------------------------------
  // Storage that never throws (private modes and locked-down browsers may refuse it).

  var storage = {
    get: function (key) {
      try { return window.localStorage.getItem(key); } catch (e) { return null; }
    },
    set: function (key, value) {
      try { window.localStorage.setItem(key, value); return true; } catch (e) { return false; }
    },
    remove: function (key) {
      try { window.localStorage.removeItem(key); } catch (e) { /* nothing to do */ }
    }
  };

  var session = {
    get: function (key) {
      try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
    },
    set: function (key, value) {
      try { window.sessionStorage.setItem(key, value); } catch (e) { /* optional */ }
    },
    take: function (key) {
      var value = session.get(key);
      try { window.sessionStorage.removeItem(key); } catch (e) { /* optional */ }
      return value;
    }
  };

  function getToken() {
    var embedded = window.VisionQueue && window.VisionQueue.token;
    if (typeof embedded === "string" && embedded.trim() !== "") return embedded.trim();
    var stored = storage.get(TOKEN_STORAGE_KEY);
    if (typeof stored === "string" && stored.trim() !== "") return stored.trim();
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  /**
   * An API call that did not succeed. kind is "http" (the server answered with an error status),
   * "network" (no answer, or the connection dropped) or "timeout". status is 0 unless kind is http.
   */
  function ApiError(kind, status, code, message, retryAfter) {
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.message = message;
    this.retryAfter = retryAfter; // seconds, or null
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  /** True for failures worth retrying silently: no answer, a timeout, 5xx, 408 and 429. */
  ApiError.prototype.isTransient = function () {
    return this.kind !== "http" || this.status >= 500 || this.status === 408 || this.status === 429;
  };

  function parseRetryAfter(value) {
    if (!value) return null;
    var trimmed = String(value).trim();
    if (/^\d+$/.test(trimmed)) return Math.max(1, parseInt(trimmed, 10));
    var date = Date.parse(trimmed);
    if (isNaN(date)) return null;
    return Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }

  function fallbackMessage(status) {
    if (status === 401) return "A sign-in token is needed.";
    if (status === 404) return "Not found.";
    if (status === 413) return "The notes are too long to send.";
    if (status === 429) return "Too many requests.";
    if (status >= 500) return "The server had a problem (HTTP " + status + "). Please try again in a moment.";
    return "The request failed (HTTP " + status + ").";
  }

  /**
   * Calls the API. Resolves to {status, data, serverTime} for a 2xx answer with a JSON body
   * (serverTime: the server's clock from the Date header, in epoch ms, or null); rejects with an
   * ApiError otherwise. `asToken` replaces the user's token (the operator's page sends its own).
   */
  function request(method, path, body, asToken) {
    var headers = { "Accept": "application/json" };
    var token = asToken || getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    var init = { method: method, headers: headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }

    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timedOut = false;
    var timer = null;
    if (controller) {
      init.signal = controller.signal;
      timer = setTimeout(function () { timedOut = true; controller.abort(); }, REQUEST_TIMEOUT_MS);
    }

    function failed() {
      return timedOut
        ? new ApiError("timeout", 0, "timeout", "The server took too long to answer.", null)
        : new ApiError("network", 0, "network", "Could not reach the server.", null);
    }

    return fetch(path, init)
      .then(function (response) {
        return response.text().then(function (text) {
          return { response: response, text: text };
        });
      }, function () { throw failed(); })
      .then(function (result) {
        if (timer) clearTimeout(timer);
        var response = result.response;
        var data = null;
        if (result.text) {
          try { data = JSON.parse(result.text); } catch (e) { data = null; }
        }
        if (!response.ok) {
          var info = data && typeof data.error === "object" && data.error ? data.error : {};
          var message = typeof info.message === "string" && info.message.trim() !== ""
            ? info.message : fallbackMessage(response.status);
          var code = typeof info.code === "string" ? info.code : "http_" + response.status;
          throw new ApiError("http", response.status, code, message,
            parseRetryAfter(response.headers.get("Retry-After")));
        }
        if (!data || typeof data !== "object") {
          throw new ApiError("network", 0, "bad_response", "The server sent an answer this page does not understand.", null);
        }
        var date = Date.parse(response.headers.get("Date") || "");
        return { status: response.status, data: data, serverTime: isNaN(date) ? null : date };
      }, function (error) {
        if (timer) clearTimeout(timer);
        throw error instanceof ApiError ? error : failed();
      });
  }

  var api = {
    get: function (path) { return request("GET", path); },
    post: function (path, body) { return request("POST", path, body === undefined ? {} : body); },
    me: function () { return request("GET", "/api/me"); },
    listJobs: function () { return request("GET", "/api/vision-jobs/list"); },
    jobStatus: function (jobId) {
      return request("GET", "/api/vision-jobs/status?jobId=" + encodeURIComponent(jobId));
    },
    createJob: function (answers) { return request("POST", "/api/vision-jobs/create", { answers: answers }); },
    retryJob: function (jobId) { return request("POST", "/api/vision-jobs/retry", { jobId: jobId }); },
    cancelJob: function (jobId) { return request("POST", "/api/vision-jobs/cancel", { jobId: jobId }); },
    regenerate: function (jobId, category, answer) {
      var body = { jobId: jobId, category: category };
      if (typeof answer === "string") body.answer = answer;
      return request("POST", "/api/vision-jobs/regenerate", body);
    },
    vision: function (id, version) {
      return request("GET", "/api/visions?id=" + encodeURIComponent(id) + (version ? "&version=" + encodeURIComponent(version) : ""));
    },
    /** The operator's endpoints, called with the admin token (VQ_ADMIN_TOKEN) instead of a user's. */
    admin: function (token) {
      return {
        overview: function () { return request("GET", "/api/admin/overview", undefined, token); },
        jobs: function (query) { return request("GET", "/api/admin/jobs" + (query ? "?" + query : ""), undefined, token); },
        job: function (jobId) { return request("GET", "/api/admin/job?jobId=" + encodeURIComponent(jobId), undefined, token); },
        cancel: function (jobId) { return request("POST", "/api/admin/cancel", { jobId: jobId }, token); },
        retry: function (jobId) { return request("POST", "/api/admin/retry", { jobId: jobId }, token); }
      };
    }
  };

  // ---------------------------------------------------------------------------------------------
  // DOM helpers: everything goes through textContent.

  function $(id) { return document.getElementById(id); }

  /**
   * Creates an element. props: className, text, attrs (plain attributes; never "style" or "on*"),
   * data (data-* attributes). children: nodes or strings (strings become text nodes).
   */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    props = props || {};
    if (props.className) node.className = props.className;
    if (props.text !== undefined && props.text !== null) node.textContent = String(props.text);
    if (props.attrs) {
      Object.keys(props.attrs).forEach(function (name) {
        if (name === "style" || /^on/i.test(name)) return;
        var value = props.attrs[name];
        if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
      });
    }
    if (props.data) {
      Object.keys(props.data).forEach(function (name) { node.dataset[name] = String(props.data[name]); });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  /** Sets an element's text only when it changes, so live regions announce real changes only. */
  function setText(node, text) {
    if (!node) return;
    text = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== text) node.textContent = text;
  }

  function show(node, visible) {
    if (!node) return;
    var hidden = !visible;
    if (node.hidden !== hidden) node.hidden = hidden;
  }

  function param(name) {
    try { return new URLSearchParams(window.location.search).get(name); } catch (e) { return null; }
  }

  function isUuid(value) {
    return typeof value === "string" &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
  }

  function parseTime(iso) {
    if (typeof iso !== "string" || iso === "") return null;
    var ms = Date.parse(iso);
    return isNaN(ms) ? null : ms;
  }

  function formatDateTime(iso) {
    var ms = parseTime(iso);
    if (ms === null) return "";
    try {
      return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return new Date(ms).toLocaleString();
    }
  }

  /** "45 s", "3 min 05 s", "1 h 04 min". */
  function formatDuration(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    function two(n) { return n < 10 ? "0" + n : String(n); }
    if (hours > 0) return hours + " h " + two(minutes) + " min";
    if (minutes > 0) return minutes + " min " + two(seconds) + " s";
    return seconds + " s";
  }

  /** A rounded, friendly "time left": "about 40 seconds", "about 3 minutes". */
  function formatEstimate(ms) {
    var seconds = Math.max(0, Math.round(ms / 1000));
    if (seconds <= 5) return "a few seconds";
    if (seconds < 60) return "about " + Math.max(10, Math.round(seconds / 10) * 10) + " seconds";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return "about " + minutes + (minutes === 1 ? " minute" : " minutes");
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return "about " + hours + " h" + (rest ? " " + rest + " min" : "");
  }

  function categoryTitle(key) {
    for (var i = 0; i < CATEGORIES.length; i++) {
      if (CATEGORIES[i].key === key) return CATEGORIES[i].title;
    }
    return key ? String(key) : "";
  }

  // ---------------------------------------------------------------------------------------------
  // Shared page pieces

  /** Fills the page's #auth-error box for a 401 and shows it. */
  function showAuthError(error) {
    var box = $("auth-error");
    if (!box) return;
    box.textContent = "";
    var hadToken = getToken() !== null;
    box.appendChild(el("p", {
      className: "callout-title",
      text: hadToken ? "Your sign-in is not valid any more." : "Please sign in to continue."
    }));
    box.appendChild(el("p", {
      text: hadToken
        ? "The sign-in token this page sent was refused. Sign in again in the app you came from, then reload this page."
        : "Vision Queue needs a sign-in token to know whose visions to show. Open this page from the app you sign in with, then reload."
    }));
    box.appendChild(el("p", { className: "hint" }, [
      "For developers: an embedding app sets ",
      el("code", { text: "window.VisionQueue = {token: \"...\"}" }),
      " from a script loaded before this page's scripts, or the token is stored in localStorage under ",
      el("code", { text: "\"visionQueue.token\"" }),
      "."
    ]));
    if (error && error.message && error.code !== "http_401") {
      box.appendChild(el("p", { className: "hint", text: "Server said: " + error.message }));
    }
    show(box, true);
  }

  /** Shows #dev-mode when the service runs without sign-in. Errors are ignored here. */
  function initDevBanner() {
    var banner = $("dev-mode");
    if (!banner) return;
    api.me().then(function (result) {
      show(banner, result.data.developmentMode === true);
    }, function () { /* the page's own calls report problems */ });
  }

  /** Copies text: the async Clipboard API, or a selection-based fallback on plain http. */
  function copyText(text) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function" && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }

  function legacyCopy(text) {
    return new Promise(function (resolve, reject) {
      var area = el("textarea", { className: "offscreen", attrs: { readonly: "", "aria-hidden": "true", tabindex: "-1" } });
      area.value = text;
      var active = document.activeElement;
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (active && typeof active.focus === "function") active.focus();
      if (ok) resolve(); else reject(new Error("copy failed"));
    });
  }

  /** Offers text as a file download. */
  function download(filename, text, type) {
    var blob = new Blob([text], { type: type + ";charset=utf-8" });
    var url = URL.createObjectURL(blob);
    var link = el("a", { className: "offscreen", attrs: { href: url, download: filename } });
    document.body.appendChild(link);
    link.click();
    document.body.removeChild(link);
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  window.VQ = {
    CATEGORIES: CATEGORIES,
    ApiError: ApiError,
    api: api,
    getToken: getToken,
    storage: storage,
    session: session,
    $: $,
    el: el,
    setText: setText,
    show: show,
    param: param,
    isUuid: isUuid,
    parseTime: parseTime,
    formatDateTime: formatDateTime,
    formatDuration: formatDuration,
    formatEstimate: formatEstimate,
    categoryTitle: categoryTitle,
    showAuthError: showAuthError,
    initDevBanner: initDevBanner,
    copyText: copyText,
    download: download
  };
})();
