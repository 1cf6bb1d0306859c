"""The guided lesson and projector mode in headless chromium.

- A teacher's link (`/?lesson=paper&scene=1&projector=1`, 1920x1080) opens scene 1; every scene is
  then stepped to, with the Next button and with the → key (and once back with ←), each drawn
  without an exception on the page or in the console; the page fixture fails the test on any
  request to another host. Each step is timed from the click or key press to the new scene drawn
  (its lesson bar, and its page's chart, at the scene's t where it names one): the target is
  1.5 s (docs/performance.md), asserted against a generous bound, since these tests share the
  machine's cores. Screenshots: tests/artifacts/lesson_1920x1080_scene<k>.png.
- Projector mode at 1920x1080 (on the way through the lesson) and at 1280x720, every scene: the
  bar's buttons keep their whole labels inside the screen and apart from the title; nothing is wider than the screen; an
  animation's Play, Pause and slider do not overlap, and at 1920x1080 they are in view unscrolled.
  Screenshots: tests/artifacts/lesson_1920x1080_scene<k>.png and projector_1280x720_scene<k>.png.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from boxes import inside, overlap
from playwright.sync_api import Page

from diffusion import lesson as engine

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCENES = engine.load_lesson(ROOT / "assets" / "lesson_paper.json").scenes
TARGET_S = 1.5  # next/previous: the new scene drawn
GENEROUS_S = 20.0  # a step on a machine busy with other work: only a frozen page fails it
TALK_S = 1.5  # between steps, as a teacher talks (the next scene's views are built meanwhile)
# The chart that each page draws last above the fold, by its key.
CHARTS = {
    "overview": "figure1",
    "train": "model_chart",
    "forward": "forward_chart",
    "reverse": "reverse_chart",
    "bound": "bound_kl",
    "compare": "compare_chart",
    "inside": "inside_forward_paths",
}
DRAWN = """([k, n, key, t]) => {
  const bar = document.querySelector('.st-key-lesson_bar');
  if (!bar || bar.closest('[data-stale="true"]') || !bar.innerText.includes(`Scene ${k} of ${n}`)) return false;
  const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!g || !g._fullLayout || g.closest('[data-stale="true"]')) return false;
  if (t === null) return true;
  const title = g.querySelector('.gtitle');
  return !!title && title.textContent.includes(`t = ${t}`);
}"""


def wait_idle(page: Page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress (the status widget exists only while one runs)."""
    time.sleep(0.3)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)


def wait_drawn(page: Page, k: int, timeout_ms: float = 90_000) -> None:
    scene = SCENES[k - 1]
    page.wait_for_function(DRAWN, arg=[k, len(SCENES), CHARTS[scene.page], scene.t], polling="raf", timeout=timeout_ms)


def timed_step(page: Page, k: int, how: str) -> float:
    """Press Next/Previous (a click, or its key) and wait for scene `k`: the seconds in between."""
    started = time.perf_counter()
    if how == "click next":
        page.locator(".st-key-lesson_next button").first.click()
    elif how == "key →":
        page.keyboard.press("ArrowRight")
    elif how == "key ←":
        page.keyboard.press("ArrowLeft")
    else:
        page.locator(".st-key-lesson_prev button").first.click()
    wait_drawn(page, k, GENEROUS_S * 1000 * 3)
    return time.perf_counter() - started


def no_exception(page: Page) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, shown.first.inner_text()[:500]


def test_the_lesson_link_steps_through_every_scene(page: Page, app_url, artifacts, timings):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(app_url + "/?lesson=paper&scene=1&projector=1")
    wait_drawn(page, 1)
    no_exception(page)
    assert page.locator('[data-testid="stSidebar"]').get_attribute("aria-expanded") != "true"
    wait_idle(page)
    problems = layout_problems(page, 1, 1920, 1080)
    steps = []
    for k in range(2, len(SCENES) + 1):
        wait_idle(page)
        time.sleep(TALK_S)
        page.mouse.move(5, 500)  # off the buttons: no tooltip in the screenshot
        if SCENES[k - 2].page == "train":  # an arrow typed in a number field moves the caret, not the lesson
            steps_field = page.get_by_role("spinbutton", name="Steps", exact=True)
            steps_field.click()
            page.keyboard.press("ArrowRight")
            time.sleep(1.5)
            assert (
                f"scene={k - 1}" in page.url
                and page.locator(".st-key-lesson_bar").inner_text().find(f"Scene {k - 1} of") >= 0
            ), "→ in a field changed the scene"
            page.mouse.click(5, 500)  # out of the field
        how = "key →" if k % 3 == 0 else "click next"
        seconds = timed_step(page, k, how)
        steps.append(seconds)
        timings[f"lesson: scene {k} ({SCENES[k - 1].page}) drawn after {how}"] = seconds
        wait_idle(page)
        no_exception(page)
        assert f"scene={k}" in page.url and "lesson=paper" in page.url and "projector=1" in page.url
        page.mouse.move(5, 500)
        time.sleep(0.5)  # WebGL draws after the element appears
        page.screenshot(path=str(artifacts / f"lesson_1920x1080_scene{k}.png"))
        problems += layout_problems(page, k, 1920, 1080)
    assert not problems, "\n".join(problems)
    time.sleep(TALK_S)
    back = timed_step(page, len(SCENES) - 1, "key ←")
    timings["lesson: back one scene with ←"] = back
    no_exception(page)
    assert not page.js_errors, page.js_errors[:5]
    median = statistics.median(steps + [back])
    print(f"lesson steps: median {median:.2f} s, max {max(steps + [back]):.2f} s (target {TARGET_S} s)")
    timings["lesson: median step to the new scene drawn"] = median
    assert max(steps + [back]) < GENEROUS_S
    assert median < 3 * TARGET_S, f"median step {median:.2f} s"


CUT_LABELS = """() => Array.from(document.querySelectorAll('.st-key-lesson_bar button')).filter(b => b.offsetWidth > 0)
  .map(b => [b.innerText.trim(), b.scrollWidth > b.clientWidth + 1 || Array.from(b.querySelectorAll('*'))
    .some(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow === 'hidden')])"""
WIDEST = """() => { const main = document.querySelector('[data-testid="stMain"]');
  return Math.max(...Array.from(main.querySelectorAll('[data-testid="stElementContainer"]'))
    .filter(e => e.offsetWidth > 0).map(e => e.getBoundingClientRect().right)); }"""


def layout_problems(page: Page, k: int, width: int, height: int) -> list[str]:
    """What does not fit in scene `k` on a `width` x `height` screen in projector mode."""
    problems = []
    where = f"scene {k} ({SCENES[k - 1].page}) at {width}x{height}"
    title = page.locator(".st-key-lesson_bar p").first.bounding_box()
    buttons = {
        label: page.locator(f".st-key-lesson_{key} button").first.bounding_box()
        for label, key in (("Previous", "prev"), ("Next", "next"), ("End", "end"))
    }
    for label, box in buttons.items():
        if box is None or not inside(box, width, 10**6, slack=1):
            problems.append(f"{where}: {label} is not on the screen: {box}")
        elif title and overlap(box, title):
            problems.append(f"{where}: {label} {box} overlaps the scene's title {title}")
    boxes = [b for b in buttons.values() if b]
    if any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]):
        problems.append(f"{where}: the lesson's buttons overlap: {boxes}")
    cut = [label for label, truncated in page.evaluate(CUT_LABELS) if truncated]
    if cut:
        problems.append(f"{where}: cut button labels {cut}")
    widest = page.evaluate(WIDEST)
    if widest > width + 1:
        problems.append(f"{where}: an element reaches x = {widest:.0f}, past the {width} px screen")
    plot = page.locator(f".st-key-{CHARTS[SCENES[k - 1].page]} .js-plotly-plot").first
    if plot.locator(".slider-group").count():
        controls = {
            "Play": plot.locator(".updatemenu-button", has_text="Play").bounding_box(),
            "Pause": plot.locator(".updatemenu-button", has_text="Pause").bounding_box(),
            "the t slider": plot.locator(".slider-group").first.bounding_box(),
        }
        found = [b for b in controls.values() if b]
        if any(overlap(a, b) for i, a in enumerate(found) for b in found[i + 1 :]):
            problems.append(f"{where}: the animation's controls overlap: {controls}")
        if width >= 1920 and SCENES[k - 1].page in ("forward", "reverse"):
            for what, box in controls.items():
                if box is None or not inside(box, width, height, slack=1):
                    problems.append(f"{where}: {what} is not in view unscrolled: {box}")
    return problems


def test_projector_mode_fits_a_small_projector_in_every_scene(browser, app_url, artifacts):
    """1280x720; the lesson test above checks 1920x1080 on its way through the scenes."""
    width, height = 1280, 720
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    problems: list[str] = []
    try:
        page.goto(app_url + "/?lesson=paper&scene=1&projector=1")
        assert page.locator('[data-testid="stSidebar"]').get_attribute("aria-expanded") != "true"
        for k in range(1, len(SCENES) + 1):
            if k > 1:
                page.locator(".st-key-lesson_next button").first.click()
            wait_drawn(page, k)
            wait_idle(page)
            page.mouse.move(5, height // 2)
            time.sleep(1.0)  # WebGL draws after the element appears
            page.screenshot(path=str(artifacts / f"projector_{width}x{height}_scene{k}.png"))
            problems += layout_problems(page, k, width, height)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
