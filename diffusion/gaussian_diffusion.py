"""The forward process q and the learned reverse process p of Sohl-Dickstein et al. (2015).

Notation follows the paper: x_0 is data, x_T is (close to) N(0, I),
    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),
    p(x_{t-1} | x_t) = N(f_mu(x_t, t), diag f_Sigma(x_t, t)),  t = 2..T,
    p(x_0 | x_1) = N(sqrt(alpha_1) x_1, beta_1 I)  (fixed, not learned),
the last step being the one the bound K of eq. 14 assumes: its -H_q(X_1|X_0) term is this kernel's
entropy. (The tutorial copies x_1 to x_0; at beta_1 = 1e-5 the two differ by ~0.003.)
Trajectories are arrays of shape (T + 1, N, 2) indexed by t, so `traj[t]` is x_t for both
directions; generation runs from traj[T] down to traj[0].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import MeanParameterization
from .losses import normal_kl
from .model import ReverseNet
from .schedule import NoiseSchedule

TUTORIAL_LOGVAR_LIMIT = 30.0


class GaussianDiffusion:
    """The schedule's arrays as float32 tensors on one device, and the maths that uses them."""

    def __init__(
        self, schedule: NoiseSchedule, parameterization: MeanParameterization, device: str | torch.device = "cpu"
    ):
        self.schedule = schedule
        self.T = schedule.T
        self.parameterization = MeanParameterization(parameterization)
        self.device = torch.device(device)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

        s = schedule
        self.sqrt_alphas = tensor(np.sqrt(s.alphas))
        self.sqrt_betas = tensor(np.sqrt(s.betas))
        self.sqrt_alpha_bars = tensor(np.sqrt(s.alpha_bars))
        self.sqrt_one_minus_alpha_bars = tensor(np.sqrt(1.0 - s.alpha_bars))
        self.posterior_coef_x0 = tensor(s.posterior_coef_x0)
        self.posterior_coef_xt = tensor(s.posterior_coef_xt)
        self.posterior_variance = tensor(s.posterior_variance)
        self.posterior_log_variance = tensor(s.posterior_log_variance)
        self.posterior_logit_variance = tensor(s.posterior_log_variance - np.log1p(-np.exp(s.posterior_log_variance)))

    # ------------------------------------------------------------------ forward process q
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

        x0: (..., 2); t: long tensor broadcastable to x0's leading shape (e.g. (N,) or (K, 1)),
        each entry in 0..T. noise: optional standard normal of x0's shape.
        """
        if noise is None:
            noise = torch.randn_like(x0)
        t = torch.as_tensor(t, device=self.device)
        return self.sqrt_alpha_bars[t].unsqueeze(-1) * x0 + self.sqrt_one_minus_alpha_bars[t].unsqueeze(-1) * noise

    @torch.no_grad()
    def forward_trajectory(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_0..x_T of the Markov chain q(x_t | x_{t-1}), shape (T + 1, N, 2), float32.

        Step by step rather than q_sample per t, so each point moves continuously from frame to
        frame (the marginals are the same).
        """
        x = x0.to(self.device, torch.float32)
        noise = torch.randn((self.T, *x.shape), generator=generator, device=generator.device if generator else "cpu")
        noise = noise.to(self.device)
        traj = torch.empty((self.T + 1, *x.shape), device=self.device)
        traj[0] = x
        for t in range(1, self.T + 1):
            x = self.sqrt_alphas[t] * x + self.sqrt_betas[t] * noise[t - 1]
            traj[t] = x
        return traj

    def q_posterior(
        self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and log-variance of q(x_{t-1} | x_t, x_0), for t >= 2.

        mean = coef_x0_t x_0 + coef_xt_t x_t (the DDPM form of the tutorial's precision-weighted
        mean; tests check they agree). Variance and log-variance broadcast like the mean.
        """
        t = torch.as_tensor(t, device=self.device)
        mean = self.posterior_coef_x0[t].unsqueeze(-1) * x0 + self.posterior_coef_xt[t].unsqueeze(-1) * xt
        var = self.posterior_variance[t].unsqueeze(-1).expand_as(mean)
        logvar = self.posterior_log_variance[t].unsqueeze(-1).expand_as(mean)
        return mean, var, logvar

    # ------------------------------------------------------------------ reverse process p
    def _mean_logvar(self, out: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn the network's 4 outputs into the mean and log-variance of p(x_{t-1} | x_t)."""
        if self.parameterization is MeanParameterization.PAPER:
            # Sohl-Dickstein's model.py: mu = x_t sqrt(1 - beta_t) + f sqrt(beta_t), and the variance
            # sigmoid(z + logit(centre)), an offset in logit space, so it stays in (0, 1) whatever
            # the network says (no overflow however wild the weights). The authors centre on
            # beta_t; we centre on the posterior variance, so f = 0, z = 0 is already a sane kernel.
            mean = self.sqrt_alphas[t].unsqueeze(-1) * xt + self.sqrt_betas[t].unsqueeze(-1) * out[..., :2]
            logvar = F.logsigmoid(out[..., 2:] + self.posterior_logit_variance[t].unsqueeze(-1))
        else:
            # The tutorial's raw outputs; clamped only where float32 would overflow in exp().
            mean, logvar = out[..., :2], out[..., 2:].clamp(-TUTORIAL_LOGVAR_LIMIT, TUTORIAL_LOGVAR_LIMIT)
        return mean, logvar

    def p_mean_variance(self, model: ReverseNet, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean f_mu(x_t, t) and log-variance of p(x_{t-1} | x_t) for points xt (N, 2) all at t >= 2."""
        if not 2 <= t <= self.T:
            raise ValueError(f"t must be in 2..{self.T} for a learned reverse step, got {t}")
        out = model(xt, t)
        return self._mean_logvar(out, xt, torch.tensor(t, device=self.device))

    def p_mean_variance_grouped(
        self, model: ReverseNet, xt: torch.Tensor, t: torch.Tensor | range
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """As p_mean_variance for xt (K, n, 2) with row k at timestep t[k] (t: (K,) long or a range, 2..T)."""
        out = model.forward_grouped(xt, t)
        return self._mean_logvar(out, xt, self._t_tensor(t).view(-1, 1))

    def _t_tensor(self, t: torch.Tensor | range) -> torch.Tensor:
        return torch.arange(t.start, t.stop, device=self.device) if isinstance(t, range) else t

    @torch.no_grad()
    def p_sample_trajectory(self, model: ReverseNet, n: int, seed: int = 0) -> torch.Tensor:
        """Generate: x_T ~ N(0, I), x_{t-1} ~ p(x_{t-1} | x_t) for t = T..2, x_0 ~ N(sqrt(alpha_1) x_1, beta_1 I).

        Returns (T + 1, n, 2) float32 indexed by t. Noise comes from a CPU generator seeded with
        `seed`, so the same model and seed give the same samples on any device.
        """
        g = torch.Generator().manual_seed(int(seed))
        noise = torch.randn((self.T + 1, n, 2), generator=g).to(self.device)
        traj = torch.empty((self.T + 1, n, 2), device=self.device)
        x = noise[self.T]
        traj[self.T] = x
        for t in range(self.T, 1, -1):
            mean, logvar = self.p_mean_variance(model, x, t)
            x = mean + torch.exp(0.5 * logvar) * noise[t - 1]
            traj[t - 1] = x
        traj[0] = self.sqrt_alphas[1] * x + self.sqrt_betas[1] * noise[0]  # p(x_0 | x_1), as in the bound
        return traj

    @torch.no_grad()
    def drift(self, model: ReverseNet, points: torch.Tensor, t: int) -> torch.Tensor:
        """The paper's Figure 1 drift f_mu(x, t) - x at points (M, 2), shape (M, 2).

        At t = 1 the mean is fixed, sqrt(alpha_1) x, so the drift is (sqrt(alpha_1) - 1) x; no step
        leaves x_0, so it is zero at t = 0.
        """
        if t <= 0:
            return torch.zeros_like(points)
        if t == 1:
            return (self.sqrt_alphas[1] - 1.0) * points
        mean, _ = self.p_mean_variance(model, points, t)
        return mean - points

    # ------------------------------------------------------------------ the 2015 objective
    def kl_terms(
        self, model: ReverseNet, x0: torch.Tensor, t: torch.Tensor | range, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) in nats per point, for x_t ~ q(x_t | x_0).

        x0: (K, n, 2) with row k at timestep t[k] (t: (K,) long or a range, 2..T). Returns (K, n).
        """
        tk = self._t_tensor(t).view(-1, 1)
        xt = self.q_sample(x0, tk, noise)
        q_mean, _, q_logvar = self.q_posterior(x0, xt, tk)
        p_mean, p_logvar = self.p_mean_variance_grouped(model, xt, t)
        return normal_kl(q_mean, q_logvar, p_mean, p_logvar).sum(-1)
