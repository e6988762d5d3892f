"""The pages in headless Chromium against the real stack, checked the way a person uses them.

Three stacks, each started once for its test class:
  * "main": signed-in users (HS256 tokens), 600 ms per category, and health failing its first
    attempt with a long backoff (VQ_RETRY_BASE_MS=30000). So every job on it runs ahead to 11 of 12
    and then holds still with "Health: retrying (attempt 2 of 3)" for 15-30 s: a state that is
    the same on every screen that looks at it, which is what the reload and second-device checks
    compare. Then health is written and the job completes.
  * "retry": one attempt per category; every category fails its first attempt and spirituality
    fails every attempt, so a job fails as a whole, a retry completes it with one gap, and the
    vision page offers to retry that gap.
  * "dev": development mode, no tokens at all.
  * "model": categories written by a language model through the stand-in for a hosted provider
    (Tests/Fakes, a fake named so): one area streams slowly, so its text is seen growing on the
    page, and the tokens the calls cost are shown with their estimated price.

Waits are explicit (poll the screen every 100 ms, with a timeout); nothing sleeps to assert. The
one deliberate pause is the hidden-tab test's 6.5 s in the background, the interval whose polls it
then counts (none, where a visible page polls every 5 s).

Run through run_browser_tests.py, which passes the binaries' folder and collects the screenshots.
"""

import os
import re
import subprocess
import sys
import time
import unittest

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import vqbrowser
from vqbrowser import DESKTOP, PHONE, Browser, Stack, mint_token

CATEGORY_TITLES = ["Fun", "Health", "Travel", "Love", "Family", "Social", "Home", "Work", "Money",
                   "Possessions", "Giving", "Spirituality"]
CATEGORY_KEYS = [title.lower() for title in CATEGORY_TITLES]
PROGRESS_TEXT = re.compile(r"^(\d+) of 12 \u00b7 (\d+)%$")
TITLE = re.compile(r"^(\d+)/12 - Vision$")
# The page polls every 5 s; a change on the server shows within one poll (plus a request).
ONE_POLL = 8


def progress_count(view):
    match = PROGRESS_TEXT.match(view["progressText"] or "")
    return int(match.group(1)) if match else None


class PageTestCase(unittest.TestCase):
    """Browsers opened by a test are closed after it; on failure their screens and the stack's logs are kept."""

    stack = None

    def setUp(self):
        self.browsers = []
        self.started = time.monotonic()

    def browser(self, name, token=None, token_via="storage", stack=None):
        browser = Browser(name, stack or self.stack, token, token_via)
        self.browsers.append(browser)
        return browser

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(test is self for test, _ in errors) or not getattr(outcome, "success", True)
        sys.stderr.write("(%.1f s) " % (time.monotonic() - self.started))
        for browser in self.browsers:
            if failed:
                browser.save_failure(self._testMethodName)
            browser.stop()
        if failed and self.stack is not None:
            path = os.path.join(vqbrowser.settings["artifacts"], "FAILED-%s-stack.log" % self._testMethodName)
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.stack.logs())

    # Checks shared by the pages

    def assert_no_sideways_scroll(self, browser, page):
        overflow = browser.horizontal_overflow()
        self.assertLessEqual(overflow, 0, "%s scrolls sideways by %s px at %s px wide"
                             % (page, overflow, browser.js("return window.innerWidth;")))

    def assert_no_csp_violations(self, browser):
        violations = [m for m in browser.console_errors() if "Content Security Policy" in m]
        self.assertEqual(violations, [], "the pages broke the Content-Security-Policy")

    def screenshots(self, browser, page, check_phone=True):
        """Saves <page>-desktop.png and <page>-phone.png; at phone width nothing scrolls sideways."""
        browser.js("window.scrollTo(0, 0);")
        browser.set_viewport(DESKTOP)
        browser.screenshot(page + "-desktop")
        browser.set_viewport(PHONE)
        browser.js("window.scrollTo(0, 0);")
        if check_phone:
            self.assert_no_sideways_scroll(browser, page)
        browser.screenshot(page + "-phone")
        browser.set_viewport(DESKTOP)

    def tab_to(self, browser, element_id, limit=40):
        """Presses Tab from the top of the page until element_id has the focus; answers the presses."""
        browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
        for presses in range(1, limit + 1):
            ActionChains(browser.driver).send_keys(Keys.TAB).perform()
            if browser.js("return document.activeElement && document.activeElement.id;") == element_id:
                return presses
        self.fail("Tab never reached #%s in %d presses" % (element_id, limit))

    def wait_for_vision(self, browser, timeout):
        browser.wait(lambda b: "/vision.html?id=" in b.driver.current_url and b.is_shown("vision")
                     and len(b.driver.find_elements(By.CSS_SELECTOR, "#sections > section")) == 12,
                     timeout, "the finished vision with 12 sections")

    def vision_sections(self, browser):
        return browser.js("""
            return Array.prototype.map.call(document.querySelectorAll('#sections > section'), function (s) {
              return {title: s.querySelector('h2').innerText.trim(), text: s.innerText.trim(),
                      missing: s.dataset.missing === 'true'};
            });""")


class SignedInTests(PageTestCase):
    """The "main" stack: signed-in users, health retried once after a long backoff."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("main", generator_delay_ms=600, environment={
            "VQ_FAULT_FAIL": "health:1", "VQ_RETRY_BASE_MS": "30000"})
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)

    def frozen(self, status):
        """True once the job waits on health's retry with everything else written."""
        health = [c for c in status["categories"] if c["key"] == "health"][0]
        return status["categoriesCompleted"] == 11 and health["status"] == "retrying"

    def test_journey_form_progress_reload_second_device_vision_and_other_user(self):
        alice = mint_token("alice")
        laptop = self.browser("alice-laptop", alice, token_via="storage")
        phone = self.browser("alice-phone", alice, token_via="window")  # a second profile, started early
        phone.set_viewport(PHONE)

        # -- The start page: twelve labelled areas, usable with the keyboard alone.
        laptop.open("index.html")
        laptop.wait(lambda b: b.is_shown("generate"), 10, "the Generate button")
        self.assertEqual(laptop.driver.find_element(By.TAG_NAME, "h1").text, "Create your life vision")
        areas = laptop.driver.find_elements(By.CSS_SELECTOR, "#vision-form textarea")
        self.assertEqual(len(areas), 12)
        for area, title in zip(areas, CATEGORY_TITLES):
            name = area.accessible_name
            self.assertTrue(name.startswith(title), "the %s text area is labelled %r" % (title, name))
            self.assertGreater(len(name), len(title) + 10, "the %s area has no prompt in its label" % title)
            self.assertEqual(area.aria_role, "textbox")
        self.assertEqual(laptop.driver.find_element(By.ID, "generate").text, "Generate Vision")
        self.assertFalse(laptop.is_shown("active-job-notice"))

        notes = {"note-fun": "Painting on Sundays", "note-health": "I want to run a marathon",
                 "note-travel": "Walk the Camino"}
        laptop.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
        focused, presses = None, 0
        while focused != "generate":
            presses += 1
            self.assertLess(presses, 40, "Tab did not reach Generate Vision")
            ActionChains(laptop.driver).send_keys(Keys.TAB).perform()
            focused = laptop.js("return document.activeElement.id;")
            if focused in notes:
                ActionChains(laptop.driver).send_keys(notes[focused]).perform()
        self.assertEqual(laptop.driver.find_element(By.ID, "filled-count").text, "3 of 12 areas have notes.")
        self.screenshots(laptop, "index")

        # Enter on the focused button starts the job and opens its progress page.
        laptop.js("document.getElementById('generate').focus();")
        ActionChains(laptop.driver).send_keys(Keys.ENTER).perform()
        laptop.wait(lambda b: "/job.html?jobId=" in b.driver.current_url, 10, "the progress page")
        job_url = laptop.driver.current_url
        job_id = job_url.split("jobId=", 1)[1]

        # -- The progress page advances on its own polls.
        shown = []

        def record(browser):
            view = browser.job_view()
            count = progress_count(view)
            if count is not None and (not shown or shown[-1] != count):
                shown.append(count)
                title = TITLE.match(view["title"])
                self.assertIsNotNone(title, "tab title %r" % view["title"])
                self.assertEqual(int(title.group(1)), count, "the tab title and the bar disagree")
                self.assertEqual(view["barValue"], count)
                done_rows = sum(1 for _, state in view["rows"] if state in ("done", "failed"))
                self.assertEqual(done_rows, count, "the list and the bar disagree: %r" % view)
            return view

        def first_progress(browser):
            view = record(browser)
            return progress_count(view) is not None and view

        view = laptop.wait(first_progress, 10, "the first progress")
        self.assertEqual(view["heading"], "Writing your vision")
        self.assertEqual([name for name, _ in view["rows"]], CATEGORY_TITLES)
        self.assertTrue(laptop.is_shown("cancel"), "Cancel is offered while the job runs")
        self.assertIn("You can close this page", laptop.visible_text("close-hint"))

        # Accessibility as a screen reader gets it.
        bar = laptop.ax_node("#progress")
        self.assertEqual(bar["role"], "progressbar")
        self.assertEqual(bar["name"], "Progress")
        self.assertEqual(bar["properties"].get("valuemax"), 12)
        self.assertEqual(bar["value"], progress_count(view))
        status_region = laptop.ax_node("#job-status")
        self.assertEqual(status_region["role"], "status")
        self.assertEqual(status_region["properties"].get("live"), "polite")

        # Wait (reading the screen as it goes) until the page has shown progress move and the job
        # holds still on health's retry.
        laptop.wait(lambda b: record(b) and len(shown) >= 2 and self.frozen(self.stack.status(job_id, alice)),
                    25, "progress to advance on screen")
        self.assertEqual(shown, sorted(shown), "progress went backwards: %r" % shown)

        # -- Reload mid-way: the page resumes the job where it is, not from zero.
        laptop.driver.refresh()
        view = laptop.wait(lambda b: progress_count(b.job_view()) == 11 and b.job_view(), ONE_POLL,
                           "the reloaded page to show 11 of 12")
        self.assertEqual(view["title"], "11/12 - Vision")
        self.assertEqual(view["progressText"], "11 of 12 \u00b7 91%")
        self.assertEqual(dict(view["rows"])["Health"], "retrying (attempt 2 of 3)")
        self.assertRegex(view["current"], r"^Health, (in \d+[\s\u00a0]s|now)$")
        self.assertEqual(laptop.js("return document.getElementById('current-label').textContent;"), "Waiting to retry")
        self.assertRegex(view["remaining"], r"^About \d+ seconds$", "the wait for the retry is not in the estimate")
        self.assertEqual(view["status"], "Waiting to retry Health \u2014 11 of 12 done.")
        self.assertEqual(laptop.ax_node("#progress")["value"], 11)

        # -- A second device (another profile, token from window.VisionQueue) sees the same state.
        phone.open("job.html?jobId=" + job_id)
        other = phone.wait(lambda b: progress_count(b.job_view()) == 11 and b.job_view(), ONE_POLL,
                           "the second device to show the job")
        other["current"] = other["current"].split(",")[0]  # the retry count-down ticks on its own
        view["current"] = view["current"].split(",")[0]
        for key in ("title", "heading", "status", "progressText", "current", "rows"):
            self.assertEqual(other[key], view[key], "the two devices disagree on %s" % key)
        self.assertTrue(self.frozen(self.stack.status(job_id, alice)), "the job moved on during the comparison")
        self.screenshots(laptop, "job")

        # Its start page says a vision is being written and links to it.
        phone.open("index.html")
        phone.wait(lambda b: b.is_shown("active-job-notice"), 10, "the active-job notice")
        link = phone.driver.find_element(By.ID, "active-job")
        self.assertTrue(link.get_attribute("href").endswith("/job.html?jobId=" + job_id))
        self.assertIn("11 of 12", phone.visible_text("active-job-notice"))
        self.assert_no_sideways_scroll(phone, "index.html")
        # Generating anyway starts nothing new: it lands on the job already running, and says so.
        phone.driver.find_element(By.ID, "note-love").send_keys("Sunday breakfasts together")
        phone.driver.find_element(By.ID, "generate").click()
        phone.wait(lambda b: b.driver.current_url == job_url and b.is_shown("job-notice"), 10,
                   "the running job with a notice")
        self.assertIn("no new one was started", phone.visible_text("job-notice"))
        phone.wait(lambda b: progress_count(b.job_view()) is not None, ONE_POLL, "the job's progress")
        self.assertEqual(len(self.stack.call("GET", "/api/vision-jobs/list", alice)[1]["jobs"]), 1)

        # -- Completion: both devices land on the vision.
        laptop.wait(lambda b: "/vision.html" in b.driver.current_url or not record(b), 45, "the vision page")
        self.assertGreaterEqual(len(shown), 2, "the page showed no progress moving: %r" % shown)
        self.assertEqual(shown, sorted(shown), "progress went backwards: %r" % shown)
        self.wait_for_vision(laptop, 10)
        self.wait_for_vision(phone, 45)
        self.assertEqual(phone.driver.current_url, laptop.driver.current_url)
        vision_url = laptop.driver.current_url

        sections = self.vision_sections(laptop)
        self.assertEqual([s["title"] for s in sections], CATEGORY_TITLES)
        for section in sections:
            self.assertFalse(section["missing"], section)
            self.assertGreater(len(section["text"]), len(section["title"]) + 20, section)
        self.assertIn("Painting on Sundays", sections[0]["text"], "the user's own notes are in the vision")
        self.assertIn("I run a marathon", sections[1]["text"])
        self.assertEqual(laptop.driver.find_element(By.ID, "vision-title").text, "My Life Vision")
        self.assertEqual(laptop.driver.title, "My Life Vision \u00b7 Vision Queue")
        self.screenshots(laptop, "vision")
        self.assert_no_sideways_scroll(phone, "vision.html")

        # Copy and download, Markdown and plain text; print is offered.
        for button, label in (("copy", "Copy"), ("download-md", "Download Markdown"),
                              ("download-txt", "Download text"), ("print", "Print")):
            self.assertEqual(laptop.driver.find_element(By.ID, button).text, label)
        laptop.driver.find_element(By.ID, "download-md").click()
        markdown = self.downloaded(laptop, "vision.md")
        self.assertTrue(markdown.startswith("# My Life Vision\n"), markdown[:80])
        self.assertEqual(re.findall(r"^## (.+)$", markdown, re.M), CATEGORY_TITLES)
        laptop.driver.find_element(By.ID, "download-txt").click()
        text = self.downloaded(laptop, "vision.txt")
        self.assertTrue(text.startswith("My Life Vision\n"), text[:80])
        self.assertNotIn("#", text)
        self.assertIn("Painting on Sundays", text)
        laptop.driver.find_element(By.ID, "copy").click()
        status = laptop.wait(lambda b: (b.visible_text("vision-status") or "").startswith("Cop") and
                             b.visible_text("vision-status"), 5, "a message after Copy")
        self.assertEqual(status, "Copied the Markdown to the clipboard.")

        # -- My visions, on both devices: the job, completed, linking to the vision.
        for browser in (laptop, phone):
            browser.open("visions.html")
            browser.wait(lambda b: len(b.driver.find_elements(By.CSS_SELECTOR, "#jobs > li")) == 1, 10, "the list")
            item = browser.driver.find_element(By.CSS_SELECTOR, "#jobs > li")
            self.assertEqual(item.find_element(By.CLASS_NAME, "badge").text, "Completed")
            self.assertEqual(item.find_element(By.CLASS_NAME, "job-link").get_attribute("href"), vision_url)
            self.assertIn("12 of 12", item.text)
        self.screenshots(laptop, "visions")
        self.assert_no_sideways_scroll(phone, "visions.html")

        # -- Another user on the same laptop sees none of it.
        laptop.js("window.localStorage.setItem('visionQueue.token', arguments[0]);", mint_token("bob"))
        laptop.driver.refresh()
        laptop.wait(lambda b: b.is_shown("empty"), 10, "an empty My visions")
        self.assertIn("No visions yet.", laptop.visible_text("empty"))
        self.assertEqual(laptop.driver.find_elements(By.CSS_SELECTOR, "#jobs > li"), [])
        laptop.driver.get(job_url)
        laptop.wait(lambda b: b.is_shown("not-found"), 10, "the job page's not-found message")
        self.assertIn("does not exist or belongs to another account", laptop.visible_text("not-found"))
        self.assertFalse(laptop.is_shown("job-panel"), "another user's job state is on screen")
        self.assertEqual(laptop.driver.title, "Not found - Vision")
        laptop.driver.get(vision_url)
        laptop.wait(lambda b: b.is_shown("vision-error"), 10, "the vision page's not-found message")
        self.assertIn("does not exist or belongs to another account", laptop.visible_text("vision-error"))
        self.assertFalse(laptop.is_shown("vision"))
        laptop.open("index.html")
        laptop.wait(lambda b: b.js("return document.getElementById('generate').classList.contains('button-primary');"),
                    10, "the start page")
        self.assertFalse(laptop.is_shown("active-job-notice"), "bob is told about alice's job")

        for browser in (laptop, phone):
            self.assert_no_csp_violations(browser)

    def downloaded(self, browser, name, timeout=10):
        path = os.path.join(browser.downloads, name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
                with open(path, encoding="utf-8") as f:
                    return f.read()
            time.sleep(0.1)
        self.fail("%s was not downloaded in %d s" % (name, timeout))

    def test_network_blip_shows_reconnecting_and_keeps_the_last_state(self):
        token = mint_token("frank")
        job_id = self.stack.create_job(token, {"work": "I build tools people like"})
        browser = self.browser("frank", token)
        browser.open("job.html?jobId=" + job_id)
        browser.wait(lambda b: progress_count(b.job_view()) is not None, 10, "the progress")
        self.assertIsNone(browser.job_view()["connection"])

        browser.set_offline(True)
        last = browser.wait(lambda b: b.job_view()["connection"] and b.job_view(), ONE_POLL, "the reconnecting note")
        self.assertEqual(last["connection"], "Connection lost \u2014 reconnecting\u2026")
        self.assertEqual(browser.ax_node("#connection")["properties"].get("live"), "polite",
                         "the reconnecting note is not announced")
        self.assertIsNotNone(progress_count(last), "the last progress left the screen: %r" % last)
        self.assertEqual(len(last["rows"]), 12)
        self.assertEqual(last["heading"], "Writing your vision")
        self.assertTrue(browser.is_shown("job-panel"))

        browser.set_offline(False)
        browser.wait(lambda b: b.job_view()["connection"] is None, ONE_POLL, "the reconnecting note to go")
        server = self.stack.status(job_id, token)
        browser.wait(lambda b: progress_count(b.job_view()) >= server["categoriesCompleted"], ONE_POLL,
                     "the page to catch up with the server")
        self.assert_no_csp_violations(browser)

    def test_cancel_with_the_keyboard(self):
        token = mint_token("dave")
        job_id = self.stack.create_job(token)
        browser = self.browser("dave", token)
        browser.open("job.html?jobId=" + job_id)
        browser.wait(lambda b: b.is_shown("cancel"), 10, "the Cancel button")
        self.assertFalse(browser.is_shown("retry"))

        self.tab_to(browser, "cancel")
        ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
        alert = WebDriverWait(browser.driver, 5).until(expected_conditions.alert_is_present())
        self.assertIn("Cancel this vision?", alert.text)
        alert.accept()

        browser.wait(lambda b: b.job_view()["heading"] == "Vision cancelled", 10, "the cancelled state")
        self.assertTrue(browser.is_shown("job-cancelled"))
        self.assertFalse(browser.is_shown("cancel"), "Cancel is still offered after cancelling")
        self.assertEqual(browser.job_view()["status"], "Cancelled")
        self.assertEqual(browser.driver.title, "Cancelled - Vision")
        self.assertEqual(self.stack.status(job_id, token)["status"], "cancelled")

        browser.open("visions.html")
        browser.wait(lambda b: len(b.driver.find_elements(By.CSS_SELECTOR, "#jobs > li")) == 1, 10, "the list")
        self.assertEqual(browser.driver.find_element(By.CSS_SELECTOR, "#jobs .badge").text, "Cancelled")

    def test_hidden_tab_stops_polling_and_catches_up_when_shown(self):
        token = mint_token("gina")
        job_id = self.stack.create_job(token)
        browser = self.browser("gina", token)
        browser.open("job.html?jobId=" + job_id)
        browser.wait(lambda b: progress_count(b.job_view()) is not None, 10, "the progress")
        browser.js("""window.vqVisibility = [];
            document.addEventListener('visibilitychange', function () {
              window.vqVisibility.push([performance.now(), document.visibilityState]); });""")
        page = browser.driver.current_window_handle

        # Another tab in front for longer than one visible poll interval (5 s).
        browser.driver.switch_to.new_window("tab")
        time.sleep(6.5)  # the time that passes hidden; what it did meanwhile is checked below
        browser.driver.close()
        browser.driver.switch_to.window(page)

        changes = browser.wait(lambda b: len(b.js("return window.vqVisibility;")) >= 2 and
                               b.js("return window.vqVisibility;"), 5, "hidden, then visible again")
        self.assertEqual([state for _, state in changes[:2]], ["hidden", "visible"])
        hidden_at, shown_at = changes[0][0], changes[1][0]
        self.assertGreater(shown_at - hidden_at, 6000)

        def polls(b):
            return b.js("""return performance.getEntriesByType('resource')
                .filter(function (e) { return e.name.indexOf('/api/vision-jobs/status') >= 0; })
                .map(function (e) { return e.startTime; });""")

        # The page's own visibilitychange listener runs before the one added here, so its poll
        # may start a moment before shown_at.
        after = browser.wait(lambda b: [t for t in polls(b) if t >= shown_at - 100], 3, "a poll as soon as it is shown")
        self.assertLess(after[0] - shown_at, 1000, "the page did not poll at once when shown")
        while_hidden = [t for t in polls(browser) if hidden_at + 100 < t < shown_at - 100]
        self.assertEqual(while_hidden, [], "the page polled while hidden")

    def test_without_a_token_the_pages_ask_for_sign_in(self):
        browser = self.browser("nobody")
        for page in ("index.html", "visions.html"):
            browser.open(page)
            box = browser.wait(lambda b: b.visible_text("auth-error"), 10, "the sign-in message on " + page)
            self.assertIn("Please sign in to continue.", box)
            self.assertIn("window.VisionQueue", box)
            self.assertIn("visionQueue.token", box)
        self.assertFalse(browser.is_shown("dev-mode"))


class RetryTests(PageTestCase):
    """The "retry" stack: a job that fails as a whole, then one category that never succeeds."""

    @classmethod
    def setUpClass(cls):
        faults = ",".join("%s:1" % key for key in CATEGORY_KEYS[:-1]) + ",spirituality:*"
        cls.stack = Stack("retry", generator_delay_ms=300, environment={
            "VQ_FAULT_FAIL": faults, "VQ_MAX_ATTEMPTS": "1", "VQ_RETRY_BASE_MS": "100"})
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)

    def test_failed_job_shows_why_and_retry_writes_the_failed_areas(self):
        token = mint_token("erin")
        job_id = self.stack.create_job(token, {"fun": "Dancing in the kitchen"})
        browser = self.browser("erin", token)
        browser.open("job.html?jobId=" + job_id)

        view = browser.wait(lambda b: b.job_view()["heading"] == "Your vision could not be finished" and b.job_view(),
                            ONE_POLL + 5, "the failed state")
        self.assertEqual([state for _, state in view["rows"]], ["failed"] * 12)
        self.assertEqual(view["progressText"], "0 of 12 written \u00b7 12 failed")
        self.assertEqual(view["title"], "Failed - Vision")
        self.assertTrue(browser.is_shown("job-failed"))
        self.assertTrue(browser.visible_text("job-error").strip(), "the failure gives no reason")
        self.assertTrue(view["status"].startswith("Failed: "), view["status"])
        self.assertTrue(browser.is_shown("retry"), "no Retry button on a failed job")
        self.assertFalse(browser.is_shown("cancel"), "Cancel is offered on an ended job")
        self.assertIn("Injected failure", browser.visible_text("categories"), "each area says why it failed")
        browser.screenshot("job-failed-desktop")

        browser.driver.find_element(By.ID, "retry").click()
        # Eleven areas are written this time; spirituality fails again: a vision with one gap.
        self.wait_for_vision(browser, ONE_POLL + 10)
        sections = self.vision_sections(browser)
        self.assertEqual([s["title"] for s in sections if s["missing"]], ["Spirituality"])
        self.assertIn("This section could not be written.", sections[-1]["text"])
        self.assertIn("Dancing in the kitchen", sections[0]["text"])
        self.assertIn("One section could not be written.", browser.visible_text("missing-note"))
        self.assertTrue(browser.is_shown("retry-missing"))
        first_end = self.stack.status(job_id, token)["completedAt"]
        browser.js("window.vqTestMarker = true;")  # gone once the browser has left this page

        # Retry from the vision page: it posts the retry and follows the job again; the
        # always-failing area fails again and the page comes back to the vision with the gap.
        browser.driver.find_element(By.ID, "retry-missing").click()
        self.stack.wait_for_job(job_id, token, lambda s: s["status"] == "completed" and s["completedAt"] != first_end,
                                15, "the retried job to end again")
        browser.wait(lambda b: not b.js("return window.vqTestMarker === true;") and "/vision.html?id=" in
                     b.driver.current_url and b.is_shown("missing-note"), ONE_POLL + 5, "the vision again")
        self.assert_no_csp_violations(browser)


class DevelopmentModeTests(PageTestCase):
    """The "dev" stack: no sign-in at all."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("dev", development_mode=True, generator_delay_ms=50)
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)

    def test_the_pages_work_without_a_token(self):
        browser = self.browser("dev")
        browser.open("index.html")
        banner = browser.wait(lambda b: b.visible_text("dev-mode"), 10, "the development-mode banner")
        self.assertIn("Development mode", banner)
        browser.driver.find_element(By.ID, "note-home").send_keys("A small house by the sea")
        browser.driver.find_element(By.ID, "generate").click()
        self.wait_for_vision(browser, ONE_POLL + 10)
        self.assertFalse(browser.is_shown("auth-error"))
        home = [s for s in self.vision_sections(browser) if s["title"] == "Home"][0]
        self.assertIn("A small house by the sea", home["text"])
        browser.open("visions.html")
        browser.wait(lambda b: len(b.driver.find_elements(By.CSS_SELECTOR, "#jobs > li")) == 1, 10, "the list")
        self.assertFalse(browser.is_shown("auth-error"))
        self.assert_no_csp_violations(browser)


class RewriteTests(PageTestCase):
    """Rewriting one section from the vision page, on the "dev" kind of stack (built-in writer)."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("rewrite", development_mode=True, generator_delay_ms=50)
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)

    def test_rewrite_one_section_with_new_notes_and_read_the_earlier_version(self):
        job_id = self.stack.create_job(None, {"home": "A small flat in the city", "fun": "Salsa on Fridays"})
        vision_id = self.stack.wait_for_job(job_id, None, lambda s: s["status"] == "completed", 30)["visionId"]
        browser = self.browser("rewriter")
        browser.open("vision.html?id=" + vision_id)
        self.wait_for_vision(browser, 10)
        before = {s["title"]: s["text"] for s in self.vision_sections(browser)}
        self.assertFalse(browser.is_shown("versions"), "one version: no version list")

        home = "#sections > section[data-key='home'] "
        browser.driver.find_element(By.CSS_SELECTOR, home + ".rewrite-open").click()
        notes = browser.driver.find_element(By.CSS_SELECTOR, home + ".rewrite-notes")
        self.assertEqual(browser.driver.switch_to.active_element, notes, "the notes field takes the focus")
        notes.send_keys("Build a cabin in the woods")
        browser.driver.find_element(By.CSS_SELECTOR, home + ".rewrite-form button[type=submit]").click()

        # The page follows the job, then comes back to the vision in its second version.
        browser.wait(lambda b: "/vision.html?id=" in b.driver.current_url and b.is_shown("versions"), ONE_POLL + 10,
                     "the rewritten vision")
        after = {s["title"]: s["text"] for s in self.vision_sections(browser)}
        self.assertIn("I build a cabin in the woods", after["Home"])
        self.assertNotIn("small flat", after["Home"])
        for title in before:
            if title != "Home":
                self.assertEqual(before[title], after[title], title + " changed")
        self.assertEqual(browser.js("return document.querySelector('.version-current').textContent;"), "2")

        browser.driver.find_element(By.CSS_SELECTOR, "#version-list a").click()
        browser.wait(lambda b: b.is_shown("old-version") and "small flat" in b.visible_text("sections"), 10, "version 1")
        self.assertFalse(browser.driver.find_elements(By.CSS_SELECTOR, ".rewrite-open"), "an earlier version is not rewritten")
        browser.screenshot("vision-versions-desktop")
        self.assert_no_csp_violations(browser)


class ModelGenerationTests(PageTestCase):
    """The "model" stack: VQ_GENERATOR=openai against the stand-in provider."""

    @classmethod
    def setUpClass(cls):
        port = vqbrowser.free_port()
        log = os.path.join(vqbrowser.tempfile.mkdtemp(prefix="vq-browser-standin-"), "calls.jsonl")
        cls.standin = subprocess.Popen(
            [sys.executable, os.path.join(vqbrowser.REPOSITORY_ROOT, "Tests", "Fakes", "standin_chat_completions.py"),
             "--port", str(port), "--log", log, "--stream-seconds", "0.3"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.addClassCleanup(cls.standin.kill)
        cls.stack = Stack("model", environment={
            "VQ_GENERATOR": "openai", "VQ_LLM_BASE_URL": "http://127.0.0.1:%d/v1" % port,
            "VQ_LLM_PRICE_INPUT_PER_MTOK": "2.5", "VQ_LLM_PRICE_OUTPUT_PER_MTOK": "10"})
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)

    def test_the_section_appears_as_it_is_written_and_the_tokens_are_shown(self):
        token = mint_token("mia")
        # Health streams over 14 s: the page must show its words arriving, poll by poll.
        job_id = self.stack.create_job(token, {"fun": "Salsa on Fridays", "health": "Swim every morning [[fault:slow:14]]"})
        browser = self.browser("mia", token)
        browser.open("job.html?jobId=" + job_id)

        live = "#categories > li[data-key='health'] .category-live"

        def live_text(b):
            nodes = b.driver.find_elements(By.CSS_SELECTOR, live)
            return nodes[0].text.strip() if nodes and nodes[0].is_displayed() else ""

        first = browser.wait(live_text, ONE_POLL + 10, "health's text so far on the page")
        grown = browser.wait(lambda b: len(live_text(b)) > len(first) and live_text(b), ONE_POLL + 5,
                             "the text to grow")
        self.assertTrue(grown.startswith(first.rstrip(" \u2026")), (first, grown))
        # Text, never markup: the live text is one text node.
        self.assertEqual(browser.js("return document.querySelector(arguments[0]).children.length;", live), 0)
        usage = browser.wait(lambda b: b.is_shown("usage") and b.visible_text("usage"), ONE_POLL, "the token count")
        self.assertRegex(usage, r"^[\d,]+ tokens \u00b7 about \$\d+\.\d+$")
        browser.screenshot("job-live-text-desktop")

        self.wait_for_vision(browser, 60)
        health = [s for s in self.vision_sections(browser) if s["title"] == "Health"][0]
        self.assertIn("I wake up rested", health["text"])
        self.assertFalse(browser.driver.find_elements(By.CSS_SELECTOR, ".category-live"), "no live text on the vision page")
        self.assert_no_csp_violations(browser)


ADMIN_TOKEN = "browser-operator-token-0123456789"


class AdminPageTests(PageTestCase):
    """The operator's page: "admin" ends every job with Work given up (one attempt, always failing);
    "admin-slow" writes a category every 2 s, so a job is still running when the operator cancels it."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("admin", generator_delay_ms=20, environment={
            "VQ_ADMIN_TOKEN": ADMIN_TOKEN, "VQ_FAULT_FAIL": "work:*", "VQ_MAX_ATTEMPTS": "1", "VQ_MAX_ACTIVE_JOBS": "5"})
        cls.addClassCleanup(cls.stack.remove)
        cls.addClassCleanup(cls.stack.stop)
        cls.slow = Stack("admin-slow", generator_delay_ms=2000, environment={"VQ_ADMIN_TOKEN": ADMIN_TOKEN})
        cls.addClassCleanup(cls.slow.remove)
        cls.addClassCleanup(cls.slow.stop)

    def sign_in(self, browser, token):
        browser.wait(lambda b: b.is_shown("admin-token"), 10, "the token form")
        field = browser.driver.find_element(By.ID, "admin-token")
        field.clear()
        field.send_keys(token)
        field.send_keys(Keys.ENTER)

    def rows(self, browser):
        return browser.js("""
            return Array.prototype.map.call(document.querySelectorAll('#jobs tbody tr'), function (row) {
              return Array.prototype.map.call(row.cells, function (cell) { return cell.innerText.trim(); });
            });""")

    def test_every_users_jobs_their_history_and_a_retry(self):
        frank, gina = mint_token("frank"), mint_token("gina")
        for user, token in (("frank", frank), ("gina", gina)):
            job = self.stack.create_job(token, {"work": "Teach %s's class" % user})
            self.stack.wait_for_job(job, token, lambda s: s["status"] == "completed", 20, user + "'s job to end")
        frank_job = self.stack.call("GET", "/api/vision-jobs/list", frank)[1]["jobs"][0]["jobId"]

        browser = self.browser("operator")
        browser.open("admin.html")
        # A user's token is refused, and the page says why.
        self.sign_in(browser, gina)
        refused = browser.wait(lambda b: b.visible_text("admin-error"), 10, "the refusal")
        self.assertIn("user's sign-in token", refused)
        self.assertFalse(browser.is_shown("console"))

        self.sign_in(browser, ADMIN_TOKEN)
        browser.wait(lambda b: len(self.rows(b)) == 2, 10, "both users' jobs")
        self.assertEqual(sorted(row[1] for row in self.rows(browser)), ["frank", "gina"])
        self.assertTrue(all(row[4] == "1" for row in self.rows(browser)), "each job gave Work up: %s" % self.rows(browser))
        browser.wait(lambda b: b.visible_text("figure-running") == "0", 10, "the figures")
        self.assertNotEqual(browser.visible_text("figure-median"), "\u2013")
        self.screenshots(browser, "admin", check_phone=False)

        # Filters: one user's jobs.
        browser.driver.find_element(By.ID, "filter-user").send_keys("frank")
        browser.driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        browser.wait(lambda b: [row[1] for row in self.rows(b)] == ["frank"], 10, "frank's job alone")

        # The job's history: Work failed, and why.
        browser.driver.find_element(By.CSS_SELECTOR, "#jobs tbody tr button").click()
        browser.wait(lambda b: b.is_shown("detail") and "Injected failure" in (b.visible_text("detail-attempts") or ""),
                     10, "the attempts")
        self.assertIn(frank_job, browser.visible_text("detail-title"))
        self.assertTrue(browser.is_shown("detail-retry"))
        self.assertFalse(browser.is_shown("detail-cancel"), "an ended job offers no cancel")
        work = browser.js("return document.querySelector(\"#detail-categories tr[data-category='work']\").innerText;")
        self.assertIn("failed", work)

        # Retry it as the operator: Work is tried again (and fails again here): two attempts in its history.
        browser.driver.find_element(By.ID, "detail-retry").click()
        self.stack.wait_for_job(frank_job, frank, lambda s: s["status"] == "completed" and "attempt 2" in (s["categories"][7]["error"] or ""),
                                20, "the retried job to end")
        browser.driver.find_element(By.CSS_SELECTOR, "#jobs tbody tr button").click()
        browser.wait(lambda b: len(b.driver.find_elements(By.CSS_SELECTOR, "#detail-attempts tbody tr")) == 2, 10,
                     "the second attempt in the history")
        self.assertFalse(self.stack.logs().count(ADMIN_TOKEN), "the token never reaches a log")
        self.assert_no_csp_violations(browser)

    def test_cancel_a_running_job_of_another_user(self):
        hana = mint_token("hana")
        job = self.slow.create_job(hana, {"fun": "Kites"})
        browser = self.browser("operator-slow", stack=self.slow)
        browser.open("admin.html")
        self.sign_in(browser, ADMIN_TOKEN)
        browser.wait(lambda b: len(self.rows(b)) == 1 and "processing" in self.rows(b)[0][2], 10, "the running job")
        browser.wait(lambda b: b.visible_text("figure-running") == "1", 10, "one job running in the figures")
        browser.driver.find_element(By.CSS_SELECTOR, "#jobs tbody tr button").click()
        browser.wait(lambda b: b.is_shown("detail-cancel"), 10, "the cancel button")
        browser.driver.find_element(By.ID, "detail-cancel").click()
        browser.wait(lambda b: "cancelled" in (b.visible_text("detail-facts") or ""), 10, "the job cancelled")
        self.assertEqual(self.slow.status(job, hana)["status"], "cancelled", "hana sees her job cancelled")
        self.assertFalse(browser.is_shown("detail-cancel"))
