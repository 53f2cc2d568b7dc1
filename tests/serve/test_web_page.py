"""The web page at ``/`` in a real browser: Playwright drives Debian's Chromium against the
real ``trustrec serve`` on loopback. Skips where playwright or the browser is absent (no
browser is downloaded: ``.ci/run`` installs the ``chromium`` Debian package)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.cli.test_serve import _free_port, _start
from trustrec.serve.security import create_key
from trustrec.serve.store import EventStore

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install playwright)")

#: The browser binary (Debian's ``chromium`` package); override to try another Chromium.
CHROMIUM = Path(os.environ.get("TRUSTREC_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def test_page_recommends_takes_feedback_and_reports_errors(model_dir: Path,
                                                           tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    expect = sync_api.expect
    db = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(db)
    key = create_key(store, "browser", "write", users=["u0"])  # an end-user token for u0
    port = _free_port()
    server = _start(model_dir, db, port)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                csp_violations: list[str] = []
                page.on("console", lambda msg: csp_violations.append(msg.text)
                        if "Content Security Policy" in msg.text else None)
                page.set_default_timeout(15_000)
                expect.set_options(timeout=15_000)
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page).to_have_title("trustrec")

                # a user's list needs a key that may read that user
                page.fill("#user", "u0")
                page.click("#show")
                expect(page.locator("#status")).to_contain_text("API key is required")
                page.fill("#key", key)
                page.fill("#user", "u1")
                page.click("#show")
                expect(page.locator("#status")).to_contain_text("may not act for")

                # the user's top-10, each with its explanation and feedback buttons
                page.fill("#user", "u0")
                page.click("#show")
                recs = page.locator("#recs > li")
                expect(recs).to_have_count(10)
                expect(recs.first.locator(".why")).to_contain_text("Because you rated")
                before = [recs.nth(n).get_attribute("data-item") for n in range(10)]
                assert all(before) and len(set(before)) == 10

                # feedback without a key: the page shows the 401, the list stays
                page.fill("#key", "")
                recs.first.locator("button.like").click()
                expect(page.locator("#status")).to_contain_text("API key is required")
                expect(recs.first).to_have_attribute("data-item", before[0])

                # with the key: a dislike removes the item, a like moves it to history
                page.fill("#key", key)
                recs.first.locator("button.dislike").click()
                expect(page.locator(f'#recs > li[data-item="{before[0]}"]')).to_have_count(0)
                expect(recs).to_have_count(10)
                liked = recs.first.get_attribute("data-item")
                recs.first.locator("button.like").click()
                expect(page.locator(f'#recs > li[data-item="{liked}"]')).to_have_count(0)
                expect(recs).to_have_count(10)
                expect(page.locator("#status")).to_have_text("")

                # search on a model without item text: the page says why, lists nothing
                page.fill("#query", "funny space adventure")
                page.click("#search")
                expect(page.locator("#status")).to_contain_text("cannot search")
                expect(page.locator("#found > li")).to_have_count(0)
                assert not csp_violations, csp_violations  # the page runs under its CSP
            finally:
                browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    stored = store.export()
    store.close()
    assert stored[["user_id", "item_id", "type"]].values.tolist() == \
        [["u0", before[0], "dislike"], ["u0", liked, "like"]]
