#!/usr/bin/python3
"""Runs the browser tests: the pages in headless Chromium against the real stack.

    /usr/bin/python3 Tests/Browser/run_browser_tests.py --bin "$(swift build --show-bin-path)"

Needs Debian's chromium, chromium-driver and python3-selenium (scripts/lib/packages.sh,
VQ_BROWSER_TEST_PACKAGES) and a build of the four binaries. Screenshots of every page at desktop
(1280 px) and phone (390 px) width go to --artifacts (a new temp folder by default; printed at the
end), together with the screen, HTML and stack logs of any failing test. --update-docs copies the
screenshots of every page (desktop and phone) to docs/screenshots/ for the README. Other arguments go to unittest
(e.g. -k journey).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vqbrowser  # noqa: E402

# The screenshots the README shows: every page at desktop and phone widths.
DOCS_SCREENSHOTS = {
    "%s-%s.png" % (page, width): "%s-%s.png" % (page, width)
    for page in ("index", "job", "vision", "visions") for width in ("desktop", "phone")
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("VQ_BIN_DIR"),
                        help="folder with vision-queue and the three binaries (swift build --show-bin-path)")
    parser.add_argument("--artifacts", default=os.environ.get("VQ_BROWSER_ARTIFACTS"),
                        help="where screenshots go (default: a new temp folder)")
    parser.add_argument("--update-docs", action="store_true",
                        help="copy the README's screenshots to docs/screenshots/ after a passing run")
    args, rest = parser.parse_known_args()
    if not args.bin:
        parser.error("--bin is required (or VQ_BIN_DIR)")
    for tool in (vqbrowser.CHROMIUM, vqbrowser.CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            sys.exit("%s is missing: install VQ_BROWSER_TEST_PACKAGES from scripts/lib/packages.sh" % tool)

    artifacts = os.path.abspath(args.artifacts or tempfile.mkdtemp(prefix="vq-browser-screens-"))
    os.makedirs(artifacts, exist_ok=True)
    vqbrowser.settings.update(bin_dir=os.path.abspath(args.bin), artifacts=artifacts)

    # SIGTERM (CI timeouts) runs the cleanups too: stacks and browsers are stopped at exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    program = unittest.main(module=None, argv=[sys.argv[0], "discover", "-s", HERE, "-p", "test_*.py",
                                               "-t", HERE, "-v"] + rest, exit=False)
    result = program.result
    elapsed = time.monotonic() - started
    failed = len(result.failures) + len(result.errors) + len(getattr(result, "unexpectedSuccesses", []))
    passed = result.testsRun - failed - len(result.skipped)

    print("\nScreenshots and failure details: %s" % artifacts)
    if args.update_docs and failed == 0 and result.testsRun > 0:
        docs = os.path.join(vqbrowser.REPOSITORY_ROOT, "docs", "screenshots")
        os.makedirs(docs, exist_ok=True)
        for source, target in DOCS_SCREENSHOTS.items():
            shutil.copyfile(os.path.join(artifacts, source), os.path.join(docs, target))
            print("Updated docs/screenshots/%s" % target)
    print("Browser tests took %.1f s" % elapsed)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
