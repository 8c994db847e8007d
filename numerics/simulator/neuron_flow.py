"""The exact flow of every neuron while its coefficient vector is frozen, and when its pre-activations cross zero.

Write a neuron as v = (omega, b) in R^{d+1} and a point as xh = (x/sqrt(d), 1), so that u = v . xh.
For every loss the flow of a neuron is

    dv/dt = eta_1 beta c,     dbeta/dt = eta_2 v . c,     c = (1/(alpha p)) sum_mu W_mu xh_mu,

with W_mu = g_mu Theta(u_mu) (the hinge's g_mu = y_mu Theta(1 - m_mu); set-valued weights inside [0, 1]
where the flow slides). Between two events of the hinge c is constant, and then the flow of a neuron is
linear: in v~ = v/sqrt(eta_1), beta~ = beta/sqrt(eta_2) and C = sqrt(eta_1 eta_2) c it is a hyperbolic
rotation of the plane (v~ . C/|C|, beta~), the part of v~ orthogonal to C staying put:

    s(t) = s0 cosh(kt) + beta0 sinh(kt),   beta(t) = beta0 cosh(kt) + s0 sinh(kt),   k = |C|.

It conserves eta_1 beta^2 - eta_2 |v|^2 exactly, whatever c, so a step of it conserves each neuron's
Q_n to rounding (theory: the conserved imbalance). The pre-activation of a point on the neuron is
u(t) = u0 + P (sigma phi1(t) + beta0 phi2(t)), with phi1 = (cosh kt - 1)/k^2, phi2 = sinh(kt)/k,
sigma = v~0 . C and P = sqrt(eta_1) C . xh: a sum of e^{kt}, e^{-kt} and a constant, with at most one
extremum (where beta~ changes sign), hence at most two zeros, which ``first_crossing`` finds exactly.
"""
from __future__ import annotations

import math

import torch


def _sinhc(x: torch.Tensor) -> torch.Tensor:
    """sinh(x)/x, even in x: sinh has full relative precision near 0 (checked against mpmath from 1e-300 to
    300: within 1.4e-16, as the Taylor branch this replaced), so only x = 0 needs a guard, the shift by 1e-300
    (a no-op above 1e-284). Four torch operations: this is called tens of times per step."""
    y = x.abs() + 1e-300
    return torch.sinh(y) / y


def _per_neuron(t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """t (E,), one time per network, or (E, h), one per neuron, as (E, h)."""
    return (t[:, None] if t.dim() < k.dim() else t).expand_as(k)


def rotation_factors(k: torch.Tensor, t: torch.Tensor):
    """(cosh kt, phi1 = (cosh kt - 1)/k^2, phi2 = sinh(kt)/k), stable as k -> 0; k (E, h), t (E,) or (E, h)."""
    tt = _per_neuron(t, k)
    kt = k * tt
    half = _sinhc(kt / 2)
    phi1 = 0.5 * (tt * half) ** 2  # (cosh x - 1) = 2 sinh^2(x/2)
    phi2 = tt * _sinhc(kt)
    return torch.cosh(kt), phi1, phi2


def advance(V: torch.Tensor, beta: torch.Tensor, c: torch.Tensor, t: torch.Tensor, lr=(1.0, 1.0)):
    """The exact flow of every neuron over time t (E,), or its own time t (E, h), with its coefficient
    c (E, h, d+1) frozen.

    V (E, h, d+1) holds (omega, b); returns (V(t), beta(t))."""
    eta1, eta2 = lr
    r1, r2 = math.sqrt(eta1), math.sqrt(eta2)
    C = c * math.sqrt(eta1 * eta2)
    k = C.norm(dim=-1)  # (E, h)
    Vt, bt = V / r1, beta / r2
    sigma = (Vt * C).sum(-1)  # v~ . C = s0 k
    ch, phi1, phi2 = rotation_factors(k, t)
    # s0 sinh(kt) = sigma sinh(kt)/k = sigma phi2 and s0 (cosh - 1) |C| = sigma phi1 |C|^2/k^2 ... both along C
    Vnew = Vt + (sigma * phi1 + bt * phi2)[..., None] * C
    bnew = bt * ch + sigma * phi2
    return Vnew * r1, bnew * r2


def pair_terms(V, beta, c, X_hat, lr=(1.0, 1.0)):
    """(k (E, h), sigma (E, h), beta~0 (E, h), P (E, p, h)) of u(t) = u0 + P (sigma phi1 + beta~0 phi2)."""
    eta1, eta2 = lr
    C = c * math.sqrt(eta1 * eta2)
    k = C.norm(dim=-1)
    sigma = (V * C).sum(-1) / math.sqrt(eta1)
    P = torch.einsum("pd,ehd->eph", X_hat, C * math.sqrt(eta1))
    return k, sigma, beta / math.sqrt(eta2), P


def first_crossing(u0, P, k, sigma, b0, horizon, mask, ftol):
    """The first time in (0, horizon] at which u(t) = u0 + P (sigma phi1(t) + b0 phi2(t)) reaches 0,
    for every pair of ``mask`` (E, p, h); inf where it does not. horizon (E,) or one per neuron (E, h);
    ftol (E, p, h): how near
    0 a zero must come (the surface tolerance).

    phi1 and phi2 grow with t, so |u(t) - u0| <= |P| (|sigma| phi1(T) + |b0| phi2(T)): the pairs this
    bound leaves too far from 0 cannot cross, and the rest (few, once the steps follow the events)
    are treated one by one, vectorised. u is monotone on either side of its one extremum t_e (where
    beta~ = b0 cosh + sigma sinh/k = 0), so the first zero lies in (0, min(t_e, horizon)] or, failing
    that, in (t_e, horizon]; each is found by regula falsi on a bracket (bracketed_root)."""
    out = torch.full_like(u0, math.inf)
    found = _crossings(u0, P, k, sigma, b0, horizon, lambda e, mu, n: mask[e, mu, n], lambda e, mu, n: ftol[e, mu, n])
    if found is not None:
        e, mu, n, root = found
        out[e, mu, n] = root
    return out


def first_crossing_by_neuron(u0, P, k, sigma, b0, horizon, allowed, ftol):
    """first_crossing's earliest time per neuron and the point that has it: ((E, h), (E, h)), with the pairs
    searched and their tolerances given as functions of their indices (e, mu, n), evaluated only on the few
    pairs the reach bound leaves: this skips every (E, p, h) tensor but u0 and P (the evaluation of a step
    at p = h = 256 was some 150 operations on such tensors).

    Only each neuron's earliest zero is refined: the pair whose closed-form zero is the neuron's earliest, then
    one evaluation of every other bracketed pair at that time says whether it crosses before (u is monotone on
    its bracket); those that do are refined too. In the feature regime at p = h = 256 a round had some 1,200
    bracketed pairs for 40 crossing neurons: 31 times fewer pairs refined (the time gained is small, the
    refinement being vectorised over the pairs)."""
    t_min, mu_min = torch.full_like(k, math.inf), torch.zeros_like(k, dtype=torch.long)
    br = _brackets(u0, P, k, sigma, b0, horizon, allowed, ftol)
    if br is None:
        return t_min, mu_min
    e, mu, n, args, lo, hi, f_lo, tol = br
    flat = e * k.shape[1] + n
    guess = closed_form_zero(*args, lo, hi)
    est = torch.where(torch.isnan(guess), hi, guess)
    best = torch.full_like(t_min.view(-1), math.inf).scatter_reduce_(0, flat, est, reduce="amin")
    todo = est == best[flat]  # the likely earliest pair(s) of every neuron
    root = torch.full_like(lo, math.inf)
    for _ in range(2):  # the candidates, then the pairs found to cross before them (then none does)
        idx = todo.nonzero().flatten()
        sub = tuple(a[idx] for a in args)
        root[idx] = _refine(sub, lo[idx], hi[idx], tol[idx], guess[idx])
        t_min.view(-1).scatter_reduce_(0, flat[idx], root[idx], reduce="amin")
        # a pair not yet refined crosses before its neuron's time iff u changed sign on [lo, min(t, hi)]
        rest = torch.isinf(root)
        s = torch.minimum(t_min.view(-1)[flat], hi)
        u_s = u_at_pairs(*args, s)
        todo = rest & (s > lo) & (torch.sign(u_s) != torch.sign(f_lo)) & (u_s.abs() > tol)
        if not bool(todo.any()):
            break
        hi = torch.where(todo, s, hi)  # the violators' zeros lie before s
    # of the points that share a neuron's earliest time, the first (as a minimum over mu would give)
    first = root == t_min.view(-1)[flat]
    mu_min.view(-1).scatter_reduce_(0, flat[first], mu[first], reduce="amin", include_self=False)
    return t_min, mu_min


def _crossings(u0, P, k, sigma, b0, horizon, allowed, ftol):
    """The pairs (e, mu, n) that cross within the horizon and their first crossing times, or None; allowed
    and ftol: the pairs searched and their tolerances, as functions of the indices."""
    br = _brackets(u0, P, k, sigma, b0, horizon, allowed, ftol)
    if br is None:
        return None
    e, mu, n, args, lo, hi, _, tol = br
    return e, mu, n, _refine(args, lo, hi, tol, closed_form_zero(*args, lo, hi))


def _refine(args, lo, hi, tol, guess):
    """The zeros of u(t) of pairs args = (u0, P, k, sigma, b0) in their brackets: Newton with u'(t) from the
    closed-form guess, regula falsi where Newton leaves the bracket."""
    return bracketed_root(lambda t: u_at_pairs(*args, t), lo, hi, tol, slope=lambda t: du_at_pairs(*args, t),
                          guess=guess)


def _brackets(u0, P, k, sigma, b0, horizon, allowed, ftol):
    """The pairs that cross within the horizon, each with a bracket [lo, hi] of its first zero on which u is
    monotone: (e, mu, n, (u0, P, k, sigma, b0) of each, lo, hi, u(lo), ftol), or None."""
    _, phi1, phi2 = rotation_factors(k, horizon)
    reach = (sigma.abs() * phi1 + b0.abs() * phi2) * (1 + 1e-12)  # (E, h)
    e, mu, n = (u0.abs() <= P.abs() * reach[:, None, :]).nonzero(as_tuple=True)
    keep = allowed(e, mu, n)
    e, mu, n = e[keep], mu[keep], n[keep]
    if e.numel() == 0:
        return None
    T = _per_neuron(horizon, k)[e, n]
    uu, PP, kk, ss, bb, tol = u0[e, mu, n], P[e, mu, n], k[e, n], sigma[e, n], b0[e, n], ftol(e, mu, n)
    # the extremum: tanh(k t_e) = -b0 k/sigma, inside (0, 1)
    ratio = torch.where(ss != 0, -bb * kk / torch.where(ss != 0, ss, torch.ones_like(ss)), torch.full_like(ss, 2.0))
    has_ext = (ratio > 0) & (ratio < 1) & (kk > 0)
    t_ext = torch.where(has_ext, torch.atanh(ratio.clamp(0, 1 - 1e-16)) / kk.clamp_min(1e-300), T)
    t_ext = torch.minimum(t_ext, T)
    u_at = lambda t: u_at_pairs(uu, PP, kk, ss, bb, t)  # noqa: E731
    u_ext, u_end = u_at(t_ext), u_at(T)
    first = (torch.sign(u_ext) != torch.sign(uu)) & (u_ext != 0)
    second = ~first & (t_ext < T) & (torch.sign(u_end) != torch.sign(u_ext)) & (u_end != 0)
    todo = first | second
    if not bool(todo.any()):
        return None
    lo = torch.where(second, t_ext, torch.zeros_like(T))[todo]
    hi = torch.where(first, t_ext, T)[todo]
    f_lo = torch.where(second, u_ext, uu)[todo]
    args = (uu[todo], PP[todo], kk[todo], ss[todo], bb[todo])
    return e[todo], mu[todo], n[todo], args, lo, hi, f_lo, tol[todo]


def closed_form_zero(u0, P, k, sigma, b0, lo, hi):
    """The zero of u(t) inside [lo, hi] in closed form, as a first guess (nan where there is none). With
    w = e^{kt}, u = c + (a + b) w/2 + (a - b)/(2w), a = P sigma/k^2, b = P b0/k, c = u0 - a: a quadratic in w.
    Where kt is large, u grows like e^{kt} and regula falsi or Newton from the bracket's ends creep towards
    the zero by about 1/k per evaluation (up to the 100-iteration cap, measured); this lands next to it.
    Where kt is small the coefficients cancel and the guess is rough, but the bracket is then tame."""
    kk = k.clamp_min(1e-300)
    a, b = P * sigma / kk ** 2, P * b0 / kk
    A, B, C = (a + b) / 2, u0 - a, (a - b) / 2
    disc = (B * B - 4 * A * C).clamp_min(0).sqrt()
    q = -0.5 * (B + torch.where(B >= 0, disc, -disc))
    guess = torch.full_like(lo, math.nan)
    for w in (q / A, C / q):
        t = torch.log(w) / kk
        inside = (w > 0) & (t > lo) & (t < hi)
        guess = torch.where(inside & torch.isnan(guess), t, guess)
    return guess


def bracketed_root(fun, lo, hi, ftol, iters: int = 100, rtol: float = 1e-15, slope=None, guess=None):
    """The zero of fun (vectorised, one bracket [lo, hi] with a sign change each) by the Illinois
    variant of regula falsi, which converges superlinearly and never leaves its bracket; with ``slope``
    (fun's derivative) a Newton step from the last point is taken instead wherever it lands inside the
    bracket, and ``guess`` (nan: none) is the first point tried. Stops where
    |fun| <= ftol (a number or one per bracket) or the bracket is down to rounding; returns the end
    of the bracket on the far side of the zero, or the point within ftol."""
    flo, fhi = fun(lo), fun(hi)
    side = torch.zeros_like(lo)
    x, fx = hi, fhi  # the last point evaluated (Newton's start)
    for it in range(iters):
        width = hi - lo
        open_ = (width > rtol * hi.abs().clamp_min(1e-300)) & (fhi.abs() > ftol)
        if not bool(open_.any()):
            break
        denom = fhi - flo
        t = torch.where(denom != 0, hi - fhi * width / torch.where(denom != 0, denom, torch.ones_like(denom)),
                        0.5 * (lo + hi))
        t = torch.where((t > lo) & (t < hi), t, 0.5 * (lo + hi))
        if it == 0 and guess is not None:
            t = torch.where((guess > lo) & (guess < hi), guess, t)
        elif slope is not None:
            d = slope(x)
            tn = x - fx / torch.where(d != 0, d, torch.ones_like(d))
            t = torch.where((d != 0) & (tn > lo) & (tn < hi), tn, t)
        ft = fun(t)
        x, fx = t, ft
        left = torch.sign(ft) == torch.sign(flo)  # the zero lies in [t, hi]
        # Illinois: halve the function value at the end that stays twice in a row
        fhi = torch.where(left & (side > 0), 0.5 * fhi, fhi)
        flo = torch.where(~left & (side < 0), 0.5 * flo, flo)
        lo, flo = torch.where(left, t, lo), torch.where(left, ft, flo)
        hi, fhi = torch.where(left, hi, t), torch.where(left, fhi, ft)
        side = torch.where(left, torch.ones_like(side), -torch.ones_like(side))
        done = ft.abs() <= ftol  # the point within ftol (Newton nears the zero from one side: hi may stay put)
        lo, hi = torch.where(done, t, lo), torch.where(done, t, hi)
    return hi


def u_at_pairs(u0, P, k, sigma, b0, t):
    """u(t) of pairs given as flat vectors (the bisection's evaluations)."""
    kt = k * t
    return u0 + P * (sigma * 0.5 * (t * _sinhc(kt / 2)) ** 2 + b0 * t * _sinhc(kt))


def du_at_pairs(u0, P, k, sigma, b0, t):
    """du/dt of pairs given as flat vectors: P (sigma phi2(t) + b0 cosh(kt)), phi1' = phi2, phi2' = cosh."""
    kt = k * t
    return P * (sigma * t * _sinhc(kt) + b0 * torch.cosh(kt))
