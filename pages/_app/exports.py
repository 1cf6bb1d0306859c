"""The pages' slide exports (GIF, MP4, PNG): drawn on a click, with a progress bar, then offered.

A `st.download_button` with a callable would draw the file lazily too, but Streamlit ignores
every element the callable makes, so it could show no progress, and at the pages' largest N a
GIF is long enough in the drawing to need one. So the click is an ordinary button that draws the
file under a progress bar, and a download button for the finished bytes appears under it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import PurePath

import streamlit as st

from diffusion import export, views
from diffusion.figures import ARROWS_FIXED
from diffusion.views import ChainView

MIME = {".gif": "image/gif", ".mp4": "video/mp4", ".png": "image/png"}


def export_button(
    where, label: str, key: str, file_name: str, build: Callable[[export.Progress], bytes], token: Hashable = None
) -> None:
    """`label` draws the file with `build(progress)` under a progress bar; then "Save FILE" downloads it.

    The bytes stay in the session for this `token` (what the file shows; the file name by default)
    only: once the page's settings change, the old file is no longer offered.
    """
    token = (file_name, token)
    slot = f"_export_{key}"
    if where.button(label, key=key, icon=":material/movie:" if label.endswith(("GIF", "MP4")) else ":material/image:"):
        bar = where.progress(0.0, text=f"Drawing {file_name}…")

        def progress(done: int, total: int) -> None:
            bar.progress(min(1.0, done / max(total, 1)), text=f"Drawing {file_name}… {done}/{total}")

        st.session_state[slot] = (token, build(progress))
        bar.empty()
    made = st.session_state.get(slot)
    if made is not None and made[0] == token:
        where.download_button(
            f"Save {file_name}",
            data=made[1],
            file_name=file_name,
            mime=MIME[PurePath(file_name).suffix],
            on_click="ignore",
            key=f"{key}_save",
            type="primary",
        )


def chain_buttons(gif_col, mp4_col, view: ChainView, stem: str, key: str, arrows: str = ARROWS_FIXED) -> None:
    """ "Download GIF" and "Download MP4" of a Forward or Reverse page's animation."""
    for where, fmt in ((gif_col, ".gif"), (mp4_col, ".mp4")):
        export_button(
            where,
            f"Download {fmt[1:].upper()}",
            f"{key}_{fmt[1:]}",
            f"{stem}{fmt}",
            lambda progress, fmt=fmt: export.chain_bytes(view, fmt, arrows=arrows, progress=progress),
            token=(id(view), arrows),
        )


def comparison_buttons(gif_col, mp4_col, labels, Ts, chains: Callable[[], list], token: Hashable) -> None:
    """ "Download GIF" and "Download MP4" of the Compare page's animation, its panels side by side;
    `chains()` gives the models' chains (built when a button is clicked)."""
    for where, fmt in ((gif_col, ".gif"), (mp4_col, ".mp4")):
        export_button(
            where,
            f"Download {fmt[1:].upper()}",
            f"compare_{fmt[1:]}",
            f"comparison{fmt}",
            lambda progress, fmt=fmt: export.comparison_bytes(labels, chains(), Ts, fmt, progress=progress),
            token=token,
        )


def figure1_button(where, model_id: Hashable, pipeline, file_name: str) -> None:
    """ "Download Figure 1 (PNG)": the Overview's Figure 1 as a 1920x1080 slide."""

    def build(progress: export.Progress) -> bytes:
        progress(0, 2)
        view = views.figure1_view(pipeline)
        progress(1, 2)
        data = export.figure1_bytes(view)
        progress(2, 2)
        return data

    export_button(where, "Download Figure 1 (PNG)", "fig1_png", file_name, build, token=model_id)
