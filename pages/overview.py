"""Overview: what the app shows, how to use it, and the paper's Figure 1 for the current model."""

import streamlit as st

from diffusion.metrics import PAPER_K_BITS
from pages._app import caches, display, exports, status

state = status.page_state()
model = state.model

st.title("Diffusion on a Swiss roll, as in 2015")
st.markdown(
    f"""
This lab trains the first diffusion model — Sohl-Dickstein et al., *Deep Unsupervised Learning using
Nonequilibrium Thermodynamics* (2015) — on the 2-D Swiss roll, live, in your browser.

- **Forward process** — watch *q* destroy the roll step by step until only Gaussian noise is left,
  and see how the noise schedule (β, ᾱ, signal-to-noise) shapes it. Change the schedule in the sidebar.
- **Reverse process** — watch the learned *p* turn noise back into a roll, with the drift
  f<sub>μ</sub>(x, t) − x drawn as arrows.
- **Train** — train your own model with the sidebar's settings; loss, loss per step and fresh samples
  update live. Training keeps running while you look at other pages, and the models a new run replaces
  stay listed there, to compare and to go back to.
- **Bound** — the paper's log-likelihood lower bound *K* in bits, next to its Table 1 value
  ({PAPER_K_BITS} bits), and how close the samples are to the roll.

Everything starts from a model shipped with the app, so every page works before you train. The
settings live in the page's URL: copy it to share a configuration.
""",
    unsafe_allow_html=True,
)

st.subheader("Figure 1 of the paper, for the current model")
st.caption(
    f"Current model: {model.source} ({display.literal(model.note)}), T = {model.pipeline.T}. "
    "Rows: the forward chain q, the "
    "learned reverse chain p, and the drift of p's mean. Colour is the position along the roll "
    "(for p: of the roll point nearest each final sample). At t = 0 no step leaves x₀, and the last step "
    "(t = 1) only shrinks x₁ by √α₁, so the drift panel of that column shows the last learned step, t = 2."
)
with st.spinner("Drawing Figure 1…"):  # Streamlit shows it only if the call takes a while: not when built ahead
    fig = caches.figure1(model.id, model.pipeline)
display.plot(fig, key="figure1")
exports.figure1_button(st, model.id, model.pipeline, f"figure1_T{model.pipeline.T}.png")
