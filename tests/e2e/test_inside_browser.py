"""The "Inside the chains" page in headless Chromium: open it, follow points, see their lines.

Saves a screenshot of each tab to tests/artifacts/inside_<tab>.png (1400 x 1000 viewport).
"""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

SLOW_S = 90_000  # ms: the first open computes the chains and the densities on a busy machine


def chart(page: Page, key: str):
    return page.locator(f".st-key-{key} .js-plotly-plot").first


def wait_idle(page: Page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress (the status widget shows only while one runs)."""
    time.sleep(0.3)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)


def shot(page: Page, path) -> None:
    """The whole page: Streamlit scrolls inside stMain, so grow the viewport to the content first."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], int(height) + 40), 6000)})
    time.sleep(1.0)  # Plotly relayouts and WebGL redraws after the resize
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def test_follow_points_draws_their_paths(page: Page, app_url, artifacts, timings):
    started = time.perf_counter()
    page.goto(app_url + "/inside")
    expect(page.get_by_role("heading", name="Inside the chains")).to_be_visible(timeout=SLOW_S)
    fwd = chart(page, "inside_forward_paths")
    expect(fwd).to_be_visible(timeout=SLOW_S)
    timings["first open of Inside the chains until its path chart is in the page"] = time.perf_counter() - started
    wait_idle(page)

    k = page.get_by_role("spinbutton", name="Points to follow k")
    k.fill("12")
    k.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Follow k random points").click()
    expect(page.get_by_text("Following 12 random points")).to_be_visible(timeout=30_000)
    wait_idle(page)
    time.sleep(1.0)  # WebGL draws after the element appears
    for key in ("inside_forward_paths", "inside_reverse_paths"):
        info = chart(page, key).evaluate("""g => ({
            breaks: Array.from(g._fullData[1].x).filter(v => Number.isNaN(v)).length,
            frames: g._transitionData._frames.length,
            canvases: [...g.querySelectorAll('canvas')].filter(c => c.width > 0 && c.height > 0).length,
        })""")
        assert info["breaks"] == 12 and info["frames"] == 41 and info["canvases"] >= 1, (key, info)
    shot(page, artifacts / "inside_follow.png")

    for tab, key in (("Densities", "inside_density_pair"), ("Probe the kernel", "inside_probe_chart")):
        page.get_by_role("tab", name=tab).click()
        expect(chart(page, key)).to_be_visible(timeout=30_000)
        wait_idle(page)
        shot(page, artifacts / f"inside_{key.removeprefix('inside_')}.png")


def test_the_density_slider_moves_the_frame_and_a_click_probes_there(page: Page, app_url):
    page.goto(app_url + "/inside")
    expect(page.get_by_role("heading", name="Inside the chains")).to_be_visible(timeout=SLOW_S)
    wait_idle(page)

    page.get_by_role("tab", name="Densities").click()
    pair = chart(page, "inside_density_pair")
    expect(pair).to_be_visible(timeout=30_000)
    wait_idle(page)

    def titles() -> list[str] | None:
        """The drawn chart's titles; None while plotly (re)draws it and has no layout yet."""
        return chart(page, "inside_density_pair").evaluate(
            "g => g._fullLayout ? (g._fullLayout.annotations || []).map(a => a.text)"
            ".concat([g._fullLayout.title.text || '']) : null"
        )

    deadline = time.monotonic() + 30
    while (before := titles()) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert before is not None, "the density chart was never drawn"
    # A click on the slider's track, three quarters along: another t than the middle one shown first.
    box = page.locator(".st-key-inside_density_t").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + box["height"] - 12)
    wait_idle(page)
    expect(chart(page, "inside_density_pair")).to_be_visible(timeout=30_000)
    deadline = time.monotonic() + 30
    while titles() in (before, None) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert titles() not in (before, None), before  # the heatmaps of another t

    page.get_by_role("tab", name="Probe the kernel").click()
    probe = chart(page, "inside_probe_chart")
    expect(probe).to_be_visible(timeout=30_000)
    wait_idle(page)
    time.sleep(1.0)
    x_input = page.get_by_role("spinbutton", name="x", exact=True)
    start_x = float(x_input.input_value())
    # The pixel of a data point far from the default probe point: the trace with the most points.
    target = probe.evaluate("""g => {
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, box = g.getBoundingClientRect();
        const tr = g._fullData.reduce((a, b) => ((b.x || []).length > (a.x || []).length ? b : a));
        let best = 0, far = -1;
        for (let i = 0; i < tr.x.length; i++) {
            const d = Math.hypot(tr.x[i] - (-0.2), tr.y[i] - 0.4);
            if (d > far && Math.abs(tr.x[i]) < 1.5 && Math.abs(tr.y[i]) < 1.5) { far = d; best = i; }
        }
        return {x: tr.x[best], y: tr.y[best],
                px: box.left + xa._offset + xa.l2p(tr.x[best]), py: box.top + ya._offset + ya.l2p(tr.y[best])};
    }""")
    page.mouse.move(target["px"], target["py"])
    time.sleep(0.3)
    page.mouse.click(target["px"], target["py"])
    deadline = time.monotonic() + 30
    while float(x_input.input_value()) == start_x and time.monotonic() < deadline:
        time.sleep(0.3)
    moved_x = float(x_input.input_value())
    assert moved_x != start_x and abs(moved_x - target["x"]) < 0.3, (start_x, moved_x, target)


def test_a_box_dragged_on_the_reverse_chart_follows_its_points(page: Page, app_url, artifacts):
    """A real drag on the animation (Streamlit makes box select the drag mode of a chart with
    selections on): the points in the box get their paths and dots, on the same chart, and Play
    keeps them."""
    page.goto(app_url + "/reverse")
    rev = chart(page, "reverse_chart")
    expect(rev).to_be_visible(timeout=SLOW_S)
    wait_idle(page)
    time.sleep(1.0)
    assert rev.evaluate("g => g._fullData.length") == 3  # nothing followed yet
    # The box from (-0.6, -0.6) to (0.6, 0.6) in data units, at t = T: a few hundred of N(0, I)'s points.
    corners = rev.evaluate("""g => {
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, box = g.getBoundingClientRect();
        const px = v => box.left + xa._offset + xa.l2p(v), py = v => box.top + ya._offset + ya.l2p(v);
        return {x0: px(-0.6), y0: py(0.6), x1: px(0.6), y1: py(-0.6), dragmode: g._fullLayout.dragmode};
    }""")
    assert corners["dragmode"] == "select", corners
    page.mouse.move(corners["x0"], corners["y0"])
    page.mouse.down()
    for step in range(1, 11):  # in steps: Plotly draws the box from the moves between down and up
        f = step / 10
        page.mouse.move(
            corners["x0"] + f * (corners["x1"] - corners["x0"]), corners["y0"] + f * (corners["y1"] - corners["y0"])
        )
    page.mouse.up()
    expect(page.get_by_text("points selected: following 50 of them")).to_be_visible(timeout=30_000)
    wait_idle(page)
    time.sleep(1.0)
    rev = chart(page, "reverse_chart")

    def followed() -> dict:
        return rev.evaluate("""g => ({
            traces: g._fullData.length,
            breaks: Array.from(g._fullData[3].x).filter(v => Number.isNaN(v)).length,
            starts: Array.from(g._fullData[5].x).map((x, i) => [x, g._fullData[5].y[i]]),
            frames: g._transitionData._frames.length,
        })""")

    info = followed()
    assert info["traces"] == 6 and info["breaks"] == 50, info
    assert all(abs(x) <= 0.6 + 1e-6 and abs(y) <= 0.6 + 1e-6 for x, y in info["starts"]), info["starts"]
    shot(page, artifacts / "reverse_follow.png")
    # Play: the frames move the dots, the lines stay.
    page.get_by_text("▶ Play").first.click()
    deadline = time.monotonic() + 15
    while followed()["starts"] == info["starts"] and time.monotonic() < deadline:
        time.sleep(0.3)
    after = followed()
    assert after["traces"] == 6 and after["breaks"] == 50, after
    assert after["starts"] != info["starts"]  # the dots moved with the chain
