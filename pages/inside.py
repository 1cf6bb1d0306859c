"""Inside the chains: follow chosen points through q and p, compare q(x_t) with p(x_t), probe one step."""

import streamlit as st

from diffusion import views
from diffusion.config import SEED_MAX
from pages._app import display, settings, status
from pages._app import inside as glue

state = status.page_state()
model = state.model
pipeline = model.pipeline
T = pipeline.T

st.title("Inside the chains")
st.caption(
    f"The current model ({display.literal(model.name)}, T = {T}) seen point by point and step by step. "
    "N and seed default to the "
    "Reverse page's, so the reverse chain here is the one its animation plays; the forward chain is the Forward "
    "page's for the same N and seed."
)
if views.own_units(pipeline.data, pipeline.config.data_scale) is not None:
    st.caption(
        "This page works in the model's coordinates (the data centred and scaled to the common spread), the "
        "ones a point typed for the probe is in; the other pages read in the data's own units."
    )
c1, c2, _ = st.columns([1, 1, 3])
n = int(
    c1.number_input(
        "Points N",
        min_value=10,
        max_value=settings.N_POINTS_UI_MAX,
        value=int(st.session_state.get("rev_n", settings.REVERSE_N)),
        step=500,
        key="inside_n",
    )
)
seed = int(
    c2.number_input(
        "Seed",
        min_value=0,
        max_value=SEED_MAX,
        value=int(st.session_state.get("rev_seed", settings.REVERSE_SEED)),
        step=1,
        key="inside_seed",
    )
)

follow, densities, probe_tab = st.tabs(["Follow points", "Densities", "Probe the kernel"])

# ---------------------------------------------------------------------- follow points
if glue.SELECTION_KEY not in st.session_state:
    st.session_state[glue.SELECTION_KEY] = glue.Choice("random", 20, 0)
# A new box or lasso on the x_0 chart (its event is in the session state before the chart is drawn again).
event = st.session_state.get("inside_select")
region = glue.region_from_selection(event.get("selection") if event else None)
if region is not None and region != st.session_state.get("inside_last_region"):
    st.session_state["inside_last_region"] = region
    st.session_state[glue.SELECTION_KEY] = glue.Choice("region", polygon=region)


def follow_random() -> None:
    k, pick = int(st.session_state["inside_k"]), int(st.session_state["inside_pick_seed"])
    st.session_state[glue.SELECTION_KEY] = glue.Choice("random", k, pick)


with follow:
    st.caption(
        "Follow k random points, or draw a box or lasso on the x₀ chart: roll points inside it are followed "
        "through q (where they end in the noise), samples inside it through p (which noise they came from). "
        f"At most {glue.MAX_PATHS} paths; each line passes through every t, the dot is x_t at the frame's t."
    )
    a1, a2, a3, a4 = st.columns([1, 1, 1.3, 1])
    a1.number_input("Points to follow k", min_value=1, max_value=glue.MAX_PATHS, value=20, step=5, key="inside_k")
    a2.number_input("Pick seed", min_value=0, max_value=SEED_MAX, value=0, step=1, key="inside_pick_seed")
    a3.button("Follow k random points", key="inside_follow", on_click=follow_random, use_container_width=True)
    speed = display.speed_select(a4, key="inside_speed")
    choice = st.session_state[glue.SELECTION_KEY]
    with st.spinner("Drawing the paths…"):
        fwd_fig, rev_fig, select_fig, fwd_paths, rev_paths = glue.path_figures(
            model.id, n, seed, choice, speed, pipeline
        )
    what = (
        f"{choice.k} random points (pick seed {choice.seed})" if choice.how == "random" else "the points in your region"
    )
    st.markdown(f"Following {what}: **{fwd_paths.shape[1]}** through q, **{rev_paths.shape[1]}** through p.")
    st.plotly_chart(
        select_fig,
        theme=None,
        key="inside_select",
        on_select="rerun",
        selection_mode=("box", "lasso"),
        config={"displaylogo": False},
    )
    left, right = st.columns(2)
    with left:
        display.plot(fwd_fig, key="inside_forward_paths")
    with right:
        display.plot(rev_fig, key="inside_reverse_paths")

# ---------------------------------------------------------------------- densities
with densities:
    st.caption(
        "q(x_t) (forward chain) and p(x_t) (reverse chain) as 2-D histograms of N points at the same t. Below: "
        "their sliced Wasserstein distance against t; the dashed line is the distance between two independent "
        "samples of q(x_t), what equal densities read. Where the curve leaves it, the reverse chain drifts."
    )
    view = glue.density_view(model.id, n, seed, pipeline)
    frame_t = [int(t) for t in view.t]
    t_shown = st.select_slider("t", options=frame_t, value=frame_t[len(frame_t) // 2], key="inside_density_t")
    frame = frame_t.index(int(t_shown))
    display.plot(glue.figures_inside.density_pair_figure(view, frame), key="inside_density_pair")
    display.plot(glue.figures_inside.divergence_figure(view, frame), key="inside_divergence")

# ---------------------------------------------------------------------- probe the kernel
# A click on a point of the probe chart moves x there (before the inputs are drawn, so they show it).
click = st.session_state.get("inside_probe_chart")
points = (click.get("selection") or {}).get("points") if click else None
if points:
    spot = (round(float(points[0]["x"]), 3), round(float(points[0]["y"]), 3))
    if spot != st.session_state.get("inside_last_click"):
        st.session_state["inside_last_click"] = spot
        st.session_state["inside_probe_x"], st.session_state["inside_probe_y"] = spot

with probe_tab:
    st.caption(
        "One reverse step from x_t = x: the learned p(x_{t−1} | x_t) (red: mean and 2σ ellipse) beside the true "
        "q(x_{t−1} | x_t) (blue: the mean and 2σ ellipse of a mixture over 20,000 roll points; faint dots are its "
        "components' means, sized by weight). The red arrow is the drift. Click a point to probe there."
    )
    b1, b2, b3 = st.columns([2, 1, 1])
    t_probe = int(b1.slider("t", min_value=1, max_value=T, value=max(1, round(0.55 * T)), key="inside_probe_t"))
    px = float(b2.number_input("x", min_value=-3.0, max_value=3.0, value=-0.2, step=0.05, key="inside_probe_x"))
    py = float(b3.number_input("y", min_value=-3.0, max_value=3.0, value=0.4, step=0.05, key="inside_probe_y"))
    probe, check, probe_fig = glue.kernel_probe(model.id, px, py, t_probe, pipeline)
    st.plotly_chart(
        probe_fig,
        theme=None,
        key="inside_probe_chart",
        on_select="rerun",
        selection_mode="points",
        config={"displaylogo": False},
    )
    st.dataframe(glue.probe_rows(probe), hide_index=True, key="inside_probe_table")
    share = f"{100 * check.spread_share:.0f}%"
    match = f"the learned mean is {check.mean_gap:.2f} true sd off and its ellipse {check.size_ratio:.2f}× the size"
    if check.true_is_gaussian and check.learned_matches:
        verdict = (
            f"The paper's Gaussian assumption holds here: only {share} of the true step's variance comes from "
            f"the spread of its components, so it is close to one Gaussian, and {match}."
        )
    elif check.true_is_gaussian:
        verdict = (
            f"The true step is close to one Gaussian ({share} of its variance from its components' spread), but "
            f"{match}: the network has not learned this step well, the assumption is not to blame."
        )
    else:
        verdict = (
            f"The paper's Gaussian assumption fails here: {share} of the true step's variance comes from where its "
            "components sit along the data, so the true step has the roll's shape, not a Gaussian's, and no "
            f"Gaussian kernel can match it ({match})."
        )
    st.markdown(verdict + f" The true step rests on {probe.effective_points:,.0f} effective data points.")
