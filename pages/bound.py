"""Bound: the paper's log-likelihood lower bound K for the current model, and sample quality."""

import math

import streamlit as st

from diffusion import figures, views
from diffusion.config import DataScale
from diffusion.metrics import L_NULL_BITS, PAPER_K_BITS, PAPER_K_MINUS_NULL_BITS, noise_floor
from pages._app import caches, display, models, status

state = status.page_state()
model = state.model

st.title("The bound K")
st.caption(
    f"Current model: {model.source} ({display.literal(model.note)}), T = {model.pipeline.T}. "
    "K (eq. 14) is a lower bound on the "
    "log-likelihood of held-out roll points, in bits per 2-D point: minus the sum of the per-step KL terms "
    "plus the entropy terms of the first and last step. Table 1 of the paper reports it on data rescaled to unit "
    "variance."
)

refusal = caches.bound_refusal(model.pipeline.config)
if refusal:
    st.warning(refusal, icon=":material/memory:")
    st.stop()
with st.spinner(
    "Computing the bound on 20,000 held-out points…"
):  # Streamlit shows it only if the call takes a while: not when built ahead
    b = caches.bound_numbers(model.id, model.pipeline)
q = caches.model_quality(model)


def fmt(v: float) -> str:
    return f"{v:.2f}" if math.isfinite(v) else str(v)


# A model of the unit-variance roll is Table 1's experiment: its K compares with the paper's as it is.
# Table 1 and the ceiling (computed from the roll's known curve) are the Swiss roll's alone.
is_roll = model.pipeline.config.data == "swiss_roll"
paper_protocol = model.pipeline.config.data_scale is DataScale.UNIT and is_roll
c1, c2, c3 = st.columns(3)
c1.metric(
    "K at unit variance (bits)",
    fmt(b.bits_unit_variance),
    delta=f"{b.bits_unit_variance - PAPER_K_BITS:+.2f} vs Table 1's {PAPER_K_BITS}" if paper_protocol else None,
    help="Table 1's convention: the bound as if the data had variance 1 per axis. "
    + (
        "This model was trained on the roll scaled to variance 1, so its K needs no conversion."
        if paper_protocol
        else "This model was trained on the tutorial's scale (the roll divided by 10), so its K is converted: "
        "rescaling x by 1/s per axis adds Σ log₂ s bits per point."
    ),
)
c2.metric(
    "K at data scale (bits)",
    fmt(b.bits),
    help="On the roll scaled to variance 1 (the same number)."
    if paper_protocol
    else "On the tutorial's coordinates (the roll divided by 10).",
)
c3.metric(
    "K − L_null (bits)",
    fmt(b.minus_null_bits),
    delta=f"{b.minus_null_bits - PAPER_K_MINUS_NULL_BITS:+.2f} vs Table 1's {PAPER_K_MINUS_NULL_BITS}"
    if paper_protocol
    else None,
    help=f"Gain over a unit Gaussian, L_null = {L_NULL_BITS:.3f} bits for 2-D unit-variance data.",
)
if paper_protocol:
    cfg = model.pipeline.config
    best = caches.ceiling_numbers(model.pipeline.diffusion.schedule, cfg.data_scale)
    st.info(
        "**Protocol: the paper's (the roll scaled to variance 1).** "
        f"This model was trained like Table 1's Swiss roll: T = {cfg.T}, β₁ = {cfg.beta_start:g}, "
        + ("β₂…β_T learned from " if cfg.learn_betas else "β₂…β_T fixed, ")
        + f"the {cfg.schedule.value} schedule. "
        f"K = {fmt(b.bits_unit_variance)} bits against Table 1's {PAPER_K_BITS} "
        f"({b.bits_unit_variance - PAPER_K_BITS:+.2f}); K − L_null = {fmt(b.minus_null_bits)} against "
        f"{PAPER_K_MINUS_NULL_BITS} ({b.minus_null_bits - PAPER_K_MINUS_NULL_BITS:+.2f}). "
        f"The ceiling for this model's schedule is K ≈ {best.bits_unit_variance:+.2f} bits: no model of this "
        f"family with these betas can pass it (this one is {best.bits_unit_variance - b.bits_unit_variance:.2f} "
        "bits below it).",
        icon=":material/info:",
    )
elif not is_roll:
    st.info(
        f"**Data: {model.pipeline.data.label}.** The paper's Table 1 reports the Swiss roll (and other data "
        "this lab does not have), so there is no paper figure to compare this K with: compare it with other "
        "models of the same data set. K at unit variance is the paper's convention (the data scaled to "
        "variance 1 per axis), so it does not depend on the units of the data.",
        icon=":material/info:",
    )
else:
    st.info(
        f"**Protocol: the tutorial's.** This model was trained on the roll divided by 10, with the "
        f"{model.pipeline.config.schedule.value} schedule and β₁ = {model.pipeline.config.beta_start:g}. "
        f"The paper's Table 1 ({PAPER_K_BITS} bits, K − L_null = {PAPER_K_MINUS_NULL_BITS}) comes from another "
        "setup: the roll scaled to variance 1 before training and β₂…β_T learned. The two are not a race: K "
        "depends on β₁, since the bound's entropy term −H_q(X₁|X₀) is −log₂(2πe β₁) bits per point, and on the "
        "scale the forward process acts on. What a model of this family can reach for its own schedule is its "
        "ceiling (below).",
        icon=":material/info:",
    )
st.caption(
    "Entropy terms H<sub>q</sub>(X<sub>T</sub>|X<sub>0</sub>) − H<sub>q</sub>(X<sub>1</sub>|X<sub>0</sub>) "
    "− H<sub>p</sub>(X<sub>T</sub>) "
    f"= {b.entropy_bits:.2f} bits; KL terms sum to {float(b.kl_per_t_bits.sum()):.2f} bits.",
    unsafe_allow_html=True,
)

show_ceiling = st.toggle(
    "Compare with the best possible model for this schedule"
    + ("" if is_roll else " (the Swiss roll only: it needs the data's known curve)"),
    key="bound_ceiling",
    disabled=not is_roll,
    help="Any p(x_{t-1}|x_t) that is Gaussian with a diagonal covariance has a smallest possible KL at each t; "
    "it can be computed exactly from the known roll, without training (diffusion/ceiling.py, Monte Carlo on "
    f"{caches.CEILING_POINTS:,} points per t, about ±0.1 bits). No model of this family can pass it.",
)
ceiling = None
if show_ceiling and is_roll:
    # the model's own schedule (its learned betas, if it learned them) on its own data scale
    best = caches.ceiling_numbers(model.pipeline.diffusion.schedule, model.pipeline.config.data_scale)
    ceiling = best.kl_per_t_bits
    st.info(
        f"Ceiling for this schedule: K ≈ {best.bits_unit_variance:+.2f} bits at unit variance "
        f"({best.bits:+.2f} at data scale). "
        f"This model is {best.bits_unit_variance - b.bits_unit_variance:.2f} bits below it. "
        + (
            ""
            if paper_protocol
            else "The paper's 2.35 bits came from a different setup (its own schedule and learned betas); "
            "at the tutorial's defaults the ceiling itself is about 1.5 bits."
        )
    )

display.plot(
    figures.kl_per_t_figure(
        b.kl_per_t_bits, unit="bits", title="Per-step KL terms of the bound (bits per point)", ceiling=ceiling
    ),
    key="bound_kl",
)

st.subheader("Sample quality")
verdict = "meet" if q.passes else "do not meet"
display.quality_metrics(q, noise_floor(model.pipeline.quality_data))
(st.success if q.passes else st.warning)(
    f"The samples {verdict} the quality bar: {display.QUALITY_EXPLAINED['the bar']}."
)

earlier = models.earlier_models()
if earlier and st.toggle(
    "Compare with this session's earlier models",
    key="bound_earlier",
    help="The models a run or an upload replaced (Train page), on the same 20,000 held-out points: "
    "what T, the schedule and the width did to K. About a second per model the first time.",
):
    with st.spinner("Computing the bound of the earlier models…"):
        rows, panels = [], []
        for role, m in [("current", model)] + [(f"earlier {i}", m) for i, m in enumerate(earlier, 1)]:
            m_bound, m_quality = caches.bound_numbers(m.id, m.pipeline), caches.model_quality(m)  # cached per model
            rows.append(views.model_summary(role, m.name, m.pipeline, m_quality, m_bound))
            panels.append(
                (
                    f"{role}: K {m_bound.bits_unit_variance:+.2f} bits, "
                    f"{display.percent(m_quality.precision)} on the data",
                    views.sample_density(caches.model_samples(m.id, m.pipeline)),
                )
            )
    st.table(rows)
    st.caption("Their samples (5,000 each, the ones their quality measures) over the roll:")
    display.plot(figures.samples_side_by_side(panels, views.roll_curve()), key="bound_earlier_samples")
