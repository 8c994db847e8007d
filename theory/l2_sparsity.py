"""L2-regularised shallow ReLU networks (Jacot 2022, "Attraction/Repulsion and Sparsity"): the
representation cost and the paper's tight example.

The model: f(x) = sum_j a_j relu(w_j . x) with vector outputs a_j in R^k, no bias, trained on
L = (1/N) sum_mu |f(x_mu) - y_mu|^2 + lam sum_j (|w_j|^2 + |a_j|^2) over N points.

Derived here:
- the cost of one neuron: ReLU is positively homogeneous, so (c w, a/c) is the same function for
  every c > 0, and the minimum over c of |c w|^2 + |a/c|^2 is 2 |a| |w| (sympy);
- the representation cost R(Y) = min 2 sum_j |a_j||w_j| over networks with outputs Y on the data.
  With X = I_N the pre-activations are the free weights, relu(w) >= 0 is any non-negative vector,
  and R(Y) >= 2 |Y|_* (the nuclear-norm bound of the unconstrained factorisation), with equality when
  Y is completely positive, Y = sum_j v_j v_j^T with v_j >= 0 (take w_j = a_j = v_j);
- the tight example Y_N = (N/2) I + the adjacency of the complete bipartite graph K_{N/2,N/2}: it is
  sum over the N^2/4 edges (i, j) of (e_i + e_j)(e_i + e_j)^T, its cost is 2 tr Y_N = N^2, and every
  minimiser uses exactly the N^2/4 edge directions (AM-GM on each edge, below);
- the bound N(N + 1) on the distinct neurons of a local minimum, and N + 1 for one output;
- the minimum at finite lam: the nuclear-norm relaxation shrinks Y_N's eigenvalues by lam N, so
  cost/lam = N^2 - 2 lam N (N - 1) wherever the shrunk outputs stay completely positive.
"""
from __future__ import annotations

from functools import cache

import sympy as sp
from .errors import LazyrichError

N = sp.Symbol("N", positive=True, integer=True)
lam = sp.Symbol("lambda", positive=True)
norm_a, norm_w = sp.Symbol("norm_a", positive=True), sp.Symbol("norm_w", positive=True)
LATEX = {N: "N", lam: r"\lambda", norm_a: r"|\mathbf{a}|", norm_w: r"|\mathbf{w}|"}


@cache
def neuron_cost():
    """min over c > 0 of c^2 |w|^2 + |a|^2/c^2 (the rescaling that leaves the neuron's function alone)."""
    c = sp.Symbol("c", positive=True)
    g = c ** 2 * norm_w ** 2 + norm_a ** 2 / c ** 2
    (c_star,) = sp.solve(sp.diff(g, c), c)
    return sp.simplify(g.subs(c, c_star))


def tight_targets(n: int) -> sp.Matrix:
    """Y_N = (N/2) I + adjacency of K_{N/2,N/2} (points 0..N/2-1 on one side), N even."""
    if n < 2 or n % 2:
        raise LazyrichError(f"the tight example needs an even N >= 2, got {n}")
    half = n // 2
    return sp.Matrix(n, n, lambda i, j: sp.Rational(n, 2) if i == j else int((i < half) != (j < half)))


def tight_factorisation(n: int) -> list[sp.Matrix]:
    """The edge vectors e_i + e_j, one per edge of K_{N/2,N/2}; their outer products sum to Y_N (checked)."""
    half = n // 2
    vectors = []
    for i in range(half):
        for j in range(half, n):
            v = sp.zeros(n, 1)
            v[i] = v[j] = 1
            vectors.append(v)
    Y = tight_targets(n)
    if sum((v * v.T for v in vectors), sp.zeros(n, n)) != Y:
        raise RuntimeError("the edge vectors do not factor Y_N")
    return vectors


@cache
def tight_cost():
    """(cost, directions) of Y_N as functions of N, and the two ways of counting the cost that agree.

    Lower bound: Y_N is PSD (eigenvalues N, N/2 (N - 2 times), 0: Y_N = (N/2) I + [[0, J], [J, 0]] and
    the block matrix has eigenvalues +-N/2 and 0), so |Y_N|_* = tr Y_N = N * N/2 and R >= 2 tr Y_N.
    Upper bound: the N^2/4 edge neurons w = a = e_i + e_j each cost 2 |a||w| = 4 (neuron_cost)."""
    lower = 2 * N * (N / 2)
    edges = (N / 2) ** 2
    upper = edges * neuron_cost().subs({norm_a: sp.sqrt(2), norm_w: sp.sqrt(2)})
    if sp.simplify(upper - lower) != 0:
        raise RuntimeError(f"the edge neurons cost {upper}, the nuclear-norm bound is {lower}")
    return sp.expand(lower), sp.expand(edges)


@cache
def neuron_bounds():
    """(N(N + 1): distinct neurons of a local minimum, any outputs; N + 1: one output, by Caratheodory)."""
    return N * (N + 1), N + 1


def tight_spectrum() -> dict:
    """Eigenvalue -> multiplicity of Y_N: (N/2) I shifts the spectrum of the bipartite block
    [[0, J], [J, 0]] (J the (N/2) x (N/2) matrix of ones), which is +-N/2 on (1, +-1) and 0 elsewhere."""
    return {N: 1, N / 2: N - 2, sp.Integer(0): 1}


@cache
def finite_lambda_cost():
    """cost/lam of the minimum at finite lam, under the mean square loss L = (1/N)|F - Y|^2 + lam |theta|^2.

    R(F) >= 2 |F|_*, so min_F (1/N)|F - Y_N|^2 + lam R(F) >= min_F (1/N)|F - Y_N|^2 + 2 lam |F|_*, whose
    minimiser shrinks every eigenvalue s of Y_N to s - lam N (soft thresholding: per eigenvalue,
    (1/N)(t - s)^2 + 2 lam t is least at t = s - lam N, for s > lam N; the zero eigenvalue stays 0).
    The bound is attained when the shrunk matrix is completely positive; then cost/lam = 2 sum_s t_s."""
    t, s = sp.Symbol("t", positive=True), sp.Symbol("s", positive=True)
    (t_star,) = sp.solve(sp.diff((t - s) ** 2 / N + 2 * lam * t, t), t)
    total = sum(m * t_star.subs(s, ev) for ev, m in tight_spectrum().items() if ev != 0)
    return sp.expand(2 * total)
