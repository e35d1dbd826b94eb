"""The report charts at phone width (390 px) in Chromium: their text stays readable (drawn at 11 px, not
shrunk to 6 px with the screen) and they scroll sideways inside their panel, never the page."""
from __future__ import annotations

from tests.browser.test_reports_page import seed_traffic
from tests.browser.test_review_browser import log_in
from tests.review_seed import add_reviewer

PHONE = 390
MIN_TEXT_PX = 10.0


def test_chart_text_is_readable_at_phone_width(browser, live_server, app, artifacts):
    store = app.extensions["store"]
    add_reviewer(store)
    seed_traffic(store)
    context = browser.new_context(viewport={"width": PHONE, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server, path="/reports")
        page.screenshot(path=str(artifacts / f"reports-charts-{PHONE}px.png"), full_page=True)
        sizes = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(svg => {
            const text = svg.querySelector('text');
            return {label: svg.getAttribute('aria-label'),
                    px: parseFloat(getComputedStyle(text).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width};
        })""")
        assert len(sizes) == 4
        small = [size for size in sizes if size["px"] < MIN_TEXT_PX]
        assert not small, f"chart text below {MIN_TEXT_PX} px at {PHONE} px: {small}"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
        # The wide chart scrolls inside its own box.
        assert page.evaluate("(() => { const box = document.querySelector('[data-testid=chart-by_month]');"
                             " return box.scrollWidth > box.clientWidth; })()")
    finally:
        context.close()
