"""Take the README's screenshots from a running demo (``make demo``) with Debian's headless Chromium.

Usage: .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots] [--only NAME ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

PASSWORD = "demo-pass-2026"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

# (file name, user, path, optional CSS selector of a link to follow first)
SHOTS = [
    ("overview", "olivia", "/monitoring/", None),
    ("agent-dashboard", "olivia", "/monitoring/agents/billing-agent/?range=7d", None),
    ("runs", "olivia", "/monitoring/runs/", None),
    ("agent-runs", "olivia", "/monitoring/agents/refund-agent/runs/?range=24h", None),
    ("trace", "olivia", "/monitoring/runs/?status=error", "table a[href*='/monitoring/runs/']"),
    ("alerts", "olivia", "/monitoring/alerts/", None),
    ("root-causes", "olivia", "/monitoring/root-causes/", None),
    ("compare", "olivia", "/monitoring/agents/billing-agent/compare/", None),
    ("agent-map", "olivia", "/monitoring/map/", None),
    ("registry", "olivia", "/registry/agents/", None),
    ("queues", "rita", "/handoffs/", None),
    ("queue", "rita", "/handoffs/", "a[href*='/handoffs/queues/']"),
    ("ticket", "rita", "/handoffs/mine/", "a[href*='/handoffs/tickets/']"),
    ("queue-metrics", "olivia", "/handoffs/metrics/", None),
    ("roi-report", "fiona", "/roi/", None),
    ("assumptions", "fiona", "/roi/assumptions/", None),
    ("spend", "fiona", "/roi/spend/", None),
    ("lifecycle-board", "olivia", "/lifecycle/", None),
    ("lifecycle-agent", "olivia", "/lifecycle/agents/billing-agent/", None),
    ("lifecycle-portfolio", "fiona", "/lifecycle/portfolio/", None),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="take only these screenshots (file names without .png)")
    opts = parser.parse_args()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        pages = {}
        for name, user, path, follow in SHOTS:
            if opts.only and name not in opts.only:
                continue
            if user not in pages:
                ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                page = ctx.new_page()
                page.goto(f"{opts.base}/login/")
                page.fill("#id_username", user)
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                pages[user] = page
            page = pages[user]
            page.goto(f"{opts.base}{path}")
            page.wait_for_load_state("networkidle")
            if follow:
                link = page.locator(follow).first
                if link.count():
                    link.click()
                    page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)  # let Plotly finish drawing
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)
            print(f"saved {out / f'{name}.png'} ({page.url})")
        browser.close()


if __name__ == "__main__":
    main()
