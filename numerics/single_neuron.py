"""The single neuron f(x) = a w^T x of the second seed: its problem, exact solutions and integration.

Every formula is compiled from theory (``lazyrich derive single-neuron-...``): the flow that
scipy integrates, the conserved delta, the closed-form whitened trajectory, the rank-1 limit
beta_inf(delta) and the NTK with its distance from initialisation. The problem is given by the
population statistics Sigma_xx, Sigma_xy, the initial function beta_0 = a_0 w_0 and the
imbalance delta: a_0 > 0 is the positive root of eta_w a^2 - eta_a |beta_0|^2/a^2 = delta.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from scipy.integrate import solve_ivp

from ..theory.derived import derive
from ..theory.errors import LazyrichError

RTOL, ATOL = 1e-12, 1e-14  # DOP853 tolerances of the reference integration (float64)


class SingleNeuronError(LazyrichError):
    """A bad single-neuron problem: shapes, symmetry, definiteness, beta_0 = 0, a rate <= 0."""


def parse_matrix(text: str, name: str) -> np.ndarray:
    """'0.25,0.5;0.5,1' (rows separated by ';', entries by ',') as a float array; one row is a vector."""
    try:
        rows = [[float(v) for v in row.split(",")] for row in str(text).strip().split(";")]
    except ValueError:
        raise SingleNeuronError(f"{name} must be numbers separated by ',' (and rows by ';'), got {text!r}") from None
    if len({len(r) for r in rows}) != 1:
        raise SingleNeuronError(f"{name}: every row must have the same number of entries, got {text!r}")
    out = np.array(rows, dtype=np.float64)
    return out[0] if out.shape[0] == 1 else out


@dataclass(frozen=True)
class Problem:
    sxx: np.ndarray  # (d, d) input covariance, symmetric positive semi-definite
    sxy: np.ndarray  # (d,) input-output correlation
    beta0: np.ndarray  # (d,) initial function beta = a w
    delta: float  # the conserved imbalance eta_w a^2 - eta_a |w|^2
    eta_w: float = 1.0
    eta_a: float = 1.0
    rank: int = field(init=False)

    def __post_init__(self):
        sxx, sxy, beta0 = (np.asarray(v, dtype=np.float64) for v in (self.sxx, self.sxy, self.beta0))
        sxx = np.atleast_2d(sxx)
        d = sxx.shape[0]
        if sxx.ndim != 2 or sxx.shape != (d, d):
            raise SingleNeuronError(f"Sigma_xx must be a square matrix, got shape {sxx.shape}")
        for name, vec in (("Sigma_xy", sxy), ("beta0", beta0)):
            if vec.shape != (d,):
                raise SingleNeuronError(f"{name} must have {d} entries (Sigma_xx is {d} x {d}), got shape {vec.shape}")
        for name, value in (("Sigma_xx", sxx), ("Sigma_xy", sxy), ("beta0", beta0),
                            ("delta", self.delta), ("eta_w", self.eta_w), ("eta_a", self.eta_a)):
            if not np.all(np.isfinite(value)):
                raise SingleNeuronError(f"{name} must be finite, got {value}")
        if self.eta_w <= 0 or self.eta_a <= 0:
            raise SingleNeuronError(f"the learning rates must be positive, got eta_w = {self.eta_w}, eta_a = {self.eta_a}")
        scale = max(np.abs(sxx).max(), 1e-300)
        if np.abs(sxx - sxx.T).max() > 1e-12 * scale:
            raise SingleNeuronError("Sigma_xx must be symmetric")
        evals, evecs = np.linalg.eigh(sxx)
        if evals.min() < -1e-12 * scale:
            raise SingleNeuronError(f"Sigma_xx must be positive semi-definite; its smallest eigenvalue is {evals.min():.3g}")
        if evals.max() <= 0:
            raise SingleNeuronError("Sigma_xx is zero: the inputs carry nothing to learn")
        rank = int((evals > 1e-10 * evals.max()).sum())
        null = evecs[:, evals <= 1e-10 * evals.max()]
        if null.size and np.linalg.norm(null.T @ sxy) > 1e-10 * max(np.linalg.norm(sxy), 1e-300):
            raise SingleNeuronError("Sigma_xy must lie in the range of Sigma_xx (otherwise the loss has no minimum)")
        if not np.any(beta0):
            raise SingleNeuronError("beta0 must be non-zero: beta = 0 is a saddle that gradient flow never leaves")
        object.__setattr__(self, "sxx", (sxx + sxx.T) / 2)
        object.__setattr__(self, "sxy", sxy)
        object.__setattr__(self, "beta0", beta0)
        object.__setattr__(self, "delta", float(self.delta))
        object.__setattr__(self, "rank", rank)

    @property
    def d(self) -> int:
        return self.sxx.shape[0]

    def initial(self) -> tuple[float, np.ndarray]:
        """(a_0, w_0): a_0 > 0 with eta_w a_0^2 - eta_a |w_0|^2 = delta and a_0 w_0 = beta_0. The same
        two conditions as a ReLU neuron's scale and imbalance (a the readout, |a| |w| = |beta_0|), so
        network.balanced_norms solves them (without the cancellation of the direct root for delta < 0)."""
        from .network import balanced_norms

        _, a0 = balanced_norms(math.sqrt(float(np.linalg.norm(self.beta0))), self.delta, (self.eta_w, self.eta_a))
        return a0, self.beta0 / a0

    def isotropic(self) -> float | None:
        """s when Sigma_xx = s I (whitened up to a scale), else None."""
        s = float(np.trace(self.sxx)) / self.d
        return s if np.abs(self.sxx - s * np.eye(self.d)).max() <= 1e-12 * abs(s) else None


# ---------------------------------------------------------------------------------- compiled theory
@cache
def _compiled(name: str, label: str, backend: str = "numpy"):
    return derive(name).compile(backend, label)


def imbalance(problem: Problem, a, w) -> np.ndarray:
    """delta(t) = eta_w a^2 - eta_a |w|^2 along a trajectory (a (T,), w (T, d))."""
    fn = _compiled("single-neuron-imbalance", "delta")
    return np.array([fn(a=ai, w=wi[:, None], eta_w=problem.eta_w, eta_a=problem.eta_a) for ai, wi in zip(a, w)])


def integrate(problem: Problem, t: np.ndarray, state0=None) -> dict:
    """The flow of (w, a) from the derived equations, by DOP853 at rtol 1e-12 (float64), on the times t."""
    wdot, adot = _compiled("single-neuron-flow", "w"), _compiled("single-neuron-flow", "a")
    d, kw = problem.d, {"Sigma_xx": problem.sxx, "Sigma_xy": problem.sxy[:, None]}

    def rhs(_, y):
        w, a = y[:d, None], y[d]
        return np.concatenate([wdot(a=a, w=w, eta_w=problem.eta_w, **kw)[:, 0],
                               np.ravel(adot(a=a, w=w, eta_a=problem.eta_a, **kw))])

    if state0 is None:
        a0, w0 = problem.initial()
        state0 = np.concatenate([w0, [a0]])
    sol = solve_ivp(rhs, (0.0, float(t[-1])), state0, method="DOP853", t_eval=t, rtol=RTOL, atol=ATOL)
    if not sol.success:
        raise RuntimeError(f"the single-neuron integration failed: {sol.message}")
    w, a = sol.y[:d].T, sol.y[d]
    return {"t": sol.t, "w": w, "a": a, "beta": a[:, None] * w}


def exact_trajectory(problem: Problem, t: np.ndarray):
    """beta(t) in closed form where it exists (Sigma_xx = s I, Sigma_xy != 0), else (None, reason).

    Sigma_xx = s I is the whitened flow with rates s eta_w, s eta_a, imbalance s delta and target
    Sigma_xy/s. Evaluated with mpmath (no overflow of the growing exponentials at large t)."""
    s = problem.isotropic()
    if s is None:
        return None, "no closed form: Sigma_xx is not a multiple of the identity"
    target = problem.sxy / s
    B = float(np.linalg.norm(target))
    if B <= 1e-9 * max(1.0, float(np.linalg.norm(problem.beta0))):
        # the reduction divides by B: near B = 0 its terms cancel to more digits than mpmath carries
        return None, "no closed form: Sigma_xy = 0 (the whitened reduction needs a target direction)"
    e = target / B
    a0, w0 = problem.initial()
    w_par0 = float(e @ w0)
    perp = w0 - w_par0 * e
    rho0 = float(np.linalg.norm(perp))
    e_perp = perp / rho0 if rho0 > 0 else np.zeros_like(perp)
    args = {"B": B, "a_0": a0, "w_par0": w_par0, "rho_0": rho0, "delta": s * problem.delta,
            "eta_w": s * problem.eta_w, "eta_a": s * problem.eta_a}
    import mpmath

    par, per = (_compiled("single-neuron-trajectory", k, "mpmath") for k in ("beta_par", "beta_perp"))
    with mpmath.workdps(40):  # C_+- and the exponentials cancel for small B or large t
        bpar = np.array([float(par(t=float(ti), **{k: v for k, v in args.items() if k != "rho_0"})) for ti in t])
        bper = np.array([float(per(t=float(ti), **args)) for ti in t])
    return bpar[:, None] * e + bper[:, None] * e_perp, None


def beta_limit(problem: Problem) -> tuple[np.ndarray, str]:
    """beta_inf and how it was found: the unique minimiser (full rank), the implicit-bias closed form
    (rank 1), or a long integration (other ranks)."""
    if problem.rank == problem.d:
        return np.linalg.solve(problem.sxx, problem.sxy), "closed form (full rank: Sigma_xx^-1 Sigma_xy)"
    if problem.rank == 1:
        return implicit_bias(problem), "closed form (rank 1: implicit bias)"
    return long_integration(problem)["beta"], "simulated (long integration to convergence)"


def implicit_bias(problem: Problem) -> np.ndarray:
    """The rank-1 limit beta_inf(delta) = c e + a_inf w_perp(0) (derive single-neuron-implicit-bias)."""
    evals, evecs = np.linalg.eigh(problem.sxx)
    lam1, e = float(evals[-1]), evecs[:, -1]
    q = float(e @ problem.sxy)
    a0, w0 = problem.initial()
    w_e0 = float(e @ w0)
    w_perp = w0 - w_e0 * e
    args = {"delta": problem.delta, "eta_w": problem.eta_w, "eta_a": problem.eta_a, "lambda_1": lam1, "q": q,
            "w_perp2": float(w_perp @ w_perp)}
    A = float(_compiled("single-neuron-implicit-bias", "a2")(**args))
    c = float(_compiled("single-neuron-implicit-bias", "c")(**{k: args[k] for k in ("q", "lambda_1")}))
    # a keeps its sign (a_0 > 0) when delta' = delta + eta_a |w_perp|^2 >= 0; otherwise w_e keeps its sign
    delta_e = problem.delta + problem.eta_a * args["w_perp2"]
    sign = 1.0 if delta_e >= 0 else float(np.sign(c * w_e0)) or 1.0
    return c * e + sign * math.sqrt(max(A, 0.0)) * w_perp


def long_integration(problem: Problem, tol: float = 1e-13, t_max: float = 1e7) -> dict:
    """Integrate until |dbeta/dt| < tol |beta| (doubling the horizon), for the limits without closed form."""
    horizon = 50.0
    a0, w0 = problem.initial()
    state = np.concatenate([w0, [a0]])
    t_done = 0.0
    while True:
        run = integrate(problem, np.array([0.0, horizon]), state)
        state = np.concatenate([run["w"][-1], [run["a"][-1]]])
        t_done += horizon
        grad = problem.sxy - problem.sxx @ (state[-1] * state[:-1])
        if np.linalg.norm(grad) < tol * max(1.0, np.linalg.norm(problem.sxy)) or t_done >= t_max:
            return {"beta": state[-1] * state[:-1], "a": state[-1], "w": state[:-1], "t": t_done,
                    "residual": float(np.linalg.norm(grad))}
        horizon *= 2


def kernel_distance(problem: Problem, a, w, weight=None) -> np.ndarray:
    """S(t) = 1 - <K_0, K_t>/(|K_0| |K_t|) from the derived M and S. ``weight`` None: the Frobenius
    product of the d x d kernels M themselves (Kunin et al.'s S, the kernel on all of R^d); the input
    covariance: the kernels over the input distribution, tr(M_0 Sigma M_t Sigma) (a rank-1 Sigma_xx
    sees one scalar of M, so that S is 0)."""
    M, S = _compiled("single-neuron-ntk", "M"), _compiled("single-neuron-ntk", "S")
    weight = np.eye(problem.d) if weight is None else weight
    mats = [M(a=ai, w=wi[:, None], eta_w=problem.eta_w, eta_a=problem.eta_a) for ai, wi in zip(a, w)]
    # 1 - cos loses its last bits near 0: clip the rounding below 0
    return np.array([max(float(S(M_0=mats[0], M_t=m, Sigma_xx=weight)), 0.0) for m in mats])


def solve(problem: Problem, t_max: float = 50.0, points: int = 201) -> dict:
    """Everything ``lazyrich single-neuron`` reports, as plain lists (the JSON keys of the command)."""
    if not (math.isfinite(t_max) and t_max > 0):
        raise SingleNeuronError(f"t_max must be finite and positive, got {t_max}")
    if points < 2:
        raise SingleNeuronError(f"points must be at least 2, got {points}")
    t = np.linspace(0.0, t_max, points)
    sim = integrate(problem, t)
    exact, reason = exact_trajectory(problem, t)
    beta_inf, how = beta_limit(problem)
    drift = np.abs(imbalance(problem, sim["a"], sim["w"]) - problem.delta)
    scale = problem.eta_w * sim["a"] ** 2 + problem.eta_a * (sim["w"] ** 2).sum(1)
    a0, w0 = problem.initial()
    return {
        "delta": problem.delta, "eta_w": problem.eta_w, "eta_a": problem.eta_a, "d": problem.d, "rank": problem.rank,
        "a0": a0, "w0": w0.tolist(),
        "t": t.tolist(),
        "beta_exact": exact.tolist() if exact is not None else None,
        "exact_reason": reason,
        "beta_simulated": sim["beta"].tolist(),
        "beta_inf": beta_inf.tolist(), "beta_inf_method": how,
        "delta_drift": float(drift.max()),
        "delta_drift_relative": float((drift / scale).max()),
        "kernel_distance": kernel_distance(problem, sim["a"], sim["w"]).tolist(),
        "kernel_distance_data": kernel_distance(problem, sim["a"], sim["w"], problem.sxx).tolist(),
        "max_error": float(np.linalg.norm(exact - sim["beta"], axis=1).max()) if exact is not None else None,
        "final_distance_to_beta_inf": float(np.linalg.norm(sim["beta"][-1] - beta_inf)),
    }
