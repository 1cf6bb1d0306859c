"""The dashboard's entry point: `streamlit run dashboard.py`.

Builds the navigation over the files in pages/ (each registered explicitly), the sidebar that
every page shares (model settings mirrored in the URL, the current model's status and device),
and the banner that appears when the settings no longer match the model. Pages lay out widgets
and call `diffusion/`; the shared Streamlit glue is the package pages/_app/.
"""

import os
from pathlib import Path

# Heavy imports at the top of the entry script: Streamlit runs scripts in threads that can
# overlap, and a module first imported by two of them at once can be seen half initialised
# ("partially initialized module"). Imported here, once, before any page runs.
import numpy  # noqa: F401
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st
import torch

import diffusion.figures  # noqa: F401
import diffusion.jobs
import diffusion.views  # noqa: F401
from pages._app import compare, lesson, projector, settings, status, training, url

# One intra-op thread per torch call, in the server and in each training process (they inherit
# it). At most one run per core trains at once (diffusion.jobs caps it) and the server serves views
# beside them; torch's default of one thread per core per call made them fight over the cores
# (benchmarks/bench_step.py --threads compares).
TORCH_THREADS = int(os.environ.get("DASHBOARD_TORCH_THREADS", "1"))
if torch.get_num_threads() != TORCH_THREADS:
    torch.set_num_threads(TORCH_THREADS)

# A file of our own, not a Material icon: Streamlit fetches a Material page icon from a font CDN,
# and a classroom may have no internet.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
# A teacher's link in projector mode opens with the sidebar collapsed: the animation gets the screen.
st.set_page_config(
    page_title="Diffusion 2015 · Swiss roll lab",
    page_icon=str(ICON),
    layout="wide",
    initial_sidebar_state="collapsed" if projector.opened_in_projector_mode() else "auto",
)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/forward.py", title="Forward process", icon=":material/trending_flat:"),
    st.Page("pages/reverse.py", title="Reverse process", icon=":material/undo:"),
    st.Page("pages/inside.py", title="Inside the chains", icon=":material/timeline:"),
    st.Page("pages/bound.py", title="Bound", icon=":material/functions:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/lesson.py", title="Lesson", icon=":material/school:"),
]

# The Forward page draws the sidebar's schedule, not the model: a model that no longer matches the
# settings concerns only the pages that show it.
MODEL_PAGES = {"Overview", "Train", "Reverse process", "Inside the chains", "Bound"}

pg = st.navigation(PAGES)
# A reload takes back the session's run and models (parked under the URL's token) first.
training.resume_session()
# The link's settings go into session state before any widget is drawn, and the URL then holds
# this run's values (the widgets' values arrive in session state before the script runs).
# A lesson's link shows its scene first (its settings, model and page); the link's own settings,
# a teacher's changes kept across a reload, go on top.
lesson_warnings = lesson.read_url()
url_warnings = url.read_url() + projector.read_url(url.escaped) + lesson_warnings
lesson.go_to_scene_page(pg, url_warnings)  # a scene chosen (a link, Previous/Next): its page
settings.sidebar_settings(hidden=projector.hidden())
url.write_url()
projector.write_url()
lesson.write_url()
state = status.app_state()
training.remember_models()  # the run's snapshot that app_state just made current
st.session_state["app_state"] = state
status.sidebar_status(state, progress=pg.title != "Train")
projector.sidebar_controls()
projector.apply_css()
lesson.lesson_bar(pg)  # the scene's title, text, Previous and Next, above the page
lesson.remember_page(pg)
if pg.title in MODEL_PAGES:
    status.mismatch_banner(state)
url.show_warnings(pg.title, url_warnings)
pg.run()

# Training runs in child processes forked from a server process that imports torch first, which
# takes a while: start it once the page is drawn, so the first Start click finds it ready. Later:
# a no-op.
diffusion.jobs.warm_up()
lesson.prefetch_next()  # in a lesson: the next scene's views, built while the teacher talks
compare.prefetch_default_pair()  # once per server: the chart Compare opens with
