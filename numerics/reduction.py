"""The attractor reduction: every group of neurons with one activation pattern on the training set and one
sign of beta replaced by a single neuron, leaving f unchanged on the training set (notes/reduction.md).

For a group A with pattern S and sign s, put w_n = |beta_n| / c > 0 and v* = sum_{n in A} w_n v_n,
beta* = s c (v = (omega, b), any c > 0; c = sqrt|sum |beta_n| v_n| balances the two layers). On a point of
S every u_n > 0, so beta* relu(v*.xh) = s c sum w_n u_n = sum beta_n relu(u_n); off S every u_n <= 0, so
v*.xh <= 0 and both sides vanish. Mixing signs of beta (w_n of both signs) or patterns (u_n of both signs
on one point) breaks the argument, and the reduction then changes f (tests check that it does).
Activation patterns come from numerics.patterns, the one definition shared with the attractor count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import network as N, patterns as P


@dataclass
class Reduced:
    omega: np.ndarray  # (A, d)
    b: np.ndarray  # (A,)
    beta: np.ndarray  # (A,): scaled by A/h, so that the usual (1/A) sum gives the original (1/h) sum
    labels: np.ndarray  # (h,): the group of every original neuron

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])


def output(omega, b, beta, X) -> np.ndarray:
    """f on the points X (numpy in, numpy out), by the network's one definition (numerics.network.output)."""
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    return N.output(t(omega), t(b), t(beta), t(X)).numpy()


def reduce_network(omega, b, beta, X, tol: float = P.PATTERN_TOL, by: str = "pattern-sign") -> Reduced:
    """Merge the neurons of (omega (h, d), b (h,), beta (h,)) by activation pattern on X and sign of beta.

    ``by``: "pattern-sign" (the reduction), or "pattern" / "sign" alone, which are not identities and
    serve to show that the check can fail."""
    omega, b, beta = (np.asarray(a, dtype=np.float64) for a in (omega, b, beta))
    pats = P.active(N.preactivations(omega, b, np.asarray(X, dtype=np.float64)).T, tol)
    sign = np.sign(beta)
    if by == "pattern-sign":
        labels = P.group_labels(pats, extra=sign)
    elif by == "pattern":
        labels = P.group_labels(pats)
    elif by == "sign":
        labels = P.group_labels(np.zeros((len(beta), 0), bool), extra=sign)
    else:
        raise ValueError(f"unknown grouping {by!r}: pattern-sign, pattern or sign")
    V = np.concatenate([omega, b[:, None]], 1)
    A = int(labels.max()) + 1 if len(labels) else 0
    weighted = np.zeros((A, V.shape[1]))
    np.add.at(weighted, labels, beta[:, None] * V)  # sum beta_n v_n = s sum |beta_n| v_n per group
    c = np.sqrt(np.linalg.norm(weighted, axis=1))
    c_safe = np.where(c > 0, c, 1.0)
    v_star = weighted / c_safe[:, None]  # = (1/c) sum beta_n v_n; with beta* = c, beta* v* = sum beta_n v_n
    beta_star = c
    # a sign-pure group has sum beta_n v_n = s sum |beta_n| v_n: v* = s sum w_n v_n; put the sign on beta*
    group_sign = np.zeros(A)
    np.add.at(group_sign, labels, sign)
    s = np.where(group_sign < 0, -1.0, 1.0)
    v_star, beta_star = v_star * s[:, None], beta_star * s
    return Reduced(v_star[:, :-1], v_star[:, -1], beta_star * A / len(beta), labels)


def relative_change(orig, reduced: Reduced, X) -> float:
    """max |f_reduced - f| / max |f| over the points X; orig = (omega, b, beta)."""
    f = output(*orig, X)
    g = output(reduced.omega, reduced.b, reduced.beta, X)
    scale = np.abs(f).max()
    return float(np.abs(g - f).max() / scale) if scale > 0 else float(np.abs(g - f).max())
