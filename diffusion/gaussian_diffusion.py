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
from torch import nn

from .config import MeanParameterization
from .losses import LOG_2PI_E, gaussian_entropy, normal_kl
from .model import ReverseNet
from .schedule import NoiseSchedule

TUTORIAL_LOGVAR_LIMIT = 30.0


class GaussianDiffusion:
    """The schedule's arrays as float32 tensors on one device, and the maths that uses them.

    Built from a fixed `NoiseSchedule` (float64 numpy), or with `from_betas_tensor` from betas that
    are a torch function of trainable parameters (`LearnedBetas`), so that gradients reach them
    through q_sample, q_posterior, the parameterisation of p and `entropy_nats`.
    """

    def __init__(
        self, schedule: NoiseSchedule, parameterization: MeanParameterization, device: str | torch.device = "cpu"
    ):
        self._schedule = schedule
        self._betas = None
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
        # H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T) of eq. 14, nats per point (d = 2)
        entropy = gaussian_entropy(1.0 - s.alpha_bars[-1]) - gaussian_entropy(s.betas[1]) - gaussian_entropy(1.0)
        self.entropy_nats = torch.tensor(entropy, dtype=torch.float64, device=self.device)

    @classmethod
    def from_betas_tensor(
        cls,
        betas_1_to_T: torch.Tensor,
        parameterization: MeanParameterization,
        dtype: torch.dtype = torch.float32,
    ) -> GaussianDiffusion:
        """The same tensors as `__init__`, computed with torch from betas (T,) so they stay differentiable.

        The arithmetic runs in the betas' dtype (float64 for `LearnedBetas`) and the results are
        cast to `dtype`, as `__init__` casts the float64 schedule. Entries t = 0 (and t = 1 for the
        posterior) are constants, never a 0/0 that would put NaN into the gradients.
        """
        self = cls.__new__(cls)
        b = betas_1_to_T
        T = b.shape[0]
        self._schedule, self._betas = None, b
        self.T = T
        self.parameterization = MeanParameterization(parameterization)
        self.device = b.device
        one, zero = b.new_ones(1), b.new_zeros(1)
        alphas = 1.0 - b  # t = 1..T
        alpha_bars = torch.cumprod(alphas, 0)
        alpha_bars_prev = torch.cat([one, alpha_bars[:-1]])
        one_minus_ab = 1.0 - alpha_bars
        # q(x_{t-1} | x_t, x_0), t = 2..T (DDPM form, as NoiseSchedule.from_betas)
        pv = b[1:] * (1.0 - alpha_bars_prev[1:]) / one_minus_ab[1:]
        coef_x0 = b[1:] * torch.sqrt(alpha_bars_prev[1:]) / one_minus_ab[1:]
        coef_xt = (1.0 - alpha_bars_prev[1:]) * torch.sqrt(alphas[1:]) / one_minus_ab[1:]
        log_pv = torch.log(pv)

        def cast(a: torch.Tensor) -> torch.Tensor:
            return a.to(dtype)

        self.sqrt_alphas = cast(torch.cat([one, torch.sqrt(alphas)]))
        self.sqrt_betas = cast(torch.cat([zero, torch.sqrt(b)]))
        self.sqrt_alpha_bars = cast(torch.cat([one, torch.sqrt(alpha_bars)]))
        self.sqrt_one_minus_alpha_bars = cast(torch.cat([zero, torch.sqrt(one_minus_ab)]))
        self.posterior_coef_x0 = cast(torch.cat([one, one, coef_x0]))
        self.posterior_coef_xt = cast(torch.cat([zero, zero, coef_xt]))
        self.posterior_variance = cast(torch.cat([zero, zero, pv]))
        log_pv = torch.cat([log_pv[:1], log_pv[:1], log_pv])  # t = 0, 1 clipped to t = 2, as NoiseSchedule
        self.posterior_log_variance = cast(log_pv)
        self.posterior_logit_variance = cast(log_pv - torch.log1p(-torch.exp(log_pv)))
        # H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T), d = 2: log(2 pi e) cancels once
        self.entropy_nats = torch.log(one_minus_ab[-1]) - torch.log(b[0]) - LOG_2PI_E
        return self

    @property
    def schedule(self) -> NoiseSchedule:
        """The float64 schedule of these betas (for learned betas: their current values, detached)."""
        if self._schedule is None:
            self._schedule = NoiseSchedule.from_betas(self._betas.detach().cpu().double().numpy())
        return self._schedule

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


class LearnedBetas(nn.Module):
    """beta_1..beta_T with beta_2..beta_T trainable (the paper learns them by gradient ascent on K).

        beta_t = beta0_t + (hi - lo) (sigmoid(a_t + u_t) - sigmoid(a_t)),   t = 2..T
        a_t = logit((beta0_t - lo) / (hi - lo)),   u_t trainable, 0 at the start,

    which is lo + (hi - lo) sigmoid(a_t + u_t) up to rounding (so each beta_t stays in (lo, hi),
    inside (0, 1), and moves smoothly), written so that u = 0 gives the starting betas beta0 to the
    last bit. beta_1 stays fixed: its entropy term -H_q(X_1|X_0) and the t = 2 KL trade it off
    exactly (see `schedule.paper_betas`), so learning it only adds noise. float64 throughout: the
    posterior variance at t = 2 is ~beta_1 and loses digits in float32.
    """

    LOW = 1e-6  # the authors' min_beta
    HIGH = 1.0 - 1e-5  # their 1 - [small value]

    def __init__(self, betas_1_to_T: np.ndarray | torch.Tensor):
        super().__init__()
        b = torch.as_tensor(
            np.asarray(betas_1_to_T, dtype=np.float64) if not torch.is_tensor(betas_1_to_T) else betas_1_to_T
        )
        b = b.detach().to(torch.float64).cpu()
        if b.ndim != 1 or b.shape[0] < 2 or not torch.isfinite(b).all() or not ((b > 0) & (b < 1)).all():
            raise ValueError("betas must be a finite vector of length T >= 2 with every entry in (0, 1)")
        # The range holds every starting beta strictly inside it, whatever schedule they came from.
        lo = min(self.LOW, float(b[1:].min()) / 2)
        hi = max(self.HIGH, (1.0 + float(b[1:].max())) / 2)
        self.register_buffer("beta_1", b[:1].clone())
        self.register_buffer("base", b[1:].clone())
        self.register_buffer("span", torch.tensor(hi - lo, dtype=torch.float64))
        p = (b[1:] - lo) / (hi - lo)
        self.register_buffer("offset", torch.log(p) - torch.log1p(-p))
        self.u = nn.Parameter(torch.zeros(b.shape[0] - 1, dtype=torch.float64))

    @property
    def T(self) -> int:
        return self.base.shape[0] + 1

    def forward(self) -> torch.Tensor:
        """beta_1..beta_T, shape (T,), float64."""
        moved = self.span * (torch.sigmoid(self.offset + self.u) - torch.sigmoid(self.offset))
        return torch.cat([self.beta_1, self.base + moved])

    def values(self) -> np.ndarray:
        """The current beta_1..beta_T as a float64 numpy array (T,), detached."""
        with torch.no_grad():
            return self().cpu().numpy()
