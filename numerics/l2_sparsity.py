"""L2-regularised shallow ReLU networks with vector outputs, trained to a local minimum; their
distinct neurons counted (Jacot 2022; theory in theory.l2_sparsity).

The model: f(x) = sum_j a_j relu(w_j . x), W (h, d), A (h, k), no bias and no width factor (the
paper's parametrisation: the weight decay then acts on the function through 2 sum |a_j||w_j|). The
loss L = (1/N) sum_mu |f(x_mu) - y_mu|^2 + lam (|W|^2 + |A|^2). For scalar-label data sets (stripe,
sphere, a file) the inputs get a constant coordinate 1, which plays the bias and is regularised like
every weight, so the network stays the bias-free model of the theory on the inputs (x, 1).

Training: L-BFGS (scipy) on the flat parameters, loss and gradient in float64 (loss_terms),
from W rows ~ N(0, I/d), A ~ N(0, 1/h). Then rounds of prune and merge, each followed by L-BFGS
again: neurons whose share 2|a||w| of the cost is below PRUNE of the largest are removed (a dead or
vanishing neuron pays a first-order cost for a second-order gain, so a minimum has none), and neurons
with the same activation pattern and input directions within ANGLE are merged into one neuron
carrying their summed output sum_j a_j |w_j| (the same function on every input, at a cost no
larger). The rounds end when nothing is removed or merged.

Counting: the distinct active neurons, grouped by activation pattern on the training points
(numerics.patterns, the attractors' definition) and, inside a pattern, by input direction (single
linkage at ANGLE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import patterns as P
from ..theory.errors import LazyrichError

PRUNE = 1e-6  # a neuron with 2|a||w| below PRUNE times the largest is pruned
MERGE_ANGLE = 1e-3  # neurons of one pattern with input directions closer than this (radians) are merged
# the count: directions closer than ANGLE are one (single linkage), and a direction or pattern counts
# when it carries at least SHARE of the cost. At finite lam the minimisers form a continuum (the
# factorisation of the optimal outputs is not unique), whose extra neurons carry O(lam) of the cost;
# the thresholds count the neurons that carry the function (notes/l2_sparsity.md)
ANGLE = 0.1
SHARE = 1e-2
ROUNDS = 8
FIRST_ROUND = 2000


class L2Error(LazyrichError):
    """A bad L2-sparsity setting (sizes, lambda, data)."""


@dataclass(frozen=True)
class L2Config:
    h: int = 64
    lam: float = 1e-3
    max_iter: int = 20000
    gtol: float = 1e-12

    def __post_init__(self):
        if not isinstance(self.h, (int, np.integer)) or self.h < 1:
            raise L2Error(f"h must be a positive integer, got {self.h!r}")
        if not (math.isfinite(self.lam) and self.lam > 0):
            raise L2Error(f"lam must be finite and positive, got {self.lam}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise L2Error(f"max_iter must be a positive integer, got {self.max_iter!r}")


def check_problem(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y) or len(X) < 1:
        raise L2Error(f"inputs (N, d) and targets (N, k) must share N >= 1 rows, got {X.shape} and {Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise L2Error("inputs or targets contain NaN or infinite values")
    return X, Y


def with_bias(X) -> np.ndarray:
    """(x, 1): the constant coordinate that plays the bias."""
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([X, np.ones((len(X), 1))], axis=1)


def loss_terms(W, A, X, Y, lam, gradient: bool = False):
    """(data term, regularisation term) of L and, with ``gradient``, dL/dW and dL/dA: the backward pass
    written out (a tenth of the time of torch autograd at these sizes, where L-BFGS is call-bound);
    tests compare it with autograd."""
    Z = X @ W.T
    S = np.maximum(Z, 0.0)
    R = S @ A - Y
    fit, reg = float((R ** 2).sum() / len(X)), float(lam * ((W ** 2).sum() + (A ** 2).sum()))
    if not gradient:
        return fit, reg
    dF = 2.0 * R / len(X)
    dA = S.T @ dF + 2.0 * lam * A
    dW = ((dF @ A.T) * (Z > 0)).T @ X + 2.0 * lam * W
    return fit, reg, dW, dA


def _minimise(W, A, X, Y, cfg: L2Config, max_iter: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    from scipy.optimize import minimize

    h, d = W.shape

    def fun(theta):  # L/lam: the cost term is O(1) whatever lam, so L-BFGS's stopping tests stay meaningful
        fit, reg, dW, dA = loss_terms(theta[:h * d].reshape(h, d), theta[h * d:].reshape(h, -1), X, Y, cfg.lam, True)
        return (fit + reg) / cfg.lam, np.concatenate([dW.ravel(), dA.ravel()]) / cfg.lam

    theta0 = np.concatenate([W.ravel(), A.ravel()])
    max_iter = max_iter or cfg.max_iter
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxfun": 2 * max_iter, "gtol": cfg.gtol, "ftol": 1e-16,
                            "maxcor": 30})
    return res.x[:h * d].reshape(h, d), res.x[h * d:].reshape(h, -1), {"iterations": int(res.nit),
                                                                       "converged": bool(res.success),
                                                                       "gradient": float(np.abs(res.jac).max())}


def pattern_labels(W, A, X) -> np.ndarray:
    """The attractors' grouping: activation pattern on the training points (numerics.patterns) and,
    for one output, the sign of the readout (neurons of one pattern and one sign add up to one)."""
    return P.group_labels(P.active(W @ X.T), np.sign(A[:, 0]) if A.shape[1] == 1 else None)


def direction_labels(W, angle: float, groups=None) -> np.ndarray:
    """Single-linkage clusters of the input directions at ``angle`` (radians), inside each group."""
    from scipy.cluster.hierarchy import fcluster, linkage

    groups = np.zeros(len(W), dtype=np.int64) if groups is None else np.asarray(groups)
    out = np.zeros(len(W), dtype=np.int64)
    nxt = 0
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        u = W[idx] / np.linalg.norm(W[idx], axis=1, keepdims=True)
        # the chord 2 sin(theta/2) of unit vectors, compared with the angle through the same map
        sub = (fcluster(linkage(u, "single"), t=2 * math.sin(angle / 2), criterion="distance")
               if len(idx) > 1 else np.ones(1, dtype=np.int64))
        for s in np.unique(sub):
            out[idx[sub == s]] = nxt
            nxt += 1
    return out


def _carrying(labels, cost) -> int:
    """How many groups carry at least SHARE of the total cost."""
    if len(labels) == 0:
        return 0
    share = np.bincount(labels, weights=cost) / cost.sum()
    return int((share >= SHARE).sum())


def neuron_costs(W, A) -> np.ndarray:
    """2 |a_j| |w_j|: each neuron's share of the cost at its balanced scale."""
    return 2 * np.linalg.norm(W, axis=1) * np.linalg.norm(A, axis=1)


def merge_labels(W, A, X) -> np.ndarray:
    """Which neurons can be merged into one without changing the outputs on the training points.

    One output: the neurons of one activation pattern and one readout sign (the attractors' groups):
    sum_j a_j relu(w_j . x) = s relu(w . x) on every training point with w = sum_j |a_j| w_j, since
    all the w_j . x share their sign there. Several outputs: the neurons of one pattern whose input
    directions agree within MERGE_ANGLE (the same function on every input)."""
    groups = pattern_labels(W, A, X)
    return groups if A.shape[1] == 1 else direction_labels(W, MERGE_ANGLE, groups)


def prune_and_merge(W, A, X) -> tuple[np.ndarray, np.ndarray, int]:
    """(W, A, neurons removed): vanishing neurons dropped, mergeable neurons merged (at balanced scale)."""
    cost = neuron_costs(W, A)
    keep = cost > PRUNE * cost.max() if cost.max() > 0 else np.zeros(len(W), bool)
    W, A = W[keep], A[keep]
    labels = merge_labels(W, A, X)
    Wm, Am = [], []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        na = np.linalg.norm(A[idx], axis=1)
        if A.shape[1] == 1:  # w = sum |a_j| w_j, readout its sign: exact on the training points
            w, out = (na[:, None] * W[idx]).sum(0), np.sign(A[idx[0]])
        else:  # one direction u: the function is relu(u . x) sum_j a_j |w_j|
            nw = np.linalg.norm(W[idx], axis=1)
            w = (W[idx] / nw[:, None]).mean(0)
            w /= np.linalg.norm(w)
            out = (A[idx] * nw[:, None]).sum(0)
        # a w^T-preserving rescaling to the balanced scale |a| = |w|
        scale = math.sqrt(np.linalg.norm(out) / np.linalg.norm(w)) if np.linalg.norm(out) > 0 else 1.0
        Wm.append(w * scale)
        Am.append(out / scale)
    return np.array(Wm).reshape(-1, W.shape[1]), np.array(Am).reshape(-1, A.shape[1]), int(len(keep) - len(Wm))


def train(X, Y, cfg: L2Config, seed: int) -> dict:
    """Train from the seed's initialisation to a local minimum, prune and merge; the minimum's numbers."""
    X, Y = check_problem(X, Y)
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], Y.shape[1]
    W = rng.standard_normal((cfg.h, d)) / math.sqrt(d)
    A = rng.standard_normal((cfg.h, k)) / math.sqrt(cfg.h)
    # a first descent, cut short: the merges below do what L-BFGS does slowly across the ReLU kinks
    W, A, info = _minimise(W, A, X, Y, cfg, max_iter=min(cfg.max_iter, FIRST_ROUND))
    iterations, merged = info["iterations"], 0
    for _ in range(ROUNDS):
        W, A, removed = prune_and_merge(W, A, X)
        if len(W) == 0:
            break
        W, A, info = _minimise(W, A, X, Y, cfg)
        iterations += info["iterations"]
        merged += removed
        if removed == 0:
            break
    return summarise(W, A, X, Y, cfg.lam) | {"seed": seed, "iterations": iterations, "removed": merged,
                                             "converged": info["converged"], "gradient": info["gradient"]}


def summarise(W, A, X, Y, lam) -> dict:
    """The numbers of a minimum: loss, cost/lam, distinct neurons and patterns."""
    fit, reg = loss_terms(W, A, X, Y, lam)
    cost = neuron_costs(W, A)
    empty = np.zeros(0, np.int64)
    return {"loss": float(fit + reg), "fit": float(fit), "cost_over_lambda": float(reg / lam),
            "balanced_cost_over_lambda": float(cost.sum()),
            "directions": _carrying(direction_labels(W, ANGLE) if len(W) else empty, cost),
            "patterns": _carrying(pattern_labels(W, A, X) if len(W) else empty, cost),
            "distinct_neurons": int(len(np.unique(merge_labels(W, A, X)))) if len(W) else 0, "W": W, "A": A}


@dataclass(frozen=True)
class Problem:
    """The training set of an L2-sparsity run: inputs X (N, d), targets Y (N, k), what theory says."""
    X: np.ndarray
    Y: np.ndarray
    name: str
    predicted_cost_over_lambda: object = None  # a function of lam, where theory gives it
    predicted_directions: int | None = None
    directions_reference: np.ndarray | None = None  # unit vectors of the predicted directions
    raw_X: np.ndarray | None = None  # scalar-label data: the inputs without the bias coordinate
    labels: np.ndarray | None = None

    @property
    def N(self) -> int:
        return len(self.X)


def tight_example(n: int) -> Problem:
    """X = I_N, Y = Y_N (theory.l2_sparsity.tight_targets), with the derived cost and directions."""
    from ..theory import l2_sparsity as T
    from ..theory.derived import derive

    try:
        Y = np.array(T.tight_targets(int(n)), dtype=np.float64)
    except ValueError as exc:
        raise L2Error(f"--p: {exc}") from None
    finite = derive("l2-representation-cost").compile("numpy", "finite")

    def cost(lam):  # the derived cost/lam at finite lam, compiled from theory
        return float(finite(N=n, **{"lambda": lam}))
    E = np.array([np.array(v, dtype=np.float64).ravel() for v in T.tight_factorisation(int(n))])
    return Problem(np.eye(n), Y, f"tight N={n}", cost, int(T.tight_cost()[1].subs(T.N, n)),
                   E / np.linalg.norm(E, axis=1, keepdims=True))


def data_problem(X, y, name: str) -> Problem:
    """Scalar labels: the inputs get the constant bias coordinate."""
    X, Y = check_problem(X, y)
    return Problem(with_bias(X), Y, name, raw_X=X, labels=Y[:, 0])


def edge_alignment(W, A, reference) -> dict:
    """The cost share of the neurons within ANGLE of a predicted direction, and how many are occupied."""
    u = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = np.clip(u @ reference.T, -1.0, 1.0)
    near, angle = cos.argmax(1), np.arccos(cos.max(1))
    cost = neuron_costs(W, A)
    close = angle < ANGLE
    return {"share_near_predicted": float(cost[close].sum() / cost.sum()),
            "predicted_occupied": int(len(np.unique(near[close]))),
            "mean_angle": float((cost * angle).sum() / cost.sum())}


def l2_sparsity(problem: Problem, cfg: L2Config, seeds, attractors: bool = False) -> dict:
    """Every seed trained, with means and 95 % t-intervals (the JSON of ``lazyrich l2-sparsity``)."""
    from ..theory import l2_sparsity as T
    from .stats import mean_interval

    rows = []
    for s in seeds:
        r = train(problem.X, problem.Y, cfg, s)
        W, A = r.pop("W"), r.pop("A")
        if problem.directions_reference is not None:
            r.update(edge_alignment(W, A, problem.directions_reference))
        rows.append(r)
    N = problem.N
    out = {"problem": problem.name, "config": cfg.__dict__, "seeds": list(seeds), "runs": rows, "N": N,
           "outputs": int(problem.Y.shape[1]),
           "predicted_cost_over_lambda": (problem.predicted_cost_over_lambda(cfg.lam)
                                          if problem.predicted_cost_over_lambda else None),
           "predicted_directions": problem.predicted_directions,
           "bound": int(T.neuron_bounds()[0].subs(T.N, N)), "bound_one_output": int(T.neuron_bounds()[1].subs(T.N, N)),
           "count_rule": {"angle": ANGLE, "share": SHARE, "pattern_tol": P.PATTERN_TOL}}
    for key in ("cost_over_lambda", "directions", "patterns", "distinct_neurons", "loss"):
        vals = [r[key] for r in rows]
        m, lo, hi = mean_interval(vals) if len(vals) > 1 else (float(vals[0]), None, None)
        out[key] = {"mean": m, "ci": None if lo is None else [lo, hi], "values": vals}
    if attractors and problem.raw_X is not None:
        from .fixed_points.attractor_count import reached

        counts = [reached(problem.raw_X, problem.labels, cfg.h, s) for s in seeds]
        out["attractors"] = {"stable": counts[0]["stable"], "reached": [int(len(np.unique(c["label"][c["label"] >= 0])))
                                                                      for c in counts],
                             "complete": all(c["complete"] for c in counts)}
    return out
