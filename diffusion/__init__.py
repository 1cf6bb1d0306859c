"""The 2015 diffusion model of Sohl-Dickstein et al. on the 2-D Swiss roll; no Streamlit in here.

Modules, one job each: config (settings and their checks), schedule (beta_t and what derives from
it), data (the roll), model (trunk + stacked per-t heads), losses (Gaussian KL and entropy),
process (q and p: q_sample, q_posterior, p_mean_variance, sampling), train (the 2015 objective,
step by step), metrics (the bound K and sample quality), pipeline (a model plus its views),
checkpoint (safe save/load), ceiling (the best K a diagonal-Gaussian kernel can reach), jobs
(training runs in a child process), figures and views (Plotly), cli.
"""
