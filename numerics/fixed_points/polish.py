"""Polish equilibria to many digits (mpmath) and certify them with ball arithmetic (python-flint).

An equilibrium on the surfaces S (k points; k = 0 for a regular one) solves d + k equations in
the d + k unknowns (z, lambda):

    F(z; G + sum_S lambda g, m + sum_S lambda g x) = 0      (the region field of theory/)
    S_mu(z) = |z|^2 - z.x_mu = 0, mu in S                   (the switching surfaces)

where (G, m) are the weights of the active points off the surfaces. The Jacobian is exact: the
region Jacobian of theory/ in z; in lambda_mu, the field of the single point mu (F is linear in
the weights); the surface gradients 2z - x_mu. Newton's method in mpmath at ``digits`` digits
converges quadratically from the float64 point.

Certification (when python-flint is installed): the Krawczyk operator on a small ball X around
the polished point, K = x - Y H(x) + (I - Y H'(X))(X - x) with Y ~ H'(x)^-1, lies inside X,
which proves a unique zero in X; then, over X, every other point's activation argument has a
certified sign equal to the reported one and each lambda is certified inside [0, 1]. So the
equilibrium exists, with exactly the reported activation pattern.
"""
from __future__ import annotations

from functools import cache

import mpmath
import numpy as np
import sympy as sp

from ...theory import symbols as S
from ...theory import vectors as V
from ...theory.derived import derive


@cache
def _system(d: int):
    """Exact callables (pure arithmetic, so they accept mpf and arb numbers) for dimension d."""
    zs = V.component_vector(S.z, d)
    ms = V.component_vector(S.m_A, d)
    xs = V.component_vector(S.x, d)
    scalars = (S.G, S.beta, S.b, S.alpha, S.p)
    F = V.components(derive("region-field").equation("F").term, d).subs(S.d, d)
    J = V.components(derive("jacobian").equation("J").term, d).subs(S.d, d)
    level = derive("switching-surface").equation("level").term
    Sx = V.components(level, d)
    gradS = V.components(V.grad(level, S.z), d)
    args = list(zs) + list(ms) + list(scalars)
    # modules=[{}]: plain arithmetic only; every coefficient is an integer, so no float enters
    field = sp.lambdify(args, list(F), modules=[{}])
    jac = sp.lambdify(args, [list(J.row(i)) for i in range(d)], modules=[{}])
    surf = sp.lambdify(list(zs) + list(xs), Sx, modules=[{}])
    grad = sp.lambdify(list(zs) + list(xs), list(gradS), modules=[{}])
    return field, jac, surf, grad


class _Problem:
    """The (d + k)-equation system of one equilibrium, in any number type (mpf or arb)."""

    def __init__(self, f, eq, num):
        d = f.d
        self.d, self.num = d, num
        X = f.X
        # merged duplicates: one surface, one lambda, the summed weight
        surf = list(eq.surfaces)
        uniq, groups = [], []
        for i in surf:
            for gi, u in enumerate(uniq):
                if np.array_equal(X[u], X[i]):
                    groups[gi].append(i)
                    break
            else:
                uniq.append(i)
                groups.append([i])
        self.k = len(uniq)
        self.xs = [[num(float(v)) for v in X[u]] for u in uniq]
        self.gs = [sum((num(float(f.g[i])) for i in grp), num(0)) for grp in groups]
        self.G0 = sum((num(float(f.g[i])) for i in eq.active), num(0))
        self.m0 = [sum((num(float(f.g[i])) * num(float(X[i, j])) for i in eq.active), num(0)) for j in range(d)]
        self.scal = [num(float(f.sign_beta)), num(float(f.sign_b)), num(1), num(f.p)]
        self.lam0 = [float(np.mean([eq.lam[eq.surfaces.index(i)] for i in grp])) for grp in groups]
        self.field, self.jac, self.surf, self.grad = _system(d)

    def weights(self, lam):
        G = self.G0 + sum((l * g for l, g in zip(lam, self.gs)), self.num(0))
        m = [self.m0[j] + sum((l * g * x[j] for l, g, x in zip(lam, self.gs, self.xs)), self.num(0))
             for j in range(self.d)]
        return G, m

    def H(self, u):
        z, lam = list(u[:self.d]), list(u[self.d:])
        G, m = self.weights(lam)
        out = list(self.field(*z, *m, G, *self.scal))
        out += [self.surf(*z, *x) for x in self.xs]
        return out

    def dH(self, u):
        d, k = self.d, self.k
        z, lam = list(u[:d]), list(u[d:])
        G, m = self.weights(lam)
        Jz = self.jac(*z, *m, G, *self.scal)
        rows = [list(Jz[i]) for i in range(d)]
        for g, x in zip(self.gs, self.xs):  # dF/dlambda_mu: the field of the point mu alone
            col = self.field(*z, *[g * xj for xj in x], g, *self.scal)
            for i in range(d):
                rows[i].append(col[i])
        for x in self.xs:
            rows.append(list(self.grad(*z, *x)) + [self.num(0)] * k)
        return rows


def polish(f, eq, digits: int = 50, max_iter: int = 30):
    """Newton in mpmath at ``digits`` digits; returns (z as mpf list, lambda, residual)."""
    with mpmath.workdps(digits + 10):
        P = _Problem(f, eq, mpmath.mpf)
        u = mpmath.matrix([mpmath.mpf(float(v)) for v in eq.z] + [mpmath.mpf(v) for v in P.lam0])
        tol = mpmath.mpf(10) ** (-digits)
        for _ in range(max_iter):
            H = mpmath.matrix(P.H(list(u)))
            J = mpmath.matrix(P.dH(list(u)))
            try:
                step = mpmath.lu_solve(J, H)
            except ZeroDivisionError:  # singular: the sliding field is not unique here
                break
            u = u - step
            if mpmath.norm(step, mpmath.inf) <= tol * (1 + mpmath.norm(u, mpmath.inf)):
                break
        residual = mpmath.norm(mpmath.matrix(P.H(list(u))), mpmath.inf)
        return [u[i] for i in range(f.d)], [u[f.d + i] for i in range(P.k)], float(residual), P


def certify_equilibrium(f, eq, u_mp, digits: int = 50) -> bool:
    """Krawczyk proof of a unique zero near u_mp with the reported activation pattern."""
    try:
        from flint import arb, arb_mat, ctx
    except ImportError:
        return None
    old = ctx.prec
    ctx.prec = int(digits * 3.33) + 40
    try:
        P = _Problem(f, eq, arb)
        n = f.d + P.k
        x = [arb(mpmath.nstr(v, digits + 5)) for v in u_mp]
        scale = max(1.0, max(abs(float(v)) for v in u_mp))
        rho = arb(10.0) ** (-(digits // 2)) * scale
        X = [xi + arb(0, rho) for xi in x]  # the ball of radius rho around x
        Hx = arb_mat([[h] for h in P.H(x)])
        Jmid = arb_mat(P.dH(x))
        Jmid = arb_mat([[arb(Jmid[i, j].mid()) for j in range(n)] for i in range(n)])
        try:
            Y = Jmid.inv()
        except ZeroDivisionError:
            return False
        Y = arb_mat([[arb(Y[i, j].mid()) for j in range(n)] for i in range(n)])
        JX = arb_mat(P.dH(X))
        I = arb_mat([[arb(1) if i == j else arb(0) for j in range(n)] for i in range(n)])
        delta = arb_mat([[X[i] - x[i]] for i in range(n)])
        K = arb_mat([[xi] for xi in x]) - Y * Hx + (I - Y * JX) * delta
        if not all(X[i].contains_interior(K[i, 0]) for i in range(n)):
            return False
        # the pattern: certified signs off the surfaces, and lambda in [0, 1]
        z = X[:f.d]
        on = set(eq.surfaces)
        act = set(eq.active)
        zz = sum((zi * zi for zi in z), arb(0))
        for mu in range(f.p):
            if mu in on:
                continue
            val = arb(float(f.sign_b)) * (zz - sum((zi * arb(float(f.X[mu, j])) for j, zi in enumerate(z)), arb(0)))
            if (mu in act and not val > 0) or (mu not in act and not val < 0):
                return False
        return all(lam >= 0 and lam <= 1 for lam in X[f.d:])
    finally:
        ctx.prec = old


def polish_all(f, eqs, digits: int = 50, certify: bool | None = None):
    """Polish each equilibrium in place: residual, polished z; certificate where flint is present."""
    if certify is None:
        try:
            import flint  # noqa: F401

            certify = True
        except ImportError:
            certify = False
    for eq in eqs:
        z, lam, residual, _ = polish(f, eq, digits)
        eq.residual = residual
        eq.z_mp = [mpmath.nstr(v, digits) for v in z]
        eq.z = np.array([float(v) for v in z])
        if certify:
            eq.certified = certify_equilibrium(f, eq, z + lam, digits)
