"""Bound: the paper's log-likelihood lower bound K for the current model, and sample quality."""

import math

import streamlit as st

from diffusion import figures
from diffusion.metrics import L_NULL_BITS, PAPER_K_BITS, PAPER_K_MINUS_NULL_BITS, QUALITY_CHAMFER, QUALITY_SW1
from pages import _app as app

state: app.AppState = st.session_state["app_state"]
model = state.model

st.title("The bound K")
st.caption(
    f"Current model: {model.source} ({model.note}), T = {model.pipeline.T}. K (eq. 14) is a lower bound on the "
    "log-likelihood of held-out roll points, in bits per 2-D point: minus the sum of the per-step KL terms "
    "plus the entropy terms of the first and last step. Table 1 of the paper reports it on data rescaled to unit "
    "variance."
)

numbers = app.bound_numbers(model.id, model.pipeline)
b, q = numbers["bound"], numbers["quality"]


def fmt(v: float) -> str:
    return f"{v:.2f}" if math.isfinite(v) else str(v)


c1, c2, c3 = st.columns(3)
c1.metric("K at unit variance (bits)", fmt(b.bits_unit_variance), delta=f"{b.bits_unit_variance - PAPER_K_BITS:+.2f} vs paper's {PAPER_K_BITS}",
          delta_color="normal", help="Table 1's convention: the data rescaled to variance 1 per axis.")
c2.metric("K at data scale (bits)", fmt(b.bits), help="On the tutorial's coordinates (the roll divided by 10).")
c3.metric("K − L_null (bits)", fmt(b.minus_null_bits), delta=f"{b.minus_null_bits - PAPER_K_MINUS_NULL_BITS:+.2f} vs paper's {PAPER_K_MINUS_NULL_BITS}",
          help=f"Gain over a unit Gaussian, L_null = {L_NULL_BITS:.3f} bits for 2-D unit-variance data.")
st.caption(f"Entropy terms H_q(X_T|X_0) − H_q(X_1|X_0) − H_p(X_T) = {b.entropy_bits:.2f} bits; KL terms sum to {float(b.kl_per_t_bits.sum()):.2f} bits. "
           "For a noise-free roll the bound is capped by β₁: with the default settings the best possible K is about +2 bits at unit variance.")

app.plot(figures.kl_per_t_figure(b.kl_per_t_bits, unit="bits", title="Per-step KL terms of the bound (bits per point)"), key="bound_kl")

st.subheader("Sample quality")
verdict = "meet" if q.passes else "do not meet"
s1, s2 = st.columns(2)
s1.metric("Sliced Wasserstein-1", f"{q.sw1:.4f}", help=f"5,000 samples vs 5,000 roll points; the bar is ≤ {QUALITY_SW1}.")
s2.metric("Chamfer distance", f"{q.chamfer:.4f}", help=f"Mean nearest-neighbour distance both ways; the bar is ≤ {QUALITY_CHAMFER}.")
(st.success if q.passes else st.warning)(f"The samples {verdict} the quality bar (SW1 ≤ {QUALITY_SW1}, chamfer ≤ {QUALITY_CHAMFER}).")
