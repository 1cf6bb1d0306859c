"""The Compare page in headless Chromium: open it with two presets, press Play once, and see both
panels move together. Saves tests/artifacts/compare.png (1400 x 1000)."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

# The target: two presets' panels drawn within 2 s of the click. Reported, not asserted: on the
# shared 2-core machine the time follows the other runs on it (docs/performance.md).
DRAWN_WITHIN_S = 2.0


def panel_ts(plot) -> list[tuple[int, int]]:
    """Each panel's (t, T) as its title names it, as drawn."""
    texts = plot.evaluate("g => Array.from(g.querySelectorAll('.annotation-text')).map(a => a.textContent)")
    return [tuple(int(v) for v in re.search(r"t = (\d+) of (\d+)", s).groups()) for s in texts]


def test_two_presets_play_together(page: Page, app_url, artifacts):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Diffusion", exact=False).first).to_be_visible(timeout=90_000)
    link = page.locator('[data-testid="stSidebarNav"] a', has_text="Compare")
    clicked = time.perf_counter()
    link.click()
    plot = page.locator(".st-key-compare_chart .js-plotly-plot").first
    page.wait_for_function(
        """() => { const g = document.querySelector('.st-key-compare_chart .js-plotly-plot');
                   return g && g._fullLayout && g.querySelectorAll('.annotation-text').length === 2; }""",
        timeout=90_000,
    )
    drawn_s = time.perf_counter() - clicked
    assert panel_ts(plot) == [(40, 40), (10, 10)]
    assert "compare=preset%3Adefault%2Cpreset%3AT10" in page.url or "compare=preset:default,preset:T10" in page.url
    print(f"Compare with two presets: panels drawn {drawn_s:.2f} s after the click (target {DRAWN_WITHIN_S} s)")

    plot.locator(".updatemenu-button", has_text="Play").click()
    seen = []
    deadline = time.monotonic() + 45  # 41 frames at 200 ms; software WebGL on a busy machine is slower
    while time.monotonic() < deadline:
        ts = panel_ts(plot)
        if not seen or ts != seen[-1]:
            seen.append(ts)
        if ts[0][0] == 0:
            break
        time.sleep(0.1)
    assert len(seen) >= 5, f"the animation did not advance: {seen}"
    # together: at every drawn frame both panels stand at the same fraction of their chains
    for (t_a, T_a), (t_b, T_b) in seen:
        assert abs(t_a / T_a - t_b / T_b) <= 0.5 / T_b + 1e-9, seen
    assert seen[-1] == [(0, 40), (0, 10)], seen[-1]
    page.screenshot(path=str(artifacts / "compare.png"))
