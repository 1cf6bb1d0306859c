"""The pages' slide exports: a click draws the file, then a download button offers its bytes."""

import io

import imageio.v3 as iio
import pytest
from PIL import Image


@pytest.mark.parametrize(
    "page, key, fmt",
    [("pages/forward.py", "fwd_gif", ".gif"), ("pages/reverse.py", "rev_mp4", ".mp4")],
)
def test_chain_export_draws_then_offers_the_file(at, page, key, fmt):
    at.switch_page(page).run()
    before = len(at.get("download_button"))
    at.button(key=key).click().run()
    assert not at.exception
    assert len(at.get("download_button")) == before + 1
    token, data = at.session_state[f"_export_{key}"]
    assert token[0].endswith(fmt)
    if fmt == ".gif":
        assert iio.imread(data, index=None, extension=".gif").shape == (41, 800, 800, 3)
    else:
        assert data[4:8] == b"ftyp"  # an MP4 container
    at.run()  # the next rerun with the same settings still offers it
    assert len(at.get("download_button")) == before + 1


def test_overview_figure1_png(at):
    at.switch_page("pages/overview.py").run()
    at.button(key="fig1_png").click().run()
    assert not at.exception
    _, data = at.session_state["_export_fig1_png"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1920, 1080)
