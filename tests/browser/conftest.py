"""Headless Chromium (Debian's package) driven by Playwright against pytest-django's live server.

Never let Playwright download a browser: we always pass executable_path.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (fixtures, assertions) are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# The two screens every journey is walked on: a laptop and a phone.
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def new_page(browser, live_server):
    """Factory: a fresh browser context (own cookies) signed in as ``user``; closed after the test.
    ``screen`` is "desktop" (1440x900) or "phone" (390x844, touch)."""
    contexts = []

    def _open(user=None, screen: str = "desktop"):
        phone = screen == "phone"
        context = browser.new_context(viewport=VIEWPORTS[screen], timezone_id="UTC", is_mobile=phone, has_touch=phone)
        context.set_default_timeout(45_000)  # a bound, not a wait: generous for a busy 2-core CI host
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            login(page, live_server.url, user.username)
        return page

    yield _open
    for c in contexts:
        c.close()


def login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


AXE = os.path.join(os.path.dirname(__file__), "vendor", "axe.min.js")  # axe-core 4.14.1 (MPL-2.0), vendored


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """Run axe-core in the page (WCAG 2 A/AA rules) and describe each violation of ``impacts``."""
    # Evaluated over the DevTools protocol, which the page's Content-Security-Policy does not govern
    # (a script tag would be refused: the policy allows no inline script).
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        with open(AXE, encoding="utf-8") as f:
            page.evaluate(f"() => {{ {f.read()}\n; window.axe = axe; }}")
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> " + "; ".join(str(n["target"][0]) for n in v["nodes"][:12])
        for v in result["violations"] if v["impact"] in impacts
    ]
