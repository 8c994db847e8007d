"""One large gradient step on the first layer (Ba et al. 2022), then ridge regression on the features.

The student f(x) = h^{-1/2} a^T relu(W x): rows w_j ~ N(0, I_d/d), a_j ~ N(0, 1/h) (the paper's
initialisation); the teacher y = s(beta* . x) + noise with |beta*| = 1, x ~ N(0, I_d). One full-batch
step W_1 = W_0 + eta_eff sqrt(h) G_0 on p points, with G_0 = -dL/dW from theory (derive
one-step-gradient) and eta_eff = eta (``const``) or eta sqrt(h) (``sqrt-h``). The second stage fits the
readout by ridge regression on an independent sample of p points (sample splitting, as in the paper's
analysis); lambda is chosen by leave-one-out cross-validation over a log grid (scikit-learn's RidgeCV,
whose LOO is exact for ridge). Test risks are mean squared errors on fresh noisy test points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from ..theory import one_step as T
from ..theory.derived import derive
from ..theory.errors import LazyrichError

SCALINGS = ("const", "sqrt-h")
RIDGE_GRID = tuple(np.logspace(-6, 3, 28))


class OneStepError(LazyrichError):
    """A bad one-step setting (sizes, teacher, scaling, noise)."""


@dataclass(frozen=True)
class OneStepConfig:
    d: int = 800
    p: int = 1600
    h: int = 800
    eta: float = 1.0
    eta_scaling: str = "const"
    teacher: str = "relu"
    noise: float = 0.0
    ptest: int = 4000

    def __post_init__(self):
        for name in ("d", "p", "h", "ptest"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 2:
                raise OneStepError(f"{name} must be an integer >= 2, got {v!r}")
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise OneStepError(f"eta must be finite and positive, got {self.eta}")
        if self.eta_scaling not in SCALINGS:
            raise OneStepError(f"eta_scaling must be one of {', '.join(SCALINGS)}, got {self.eta_scaling!r}")
        if self.teacher not in T.TEACHERS:
            raise OneStepError(f"teacher must be one of {', '.join(T.TEACHERS)}, got {self.teacher!r}")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise OneStepError(f"noise must be finite and >= 0, got {self.noise}")
        if self.d * self.h * max(self.p, self.ptest) > 2e10:
            raise OneStepError(f"d h p = {self.d * self.h * max(self.p, self.ptest):.2g} is too large for one machine")

    @property
    def eta_effective(self) -> float:
        return self.eta * (math.sqrt(self.h) if self.eta_scaling == "sqrt-h" else 1.0)


@cache
def _teacher_fn(name: str):
    import sympy as sp

    return sp.lambdify(T.z, T.TEACHERS[name], "numpy")


def teacher_data(cfg: OneStepConfig, n: int, beta_star: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, cfg.d))
    y = np.asarray(_teacher_fn(cfg.teacher)(X @ beta_star), dtype=np.float64) + cfg.noise * rng.standard_normal(n)
    return X, y


def first_gradient(W, a, X, r) -> torch.Tensor:
    """G_0 (h, d) from the derived per-point term, summed over the p points."""
    G = derive("one-step-gradient").compile("torch", "G")
    t = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    return G(w_j=t(W), a_j=t(a), x=t(X), r=t(r), h=W.shape[0], p=X.shape[0])


def features(W, X) -> np.ndarray:
    return np.maximum(X @ W.T, 0.0) / math.sqrt(W.shape[0])


def ridge_risk(F, y, Ft, yt) -> tuple[float, float]:
    """(test risk, chosen lambda) of ridge regression with an intercept, lambda by exact LOO."""
    from sklearn.linear_model import RidgeCV

    model = RidgeCV(alphas=RIDGE_GRID).fit(F, y)
    return float(np.mean((model.predict(Ft) - yt) ** 2)), float(model.alpha_)


def run_seed(cfg: OneStepConfig, seed: int, risks: bool = True) -> dict:
    """One draw of teacher, data and network: the spike of G_0, the singular ratio of W_1 and, with
    ``risks``, the test risks of ridge on the initial features, on the features after the step and on
    the raw inputs (the linear ridge fitted on the same sample: the finite-p counterpart of risk_linear)."""
    rng = np.random.default_rng(seed)
    beta_star = rng.standard_normal(cfg.d)
    beta_star /= np.linalg.norm(beta_star)
    W0 = rng.standard_normal((cfg.h, cfg.d)) / math.sqrt(cfg.d)
    a = rng.standard_normal(cfg.h) / math.sqrt(cfg.h)
    X, y = teacher_data(cfg, cfg.p, beta_star, rng)
    f0 = features(W0, X) @ a
    G0 = first_gradient(W0, a, X, y - f0).numpy()
    W1 = W0 + cfg.eta_effective * math.sqrt(cfg.h) * G0
    u = np.linalg.svd(G0.T, full_matrices=False)[0][:, 0]  # top left singular vector (in input space)
    s = np.linalg.svd(W1, compute_uv=False)
    v = X.T @ (y - f0) / cfg.p  # the spike's left factor (theory.one_step.first_gradient, spike part)
    out = {"seed": seed, "spike_cosine": float(abs(u @ beta_star)),
           "spike_factor_cosine": float(abs(v @ beta_star) / np.linalg.norm(v)), "singular_ratio": float(s[0] / s[1])}
    if not risks:
        return out
    X2, y2 = teacher_data(cfg, cfg.p, beta_star, rng)  # the ridge stage's own sample
    Xt, yt = teacher_data(cfg, cfg.ptest, beta_star, rng)
    risk0, lam0 = ridge_risk(features(W0, X2), y2, features(W0, Xt), yt)
    risk1, lam1 = ridge_risk(features(W1, X2), y2, features(W1, Xt), yt)
    risk_lin, _ = ridge_risk(X2, y2, Xt, yt)
    return {**out, "risk_random_features": risk0, "risk_after_step": risk1, "risk_linear_ridge": risk_lin,
            "lambda_random_features": lam0, "lambda_after_step": lam1}


def predicted(cfg: OneStepConfig) -> dict:
    """The derived alignment (proportional limit) and the best linear risk, for this teacher and noise."""
    import sympy as sp

    H = T.hermite(cfg.teacher)
    values = {T.mu0: H["mu0"], T.mu1: H["mu1"], T.norm2: H["norm2"], T.noise: cfg.noise, T.psi: sp.Rational(cfg.p, cfg.d)}
    finite = T.finite_alignment(cfg.teacher).subs(values).subs({T.d_sym: cfg.d, T.p_sym: cfg.p})
    return {"predicted_cosine": float(T.predicted_alignment().subs(values)), "predicted_cosine_finite": float(finite),
            "risk_linear": float(T.linear_risk().subs(values)),
            "hermite": {k: float(v) for k, v in H.items()}}


def one_step(cfg: OneStepConfig, seeds, risks: bool = True) -> dict:
    """Every seed, with means and 95 % t-intervals over seeds (the JSON of ``lazyrich one-step``)."""
    from .stats import mean_interval

    rows = [run_seed(cfg, s, risks) for s in seeds]
    out = {"config": {**cfg.__dict__, "eta_effective": cfg.eta_effective}, "seeds": list(seeds), "runs": rows,
           **predicted(cfg)}
    for key in ("spike_cosine", "spike_factor_cosine", "singular_ratio", "risk_random_features", "risk_after_step",
                "risk_linear_ridge"):
        if key not in rows[0]:
            continue
        vals = [r[key] for r in rows]
        if len(vals) > 1:
            m, lo, hi = mean_interval(vals)
            out[key] = {"mean": m, "ci": [lo, hi]}
        else:
            out[key] = {"mean": vals[0], "ci": None}
    return out
