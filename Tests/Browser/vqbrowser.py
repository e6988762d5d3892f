"""Support for the browser tests: the real stack, signed tokens, headless Chromium profiles.

Nothing here is a test. The stack is `vision-queue serve` (nginx + the three FastCGI binaries +
SQLite) in a temp folder on a free loopback port, in its own process group and started with
--exit-with-parent, so it stops with this process however the run ends. Each browser is a
separate Chromium profile (its own user-data-dir, so its own localStorage), driven by Debian's
chromedriver through Debian's python3-selenium.
"""

import atexit
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (JavascriptException, NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("VQ_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VQ_CHROMEDRIVER", "/usr/bin/chromedriver")

JWT_SECRET = "browser-test-secret-0123456789abcdef"
TRIGGER_SECRET = "browser-test-trigger-secret"

DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}

# Set by the runner before the tests start.
settings = {"bin_dir": None, "artifacts": None}

_to_stop = []


def _stop_everything():
    for thing in reversed(_to_stop):
        try:
            thing.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_everything)


def mint_token(user, secret=JWT_SECRET, lifetime=3600):
    """An HS256 JWT as Supabase issues them: sub = user, aud = authenticated."""

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps({"sub": user, "aud": "authenticated", "role": "authenticated",
                              "iat": now, "exp": now + lifetime}, separators=(",", ":")).encode())
    signing_input = (header + "." + payload).encode("ascii")
    signature = b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return header + "." + payload + "." + signature


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The real service on a free loopback port. stop() is safe to call more than once."""

    def __init__(self, name, *, development_mode=False, generator_delay_ms=500, environment=None):
        bin_dir = settings["bin_dir"]
        if not bin_dir or not os.path.exists(os.path.join(bin_dir, "vision-queue")):
            raise RuntimeError("no vision-queue binary in %r (pass --bin)" % (bin_dir,))
        self.name = name
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.data_dir = tempfile.mkdtemp(prefix="vq-browser-%s-" % name)
        self.development_mode = development_mode
        self._stopped = False

        env = {k: v for k, v in os.environ.items() if not k.startswith("VQ_")}
        env.update({
            "VQ_PORT": str(self.port),
            "VQ_DATA_DIR": self.data_dir,
            "VQ_GENERATOR_DELAY_MS": str(generator_delay_ms),
            "VQ_PROCESSES": "1",
            "VQ_THREADS": "4",
            "VQ_TRIGGER_SECRET": TRIGGER_SECRET,
            "VQ_SHUTDOWN_GRACE_SECONDS": "2",
            "VQ_LOG_LEVEL": "info",
        })
        if not development_mode:
            env["VQ_JWT_SECRET"] = JWT_SECRET
        env.update(environment or {})

        self._output_path = os.path.join(self.data_dir, "serve.out")
        self._output = open(self._output_path, "wb")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "vision-queue"), "serve", "--root", REPOSITORY_ROOT, "--exit-with-parent"],
            env=env, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT,
            start_new_session=True)
        _to_stop.append(self)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "is running at" in self._read_output():
                return
            if self.process.poll() is not None:
                logs = self.logs()
                self.stop()
                raise RuntimeError("the %s stack exited at start:\n%s" % (name, logs))
            time.sleep(0.05)
        logs = self.logs()
        self.stop()
        raise RuntimeError("the %s stack did not start in 60 s:\n%s" % (name, logs))

    def _read_output(self):
        try:
            with open(self._output_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM to the launcher (which stops nginx and the binaries), SIGKILL to the group after 10 s."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._output.close()

    def remove(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def logs(self, lines=40):
        parts = ["== serve output\n" + self._read_output()[-4000:]]
        log_dir = os.path.join(self.data_dir, "logs")
        for name in sorted(os.listdir(log_dir)) if os.path.isdir(log_dir) else []:
            with open(os.path.join(log_dir, name), "r", encoding="utf-8", errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
            parts.append("== %s\n%s" % (name, "\n".join(tail)))
        return "\n".join(parts)

    def url(self, page):
        return self.base + "/" + page.lstrip("/")

    # The API, for setting up and for checking what the page claims against the server.

    def call(self, method, path, token=None, body=None):
        """Answers (status, json or None)."""
        data = None
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                text = response.read()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text) if text else None
            except ValueError:
                return error.code, None

    def create_job(self, token, answers=None):
        status, data = self.call("POST", "/api/vision-jobs/create", token,
                                 {"answers": answers or {"fun": "Painting on Sundays"}})
        if status not in (200, 201) or not data or "jobId" not in data:
            raise AssertionError("create answered %s %r" % (status, data))
        return data["jobId"]

    def status(self, job_id, token):
        status, data = self.call("GET", "/api/vision-jobs/status?jobId=" + job_id, token)
        if status != 200:
            raise AssertionError("status answered %s %r" % (status, data))
        return data

    def wait_for_job(self, job_id, token, predicate, timeout=30, what="the job"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(job_id, token)
            if predicate(last):
                return last
            time.sleep(0.05)
        raise AssertionError("%s did not happen in %d s; last status: %r" % (what, timeout, last))


class Browser:
    """One Chromium profile. token_via: "storage" (localStorage key), "window" (window.VisionQueue) or None."""

    def __init__(self, name, stack, token=None, token_via="storage"):
        self.name = name
        self.stack = stack
        self.profile = tempfile.mkdtemp(prefix="vq-chromium-%s-" % name)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--user-data-dir=" + self.profile, "--window-size=1280,900", "--lang=en-US",
                         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--hide-scrollbars", "--force-color-profile=srgb"):
            options.add_argument(argument)
        self.downloads = os.path.join(self.profile, "downloads")
        os.makedirs(self.downloads)
        options.add_experimental_option("prefs", {
            "download.default_directory": self.downloads, "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self._quit = False
        _to_stop.append(self)
        self.driver.set_page_load_timeout(30)
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": self.downloads})
        self.set_viewport(DESKTOP)
        # No transitions or pulsing: screenshots show the state, not a frame of an animation.
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})
        if token and token_via == "window":
            # What an embedding app does: a script of its own, run before the page's scripts.
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
                "source": "window.VisionQueue = {token: %s};" % json.dumps(token)})
        elif token:
            # What an app that stored the token for this origin leaves behind.
            self.driver.get(stack.url("favicon.svg"))
            self.driver.execute_script("window.localStorage.setItem('visionQueue.token', arguments[0]);", token)

    def stop(self):
        if self._quit:
            return
        self._quit = True
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - best effort
            pass
        shutil.rmtree(self.profile, ignore_errors=True)

    # Navigation and waiting

    def open(self, page):
        self.driver.get(self.stack.url(page))

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, predicate, timeout=15, message="condition"):
        """Polls predicate(self) every 100 ms; answers its first truthy value. A script that
        meets a page being replaced (a redirect) counts as not yet."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(
                JavascriptException, NoSuchElementException, StaleElementReferenceException)).until(
                lambda _driver: predicate(self))
        except TimeoutException:
            raise AssertionError("%s: timed out after %s s waiting for %s (at %s)"
                                 % (self.name, timeout, message, self.driver.current_url)) from None

    def visible_text(self, element_id):
        """The element's text when it is shown, else None."""
        return self.js("""
            var node = document.getElementById(arguments[0]);
            if (!node || node.hidden || node.closest('[hidden]')) return null;
            return node.innerText;""", element_id)

    def is_shown(self, element_id):
        return self.js("""
            var node = document.getElementById(arguments[0]);
            return !!node && !node.closest('[hidden]') && node.getClientRects().length > 0;""", element_id)

    # The progress page, read as a person would: the texts on screen

    def job_view(self):
        """What job.html shows: progress text, bar, title, current, heading, category rows."""
        return self.js("""
            var text = function (id) { var n = document.getElementById(id); return n ? n.innerText.trim() : null; };
            var bar = document.getElementById('progress');
            var rows = Array.prototype.map.call(document.querySelectorAll('#categories > li'), function (li) {
              return [li.querySelector('.category-name').innerText.trim(), li.querySelector('.category-state').innerText.trim()];
            });
            return {
              url: location.href, title: document.title, heading: text('job-heading'), status: text('job-status'),
              progressText: text('progress-text'), barValue: bar ? bar.value : null, barMax: bar ? bar.max : null,
              current: text('current-category'), elapsed: text('elapsed'), remaining: text('remaining'),
              rows: rows, connection: document.getElementById('connection') && !document.getElementById('connection').hidden
                ? text('connection') : null
            };""")

    # Accessibility, as the browser exposes it to assistive technology

    def ax_node(self, css):
        document = self.driver.execute_cdp_cmd("DOM.getDocument", {"depth": 0})
        found = self.driver.execute_cdp_cmd("DOM.querySelector", {
            "nodeId": document["root"]["nodeId"], "selector": css})
        if not found.get("nodeId"):
            raise AssertionError("no element %s" % css)
        tree = self.driver.execute_cdp_cmd("Accessibility.getPartialAXTree", {
            "nodeId": found["nodeId"], "fetchRelatives": False})
        node = tree["nodes"][0]
        properties = {p["name"]: p.get("value", {}).get("value") for p in node.get("properties", [])}
        return {
            "role": node.get("role", {}).get("value"),
            "name": node.get("name", {}).get("value"),
            "value": node.get("value", {}).get("value"),
            "properties": properties,
        }

    # Screens

    def set_viewport(self, metrics):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", dict(metrics))

    def horizontal_overflow(self):
        """How many CSS pixels the page is wider than the screen (0 when nothing scrolls sideways)."""
        return self.js("""
            var root = document.documentElement;
            return Math.max(root.scrollWidth, document.body.scrollWidth) - root.clientWidth;""")

    def screenshot(self, name):
        directory = settings["artifacts"]
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name + ".png")
        # Let layout settle after a viewport change (fonts, transitions) before capturing.
        self.js("return new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(r); }); });")
        self.driver.save_screenshot(path)
        return path

    def set_offline(self, offline):
        self.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    def console_errors(self):
        try:
            entries = self.driver.get_log("browser")
        except WebDriverException:
            return []
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]

    def save_failure(self, label):
        directory = settings["artifacts"]
        os.makedirs(directory, exist_ok=True)
        base = os.path.join(directory, "FAILED-%s-%s" % (label, self.name))
        try:
            self.driver.save_screenshot(base + ".png")
            with open(base + ".html", "w", encoding="utf-8") as f:
                f.write(self.driver.page_source)
        except Exception:  # noqa: BLE001 - diagnostics only
            pass
