"""Your own points in a real browser: draw some on the canvas, upload a CSV, train on it briefly,
and see the reverse chain end on the uploaded shape."""

from __future__ import annotations

import re

import numpy as np
from playwright.sync_api import Page, expect
from test_browser import SLOW_S, assert_drawn, chart, full_shot, main, nav, wait_idle

TRAIN_STEPS = 250  # at T = 10: a few seconds; enough to pull samples onto three blobs


def three_blobs(path) -> np.ndarray:
    """A CSV of three tight blobs, in units far from the lab's (centres near 1000)."""
    rng = np.random.default_rng(0)
    centres = np.array([[1000.0, 0.0], [1100.0, 0.0], [1050.0, 90.0]])
    points = centres[rng.integers(0, 3, 1500)] + rng.normal(scale=4.0, size=(1500, 2))
    path.write_text("x,y\n" + "".join(f"{x:.3f},{y:.3f}\n" for x, y in points))
    return centres


def test_draw_points_then_upload_a_csv_train_and_see_its_reverse_chain(page: Page, app_url, artifacts, tmp_path):
    page.goto(app_url + "/train")
    expect(page.get_by_role("button", name="Start new run")).to_be_enabled(timeout=SLOW_S)
    main(page).get_by_text("Your own points: upload a CSV or draw them").click()

    # -------- draw five points on the canvas (Fabric.js: its top canvas takes the clicks)
    canvas = main(page).locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)  # the component binds its mouse handlers after it is drawn
    for x, y in ((60, 60), (300, 60), (180, 180), (60, 300), (300, 300)):
        canvas.click(position={"x": x, "y": y})
    use = page.get_by_role("button", name="Use these 5 points")
    expect(use).to_be_enabled(timeout=30_000)
    use.click()
    expect(main(page).get_by_text("Drawing: 5 points are the data set now")).to_be_visible(timeout=30_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Your own points: drawing, 5 points.")).to_be_visible()

    # -------- a bad file: one message, the drawing stays the data
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\nhello,3\n")
    uploader = main(page).locator('[data-testid="stFileUploader"]').filter(has_text="CSV of 2-D points")
    uploader.locator("input[type=file]").set_input_files(str(bad))
    expect(main(page).get_by_text(re.compile(r"bad\.csv: row 3, column x"))).to_be_visible(timeout=30_000)
    expect(sidebar.get_by_text("Your own points: drawing, 5 points.")).to_be_visible()

    # -------- a good file becomes the data; a short run on it
    good = tmp_path / "blobs.csv"
    centres = three_blobs(good)
    uploader.locator("input[type=file]").set_input_files(str(good))
    expect(main(page).get_by_text("blobs.csv: 1,500 points are the data set now")).to_be_visible(timeout=30_000)
    wait_idle(page)
    t_box = page.get_by_role("spinbutton", name="T (diffusion steps)")
    t_box.fill("10")
    t_box.press("Enter")
    expect(t_box).to_have_value("10")
    wait_idle(page)
    steps = page.get_by_label("Steps", exact=True)
    steps.fill(str(TRAIN_STEPS))
    steps.press("Enter")
    expect(steps).to_have_value(str(TRAIN_STEPS))
    wait_idle(page)
    page.get_by_role("button", name="Start new run").click()
    progress = main(page).locator('[data-testid="stProgress"]')
    expect(progress).to_contain_text("finished", timeout=180_000)
    full_shot(page, artifacts / "data_train.png")

    # -------- the reverse chain of the uploaded shape
    nav(page, "Reverse process")
    plot = chart(page, "reverse_chart")
    expect(plot).to_be_visible(timeout=60_000)
    wait_idle(page)
    assert_drawn(plot, "the reverse chain of the uploaded points")
    full_shot(page, artifacts / "data_reverse.png")
    assert plot.evaluate("g => g.layout.sliders[0].steps.length") > 1, "an animation over t"
    # the samples, downloaded as CSV, lie on the blobs in the file's own units
    with page.expect_download() as download:
        main(page).get_by_role("button", name="Download the samples (CSV)").click()
    rows = np.loadtxt(download.value.path(), delimiter=",", skiprows=1)
    nearest = np.min(np.linalg.norm(rows[:, None, -2:] - centres[None], axis=2), axis=1)
    assert np.median(nearest) < 20, f"samples are not on the blobs: median distance {np.median(nearest):.1f}"
