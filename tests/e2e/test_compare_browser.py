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
    # As a reader would: the Overview drawn first (its Figure 1) and read for a moment, while the
    # server starts its training process, so that the time is the Compare page's own.
    page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot'); return g && g._fullLayout; }")
    page.wait_for_timeout(3_000)
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


def test_a_two_value_sweep_joins_the_comparison(page: Page, app_url, artifacts):
    """Sweep T at 10 and 20 with short runs: each gets a progress line, and both join the two
    presets in the chart. Saves compare_sweep_running.png and compare_sweep.png."""
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Compare").click(timeout=90_000)
    chart = ".st-key-compare_chart .js-plotly-plot"
    page.wait_for_selector(chart, timeout=90_000)
    page.get_by_text("Sweep a setting").click()
    values = page.get_by_role("textbox", name="Values (2 to 4, separated by commas)")
    values.fill("10, 20")
    values.press("Enter")
    steps = page.get_by_role("spinbutton", name="Steps per run")
    steps.fill("100")
    steps.press("Enter")
    page.get_by_role("button", name="Start sweep").click()
    # one line per run, named by its value, while the runs queue or train
    bars = page.locator('[data-testid="stProgress"]')
    expect(bars).to_have_count(2, timeout=30_000)
    expect(bars.nth(0)).to_contain_text("T=10")
    expect(bars.nth(1)).to_contain_text("T=20")
    try:  # short runs: the page may redraw them only queued and then finished
        expect(page.locator('[data-testid="stProgress"]', has_text="running").first).to_be_visible(timeout=5_000)
        page.screenshot(path=str(artifacts / "compare_sweep_running.png"))
    except AssertionError:
        pass
    page.wait_for_function(
        f"""() => {{ const g = document.querySelector('{chart}');
                    return g && g.querySelectorAll('.annotation-text').length === 4; }}""",
        timeout=90_000,
    )
    plot = page.locator(chart).first
    assert panel_ts(plot) == [(40, 40), (10, 10), (10, 10), (20, 20)]
    titles = plot.evaluate("g => Array.from(g.querySelectorAll('.annotation-text')).map(a => a.textContent)")
    assert titles[2].startswith("sweep T=10") and titles[3].startswith("sweep T=20"), titles
    expect(bars.nth(1)).to_contain_text("finished")
    page.screenshot(path=str(artifacts / "compare_sweep.png"), full_page=True)
