"""Stability of an equilibrium: the Jacobian on its face, and the transversal attraction onto its surfaces.

Regular points: the region Jacobian of theory/ at z*. Sliding points: the sliding field's
Jacobian on the tangent space of the surfaces, and whether the one-sided fields push towards
the surfaces (:func:`attracting_many`, decided for all sliding equilibria at once).
"""
from __future__ import annotations

import itertools

import numpy as np

from .neuron_field import NeuronField


def classify(f: NeuronField, z, surf_idx, lam, tol, active=None) -> dict:
    """Jacobian, eigenvalues, attraction and type of an equilibrium at z on the surfaces surf_idx.

    ``active``: the (p,) activation of the points off the surfaces; by default read off z (a
    caller that knows the face passes it, for points exactly on a boundary of the face)."""
    info = local_data(f, z, surf_idx, lam, active)
    return finish(info, attracting_many([info.pop("c")], [info.pop("C")], [info.pop("wts")])[0])


def local_data(f: NeuronField, z, surf_idx, lam, active=None) -> dict:
    """Everything of classify except the transversal-attraction decision, which needs the
    integration of attracting_many and is therefore made for all equilibria at once: the
    transversal system (c, C, weights) is returned with the rest (None for a regular point)."""
    on = np.zeros(f.p, dtype=bool)
    on[surf_idx] = True
    active = (f.argument(z[None])[0] > 0 if active is None else np.asarray(active, dtype=bool)) & ~on
    weights = active.astype(np.float64)
    weights[surf_idx] = lam
    G, m = f.weights(weights[None])
    G, m = float(G[0]), m[0]
    J = f.region_jacobian(z, G, m)
    if len(surf_idx) == 0:
        eig = np.linalg.eigvals(J)
        return dict(G=G, m=m, active=np.flatnonzero(active).tolist(), eigenvalues=eig, unique=True,
                    c=None, C=None, wts=None)
    k = len(surf_idx)
    n = f.normals(z, surf_idx)  # (k, d)
    B = f.point_fields(z, surf_idx)  # (k, d) field of each surface point at z
    Nm = n @ B.T  # (k, k): n_i . g_mu f_mu
    unique = np.linalg.cond(Nm) < 1e12
    if k < f.d:
        P = np.eye(f.d) - B.T @ np.linalg.solve(Nm, n) if unique else np.eye(f.d)
        Q = _null_space(n)
        eig = np.linalg.eigvals(Q.T @ P @ J @ Q)
    else:
        eig = np.zeros(0)
    # transversal dynamics of eta_i = sign_b S_i (> 0 on the active side): deta/dt = c + C Theta(eta)
    base = weights.copy()
    base[surf_idx] = 0.0
    Gb, mb = f.weights(base[None])
    c = f.sign_b * n @ f.region_field(z, Gb[0], mb[0])
    return dict(G=G, m=m, active=np.flatnonzero(active).tolist(), eigenvalues=eig, unique=bool(unique),
                c=c, C=f.sign_b * Nm, wts=np.abs(f.g[surf_idx]))


def finish(info: dict, attracting: bool) -> dict:
    """Stability and type from the local data and the attraction decision."""
    eig = info["eigenvalues"]
    stable = bool(attracting and (eig.real < 0).all())
    kind = _type(eig, attracting) if attracting else "repelling sliding"
    return dict(info, attracting=bool(attracting), stable=stable, type=kind)


_STARTS, _MAX_STEPS, _CHECK, _SHRUNK, _GROWN = 128, 4_000, 25, 1e-6, 1e3


def attracting_many(cs, Cs, weights=None) -> np.ndarray:
    """For each transversal system i: does deta/dt = c_i + C_i Theta(eta) bring every small eta to 0?

    With lambda = -C^-1 c in (0, 1)^k this is deta/dt = C psi, psi_i = Theta(eta_i) - lambda_i.
    Lyapunov: V = sum_i w_i phi_i(eta_i), phi_i(s) = integral of psi_i, is positive away from 0
    and dV/dt = psi^T W C psi. If W C + C^T W < 0 for a positive diagonal W, V falls at a rate
    bounded away from 0 and eta reaches 0 in finite time; if it is > 0, eta never does. On k
    surfaces of this field C = sign_beta |z|^2/(d p) K diag(g) with K_ij = d + x_i.x_j positive
    definite, so W = diag(|g|) decides every case where the k points' g share a sign.

    Sufficient (and for one surface also necessary): in every orthant the constant field points
    towards each coordinate plane. Otherwise the piecewise-constant system, which is invariant
    under eta -> s eta (s > 0), is integrated from many unit directions with steps proportional
    to |eta| (so that sliding is resolved at every scale): attracting iff every start shrinks
    by 10^6, which a repelling or rotating-outward system never does.

    ``cs``, ``Cs``, ``weights``: sequences of (k_i,), (k_i, k_i), (k_i,) arrays (None entries,
    regular points, give True). Systems of equal k are tested together as stacked arrays, and
    the integrations of all undecided systems of one k run as one batch: the per-step work of a
    Python loop is paid once per batch instead of once per equilibrium, which is what made the
    classification of a few hundred sliding equilibria slow.
    """
    out = np.ones(len(cs), dtype=bool)
    ks = np.array([-1 if c is None else len(c) for c in cs])
    for k in np.unique(ks[ks > 0]):
        idx = np.flatnonzero(ks == k)
        c = np.array([cs[i] for i in idx], dtype=np.float64).reshape(len(idx), k)
        C = np.array([Cs[i] for i in idx], dtype=np.float64).reshape(len(idx), k, k)
        undecided = np.ones(len(idx), dtype=bool)
        if weights is not None:
            W = np.array([weights[i] for i in idx], dtype=np.float64).reshape(len(idx), k)
            WC = W[:, :, None] * C
            sym = np.linalg.eigvalsh(WC + np.swapaxes(WC, 1, 2))
            neg, pos = (sym < 0).all(1), (sym > 0).all(1)
            out[idx[neg]] = True
            out[idx[pos & ~neg]] = False
            undecided &= ~neg & ~pos
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=int(k))))
        # the constant field of each orthant (corner T: eta_i > 0 for T_i = 1): (n, 2^k, k)
        v = c[:, None, :] + corners @ np.swapaxes(C, 1, 2)
        towards = np.where(corners > 0, v < 0, v > 0).all((1, 2))
        away = np.where(corners > 0, v > 0, v < 0).all(2).any(1)  # an orthant that escapes
        sure = undecided & (towards | (k == 1))
        out[idx[sure]] = towards[sure]
        undecided &= ~sure
        out[idx[undecided & away]] = False
        undecided &= ~away
        rest = np.flatnonzero(undecided)
        if len(rest):
            out[idx[rest]] = _integrate_orthants(c[rest], C[rest], v[rest])
    return out


def _integrate_orthants(c, C, v) -> np.ndarray:
    """The scale-free integration of attracting_many for n systems of one k at once.

    Every system starts from the same unit directions (seed 0) and is stepped by
    eta += (0.01 / speed) |eta| v[orthant of eta], exactly the single-system recurrence; a
    system leaves the batch at the first check where its decision is made.
    """
    n, k = c.shape
    eta0 = np.random.default_rng(0).standard_normal((_STARTS, k))
    eta0 /= np.linalg.norm(eta0, axis=1, keepdims=True)
    # one contiguous row per component, columns system-major: every operation of a step is a
    # few whole-row numpy calls (row gathers and in-place updates are far cheaper than
    # broadcasting over (N, k) arrays and fancy-indexing rows)
    eta = np.tile(eta0.T, (1, n))
    speed = np.abs(c).max(1) + np.abs(C).sum(2).max(1)
    rate = np.repeat(0.01 / speed, _STARTS)
    vrows = np.ascontiguousarray(v.reshape(n * 2 ** k, k).T)  # (k, n 2^k)
    offset = np.repeat(np.arange(n, dtype=np.intp) * 2 ** k, _STARTS)
    alive = np.arange(n)  # the systems still in the batch, in the order of the columns of eta
    out = np.zeros(n, dtype=bool)  # undecided after the last step: not attracting
    for step in range(_MAX_STEPS):
        size = eta[0] * eta[0]
        for i in range(1, k):
            size += eta[i] * eta[i]
        np.sqrt(size, out=size)
        if step % _CHECK == 0:
            biggest = size.reshape(len(alive), _STARTS).max(1)
            shrunk, grown = biggest < _SHRUNK, biggest > _GROWN
            done = shrunk | grown
            if done.any():
                out[alive[shrunk]] = True
                keep = np.repeat(~done, _STARTS)
                alive = alive[~done]
                if len(alive) == 0:
                    break
                eta, size, rate = eta[:, keep], size[keep], rate[keep]
                offset = np.repeat(alive * 2 ** k, _STARTS)
        # the orthant of eta in itertools.product order (eta_0 > 0 is the most significant bit)
        row = offset.copy()
        for i in range(k):
            row += (eta[i] > 0) * (2 ** (k - 1 - i))
        size *= rate
        for i in range(k):
            eta[i] += size * np.take(vrows[i], row)
    return out


def _null_space(n):
    _, s, vt = np.linalg.svd(n)
    return vt[len(s):].T if len(s) else np.eye(n.shape[1])


def _type(eig, attracting) -> str:
    if len(eig) == 0:
        return "stable pseudo-node" if attracting else "repelling sliding"
    re = eig.real
    focus = bool((np.abs(eig.imag) > 1e-12 * np.abs(eig).max()).any())
    if (re < 0).all():
        return "stable focus" if focus else "stable node"
    if (re > 0).all():
        return "unstable focus" if focus else "unstable node"
    if (re == 0).any():
        return "non-hyperbolic"
    return "saddle"

