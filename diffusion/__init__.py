"""The 2015 diffusion model of Sohl-Dickstein et al. on the 2-D Swiss roll; no Streamlit in here.

Modules, one job each:
    config              every setting of a run and the one place it is checked
    schedule            beta_t and every quantity derived from it (NoiseSchedule)
    data                the tutorial's roll
    model               the tutorial's network: a trunk and stacked per-t heads
    live_units          the same network with a faster path for CPU training
    gaussian_diffusion  q and p: q_sample, q_posterior, p_mean_variance, sampling, the KL terms
    losses              Gaussian KL and entropy
    train               the 2015 objective, step by step (Trainer)
    metrics             the bound K and sample quality
    ceiling             the best K a diagonal-Gaussian kernel can reach for a schedule
    pipeline            a model plus the views it answers (DiffusionPipeline)
    checkpoint          safe save and load
    views, figures      the dashboard's data (numpy) and its Plotly figures
    jobs                a training run for a UI (TrainingJob), supervised from the server
    worker              the training process of such a run
    processes           starting training processes from a fork server
    cli                 `python -m diffusion train | sample | evaluate | figure`
"""
