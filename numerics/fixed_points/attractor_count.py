"""Attractor counts (issue 3, item 5): how many distinct stable equilibria the h neurons of a
freshly initialised network reach, as a function of p, h and d.

Early in training every point is in the hinge loss, g = y, and each neuron follows the fixed field
of its signs (sign b, sign beta) (notes/fixed_points.md). A network initialised as in the talk
(omega, b, beta standard normal) has four classes of neurons, one per pair of signs, each with its
own field and its own equilibria. A neuron settles at a stable equilibrium of its class's field,
or goes to the origin (b -> 0), dies (no point active) or escapes. A(h) is the number of distinct
stable equilibria, over the four classes, that at least one of the h neurons reaches (basins.py
integrates them and assigns each endpoint to an equilibrium within 1e-3). The networks of width
h are the first h neurons of one network of the largest width, so A(h) never decreases with h on
a seed. The h -> infinity limit is the number of stable equilibria: each has an open basin, which
the initial distribution of z (positive density everywhere) reaches with positive probability.

This module holds the work of one (data set, network) pair; the study over p, h and seeds, with
its fits, is lazyrich.studies.attractor_count, and the verdict on the talk's A ~ p sqrt(h) is the
``attractors`` claim of validation.
"""
from __future__ import annotations

import numpy as np

from .. import network as N
from .basins import basins
from .equilibria import find_equilibria
from .neuron_field import NeuronField
from ...theory.errors import LazyrichError

SIGNS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # (sign b, sign beta): the four classes of neurons


def network_neurons(d: int, h: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z (h, d), sign b and sign beta of the neurons of network ``seed`` (init_params: standard normal)."""
    omega, b, beta = (t.detach().cpu().numpy() for t in N.init_params(h, d, seed).tuple())
    z = N.neuron_positions(omega, b)
    return z, np.sign(b).astype(int), np.sign(beta).astype(int)


def reached(X, y, h: int, seed: int, device: str = "cpu") -> dict:
    """Integrate the h neurons of network ``seed`` on the data (X, y) with g = y.

    Returns ``label`` (h,): for each neuron, a global id of the stable equilibrium it reaches
    (ids are distinct across the four classes), or -1; ``stable``: the number of stable
    equilibria (the h -> infinity limit of A); ``equilibria``; ``status``: counts of the
    endpoint statuses; ``complete``: whether every class's enumeration is guaranteed complete.
    """
    X = np.asarray(X, dtype=np.float64)
    if int(h) != h or h < 1:
        raise LazyrichError(f"h must be a positive integer, got {h!r}")
    z, sb, sbeta = network_neurons(X.shape[1], int(h), seed)
    label = np.full(h, -1)
    out = {"stable": 0, "equilibria": 0, "complete": True, "status": {}}
    for s_b, s_beta in SIGNS:
        idx = np.flatnonzero((sb == s_b) & (sbeta == s_beta))
        f = NeuronField(X, y, s_b, s_beta)
        fp = find_equilibria(f, polish=False)
        stable = np.array([e.stable for e in fp.equilibria], dtype=bool)
        if len(idx):
            B = basins(f, fp.equilibria, z0=z[idx], device=device)
            hit = (B.assigned >= 0) & stable[np.maximum(B.assigned, 0)] if len(stable) else np.zeros(len(idx), bool)
            label[idx[hit]] = out["equilibria"] + B.assigned[hit]  # offset: ids distinct across classes
            for k, v in B.counts.items():
                out["status"][k] = out["status"].get(k, 0) + v
        out["stable"] += int(stable.sum())
        out["equilibria"] += len(fp.equilibria)
        out["complete"] &= bool(fp.complete)
    out["label"] = label
    return out


def attractor_counts(label, hs) -> list[int]:
    """A(h) for the first h neurons, for each h in ``hs``."""
    label = np.asarray(label)
    for h in hs:
        if not 1 <= h <= len(label):
            raise LazyrichError(f"h = {h} must lie in [1, {len(label)}] (the neurons integrated)")
    return [int(len(np.unique(label[:h][label[:h] >= 0]))) for h in hs]
