"""Every page at a lecture's screen sizes: 1400x1000 (a laptop) and 390x844 (a phone), each in one
browser context, the pages visited in turn (a projector's 1920x1080 is the lesson test's).

A screenshot of the viewport (what the lecturer sees without scrolling) of each page goes to
tests/artifacts/layout_<size>_<page>.png. Checked with bounding boxes: the animations' Play button
and t slider lie inside the viewport and apart, on a laptop without scrolling, on a
phone once scrolled to them (..._controls.png); the Train page's Start button is in view; at
390 px the Train page's three live panels stack, each at the screen's width, their titles apart
(..._chart.png); during a run the Train page's three live panels and its Pause button are in view at
1400x1000, unscrolled (layout_1400x1000_train_run.png); with the banner of
changed settings the Reverse page's Play and slider stay in view (layout_1400x1000_reverse_mismatch.png).
"""

from __future__ import annotations

import time

import pytest
from boxes import inside, overlap
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# 1920x1080, a projector's, is larger than a laptop's both ways; its check is the lesson's, which
# visits the pages at that size in projector mode (test_lesson_browser.py).
SIZES = {"1400x1000": (1400, 1000), "390x844": (390, 844)}
# (name, path, chart key or None): the mismatch banner (settings that differ from the model's)
# pushes the Forward page's chart down, the case most likely to push its controls out of view.
PAGES = [
    ("overview", "/", "figure1"),
    ("train", "/train", "model_chart"),
    ("forward", "/forward", "forward_chart"),
    ("forward_mismatch", "/forward?T=60&schedule=linear", "forward_chart"),
    ("reverse", "/reverse", "reverse_chart"),
    ("bound", "/bound", "bound_kl"),
]
ANIMATED = {"forward_chart", "reverse_chart"}


def wait_idle(page: Page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress: the status widget exists only while one runs (bounded)."""
    time.sleep(0.3)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)


def collapse_sidebar(page: Page) -> None:
    """On a phone Streamlit opens with the sidebar collapsed; make sure, so the shot shows the page."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    if sidebar.get_attribute("aria-expanded") == "true":
        page.locator('[data-testid="stSidebarCollapseButton"] button').click()
        time.sleep(0.5)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_the_screen(browser, app_url, artifacts, size):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    problems: list[str] = []
    try:
        for name, path, key in PAGES:
            page.goto(app_url + path)
            plot = page.locator(f".st-key-{key} .js-plotly-plot").first
            expect(plot).to_be_visible(timeout=90_000)
            wait_idle(page)
            if width < 600:
                collapse_sidebar(page)
            time.sleep(1.0)  # WebGL draws after the element appears
            page.screenshot(path=str(artifacts / f"layout_{size}_{name}.png"))
            if key in ANIMATED:
                if width < 600:  # a phone scrolls to the chart; there the controls must fit together
                    plot.locator(".slider-group").scroll_into_view_if_needed()
                    time.sleep(0.3)
                    page.screenshot(path=str(artifacts / f"layout_{size}_{name}_controls.png"))
                play = plot.locator(".updatemenu-button", has_text="Play").bounding_box()
                pause = plot.locator(".updatemenu-button", has_text="Pause").bounding_box()
                slider = plot.locator(".slider-group").bounding_box()
                for what, box in (("Play", play), ("Pause", pause), ("the t slider", slider)):
                    if box is None or not inside(box, width, height):
                        problems.append(f"{name}: {what} is not inside the {size} viewport: {box}")
                for what, box in (("Play", play), ("Pause", pause)):
                    if box and slider and overlap(box, slider):
                        problems.append(f"{name}: {what} {box} overlaps the t slider {slider}")
            if name == "train":
                start_button = page.get_by_role("button", name="Start new run")
                if width < 600:
                    start_button.scroll_into_view_if_needed()
                start = start_button.bounding_box()
                if start is None or not inside(start, width, height):
                    problems.append(f"train: Start new run is not inside the {size} viewport: {start}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


LIVE_PANELS = ("loss", "per_t", "samples")


def plot_areas(page: Page, row: str) -> dict[str, dict | None]:
    """Each live panel's plot area (Plotly's drag rectangle), by panel name."""
    return {
        name: page.locator(f".st-key-{row}_{name} .js-plotly-plot .nsewdrag").first.bounding_box()
        for name in LIVE_PANELS
    }


def test_the_train_panels_stack_readably_on_a_phone(browser, app_url, artifacts):
    """Each live panel its own chart, the columns stacked: every panel as wide as the screen, the
    samples' square plot area a real size, no title over another or over a plot."""
    width, height = SIZES["390x844"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(app_url + "/train")
        row = page.locator(".st-key-model_chart")
        expect(row.locator(".js-plotly-plot")).to_have_count(3, timeout=90_000)
        wait_idle(page)
        collapse_sidebar(page)
        row.locator(".js-plotly-plot").nth(1).scroll_into_view_if_needed()
        time.sleep(1.0)
        page.screenshot(path=str(artifacts / "layout_390x844_train_chart.png"))
        charts = [
            page.locator(f".st-key-model_chart_{name} .js-plotly-plot").first.bounding_box() for name in LIVE_PANELS
        ]
        areas = plot_areas(page, "model_chart")
        titles = [
            page.locator(f".st-key-model_chart_{name} .js-plotly-plot .gtitle").first.bounding_box()
            for name in LIVE_PANELS
        ]
    finally:
        context.close()
    assert all(c is not None and c["width"] >= 0.9 * (width - 32) for c in charts), charts  # 16 px padding each side
    assert all(charts[i]["y"] + charts[i]["height"] <= charts[i + 1]["y"] + 1 for i in range(2)), charts  # stacked
    samples = areas["samples"]
    assert samples is not None and samples["width"] >= 200 and samples["height"] >= 150, samples
    boxes = [b for b in titles + list(areas.values()) if b]
    assert len(boxes) == 6, boxes
    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if overlap(a, b)]
    assert not clashes, clashes


def test_during_a_run_the_live_panels_are_in_view(browser, app_url, artifacts):
    """A short run in seconds; the three live panels and Pause lie inside a laptop's viewport unscrolled."""
    width, height = SIZES["1400x1000"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(app_url + "/train")
        expect(page.locator(".st-key-model_chart .js-plotly-plot").first).to_be_visible(timeout=90_000)
        wait_idle(page)
        page.get_by_text("seconds", exact=True).click()
        wait_idle(page)
        page.get_by_role("spinbutton", name="Seconds").fill("15")
        page.keyboard.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Start new run").click()
        live = page.locator(".st-key-live_chart")
        expect(live.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stProgress"]').first).to_contain_text("running")
        time.sleep(1.0)
        page.screenshot(path=str(artifacts / "layout_1400x1000_train_run.png"))
        areas = plot_areas(page, "live_chart")
        pause = page.get_by_role("button", name="Pause").bounding_box()
        page.get_by_role("button", name="■ Stop").click()
    finally:
        context.close()
    assert pause is not None and inside(pause, width, height), pause
    # side by side, and at least two thirds of each plot area (its title above it) unscrolled
    assert len({round(b["y"]) for b in areas.values() if b}) == 1, areas
    seen = {name: b for name, b in areas.items() if b is None or b["y"] < 0 or b["y"] + b["height"] * 2 / 3 > height}
    assert not seen, f"not in view at 1400x1000: {seen}"


def test_with_the_mismatch_banner_reverse_keeps_play_in_view(browser, app_url, artifacts):
    """T changed in the sidebar: the banner above the Reverse page leaves Play and the slider in view."""
    width, height = SIZES["1400x1000"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(app_url + "/")
        expect(page.locator(".st-key-figure1 .js-plotly-plot").first).to_be_visible(timeout=90_000)
        wait_idle(page)
        page.locator('[data-testid="stSidebar"]').get_by_role("spinbutton", name="T (diffusion steps)").fill("60")
        page.keyboard.press("Enter")
        wait_idle(page)
        page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Reverse process").click()
        plot = page.locator(".st-key-reverse_chart .js-plotly-plot").first
        expect(plot).to_be_visible(timeout=90_000)
        expect(page.get_by_text("The model no longer matches the settings")).to_be_visible()
        wait_idle(page)
        time.sleep(1.0)
        page.screenshot(path=str(artifacts / "layout_1400x1000_reverse_mismatch.png"))
        boxes = {
            "Play": plot.locator(".updatemenu-button", has_text="Play").bounding_box(),
            "the t slider": plot.locator(".slider-group").bounding_box(),
        }
    finally:
        context.close()
    outside = {what: box for what, box in boxes.items() if box is None or not inside(box, width, height)}
    assert not outside, f"not inside the 1400x1000 viewport: {outside}"
