"""Compare: two to four models side by side on the same noise, their schedules, KL terms, losses
and settings."""

import pandas as pd
import streamlit as st

from diffusion import compare, figures_compare
from pages._app import compare as glue
from pages._app import display, exports, status, training
from pages._app import sweep as sweeps

state = status.page_state()

st.title("Compare models")
st.caption(
    "Two to four models side by side: the shipped presets, the current model and the session's earlier ones. "
    "Every chain starts from the same noise (seed 0, 2,000 points); one Play button and one slider drive them all. "
    "Where T differs, the slider runs over the fraction t/T of the chain and each panel says its own t."
)

known = glue.choices(state.model)
for text in glue.read_url(known):
    st.warning(text, icon=":material/link_off:")
glue.fill_from_sweep(known)

with st.expander(
    "Sweep a setting", expanded=sweeps.current() is not None or bool(st.session_state.get(sweeps.MESSAGE_KEY))
):
    st.caption(
        "One setting at 2 to 4 values, one short run per value from the session's settings; "
        "each run joins the comparison below when it ends."
    )
    in_progress = sweeps.controls()
    st.fragment(run_every=training.REFRESH_SECONDS if in_progress else None)(sweeps.progress)()
# Entries of a model the session no longer holds drop out of the picker rather than break it.
st.session_state[glue.WIDGET_KEY] = [e for e in st.session_state.get(glue.WIDGET_KEY, []) if e in known]
entries = st.multiselect(
    "Models to compare",
    options=list(known),
    format_func=lambda e: known[e].label,
    max_selections=compare.MODELS_MAX,
    key=glue.WIDGET_KEY,
    help="preset: trained models shipped with the lab (assets/presets); current: the model the other pages show.",
)
glue.write_url(entries)
if len(entries) < compare.MODELS_MIN:
    st.info(f"Pick at least {compare.MODELS_MIN} models to compare.", icon=":material/compare:")
    st.stop()

picked = [known[e] for e in entries]
picked, bad = glue.readable(picked)
for text in bad:
    st.warning(text, icon=":material/error:")
if len(picked) < compare.MODELS_MIN:
    st.stop()
with st.spinner("Sampling the chains…"):
    fig = glue.animation(picked)
display.plot(fig, key="compare_chart")
gif_col, mp4_col, _ = st.columns([1, 1, 3])
exports.comparison_buttons(
    gif_col,
    mp4_col,
    [c.label for c in picked],
    [c.pipeline.T for c in picked],
    lambda: glue.chains(picked),
    token=tuple(c.key for c in picked),
)
st.caption(
    "Red arrows: where p's mean moves a grid point, f<sub>μ</sub>(x, t) − x, at one scale per model for every t. "
    "Points are coloured by where they end up on the data.",
    unsafe_allow_html=True,  # subscripts; the text is ours
)

with st.spinner("Measuring K and the sample quality…"):
    compared = [glue.measured(c) for c in picked]

st.subheader("Settings and results")
rows, columns, differ = compare.settings_table(compared)
table = pd.DataFrame(columns, index=rows)


def _highlight(row):
    return ["background-color: #fff3b0" if row.name in differ else "" for _ in row]


st.dataframe(table.style.apply(_highlight, axis=1), width="stretch", height=35 * (len(rows) + 1) + 3)
st.caption(
    "Highlighted: the settings that differ. K is the bound of eq. 14 on 20,000 held-out points, in bits per "
    "point at unit variance (the Bound page explains the protocol). "
    + ("Differ: " + ", ".join(differ) + "." if differ else "The models share every setting.")
)

st.subheader("Schedules")
display.plot(figures_compare.schedules_figure(compared), key="compare_schedules")
c1, c2 = st.columns(2)
with c1:
    display.plot(figures_compare.kl_figure(compared), key="compare_kl")
with c2:
    display.plot(figures_compare.losses_figure(compared), key="compare_loss")

st.download_button(
    "Download this comparison (HTML)",
    data=lambda: figures_compare.comparison_html(
        "Comparison: " + ", ".join(c.label for c in picked),
        [
            fig,
            figures_compare.schedules_figure(compared),
            figures_compare.kl_figure(compared),
            figures_compare.losses_figure(compared),
        ],
        figures_compare.table_html(rows, columns, differ),
    ),
    file_name="comparison.html",
    mime="text/html",
    on_click="ignore",
    key="compare_html",
)
