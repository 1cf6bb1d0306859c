"""Forward process: N roll points degraded to noise by q, with the schedule beside them."""

import streamlit as st

from diffusion import datasets, figures, views
from diffusion.config import SEED_MAX
from diffusion.metrics import PAPER_K_BITS, PAPER_K_MINUS_NULL_BITS
from diffusion.schedule import NoiseSchedule
from pages._app import caches, data, display, exports, follow, settings, status

state = status.page_state()

st.title(f"Forward process q: from {datasets.SHORT_LABELS.get(st.session_state.get('data'), 'the data')} to noise")
st.caption(
    "Each step adds a little Gaussian noise: x<sub>t</sub> = √(1 − β<sub>t</sub>) x<sub>t−1</sub> + √β<sub>t</sub> ε. "
    "Press ▶ or drag the t slider. Colour is each point's place on the data (along the curve, by component or "
    "by angle). The schedule comes from the sidebar, so you can see any setting here before training it.",
    unsafe_allow_html=True,  # subscripts, as in the paper; the text is ours, not the user's
)

c1, c2, c3, _ = st.columns([1, 1, 1, 2])
n = c1.number_input(
    "Points N",
    min_value=1,
    max_value=settings.N_POINTS_UI_MAX,
    value=2000,
    step=500,
    key="fwd_n",
    persist_state="session",
)
seed = c2.number_input(
    "Seed", min_value=0, max_value=SEED_MAX, value=0, step=1, key="fwd_seed", persist_state="session"
)
speed = display.speed_select(c3, key="fwd_speed")

cfg = state.settings
if cfg is None:
    st.error(state.settings_error)
    st.stop()

refusal = caches.view_refusal(cfg, int(n), "forward")
if refusal:
    st.warning(refusal, icon=":material/memory:")
    st.stop()
# A model that learned its betas: when the sidebar describes it, q runs by the learned schedule,
# drawn against the one it started from (the sidebar's settings name only that one).
model = state.model
learned = views.learned_schedule(model.pipeline) if model.pipeline.config.model_key() == cfg.model_key() else None
# The chart above its Follow points controls, which choose what the figure draws: so the places first.
notes, chart = st.container(), st.container()
followed = follow.controls("fwd", int(n), int(seed))
fig, view, sched = caches.forward_figure(
    cfg, int(n), int(seed), speed, learned=learned, dataset=data.dataset_for(cfg), follow=followed
)
if learned is not None:
    notes.caption(
        "This model learned β<sub>2</sub>…β<sub>T</sub>: the points move by its learned schedule, and the panels "
        "draw the learned β<sub>t</sub>, ᾱ<sub>t</sub> and SNR<sub>t</sub> (solid) against the schedule they "
        "started from (dashed), the one the sidebar names.",
        unsafe_allow_html=True,
    )
if not sched.reaches_noise:
    notes.warning(
        f"ᾱ_T = {sched.alpha_bar_T:.3g}: the chain does not reach noise. x_T keeps {100 * sched.alpha_bar_T**0.5:.0f}% "
        f"of the data's scale, so sampling from N(0, I) will not match it. {settings.noise_advice(cfg.schedule.value)}",
        icon="⚠️",
    )
else:
    notes.caption(
        f"ᾱ<sub>T</sub> = {sched.alpha_bar_T:.3g}: x<sub>T</sub> is essentially N(0, I).", unsafe_allow_html=True
    )
with chart:  # trace 0 holds the points a box or lasso selects
    display.plot(fig, key="forward_chart", on_select=follow.on_select("fwd", "forward_chart", 0, int(n), int(seed)))
st.page_link("pages/inside.py", label="Follow single points →", icon=":material/timeline:")

# The ceiling of these settings' schedule, before any training: which settings can reach which K.
# On a button, not at every settings change: the first computation of a schedule takes seconds.
schedule = learned if learned is not None else NoiseSchedule.from_config(cfg)
ceiling_key = (caches.schedule_key(schedule), cfg.data_scale.value)
asked = st.session_state.setdefault("fwd_ceilings", set())
too_long = cfg.T > caches.CEILING_T_MAX
not_roll = cfg.data != "swiss_roll"  # the ceiling needs the roll's known curve
if st.button(
    "Compute the best possible K for these settings" + (" (the Swiss roll only)" if not_roll else ""),
    key="fwd_ceiling",
    disabled=too_long or not_roll,
    help=f"The ceiling of K for this schedule (up to T = {caches.CEILING_T_MAX:,} here): the best bound any "
    "model with Gaussian, diagonal-covariance steps reaches on it, computed from the known roll without training.",
):
    asked.add(ceiling_key)
if ceiling_key in asked and not too_long and not not_roll:
    best = caches.ceiling_numbers(schedule, cfg.data_scale)
    st.info(
        f"Best possible K for these settings ({'the learned' if learned is not None else f'the {cfg.schedule.value}'} "
        f"schedule, T = {cfg.T}, β₁ = {settings.fmt_beta(float(schedule.betas[1]))}, {cfg.data_scale.value} data "
        f"scale): K ≈ {best.bits_unit_variance:+.2f} bits at unit variance, K − L_null ≈ {best.minus_null_bits:+.2f} "
        f"(Table 1: {PAPER_K_BITS} and {PAPER_K_MINUS_NULL_BITS}). No model trained on this schedule can pass it.",
        icon=":material/trending_up:",
    )

d1, d2, d3, _ = st.columns([1.4, 1, 1, 1.6])
d1.download_button(
    "Download this animation (HTML)",
    data=lambda: figures.to_html(fig),
    file_name=f"forward_T{cfg.T}_{cfg.schedule.value}_N{n}.html",
    mime="text/html",
    on_click="ignore",
    key="fwd_html",
)
exports.chain_buttons(d2, d3, view, f"forward_T{cfg.T}_{cfg.schedule.value}_N{n}", key="fwd")
