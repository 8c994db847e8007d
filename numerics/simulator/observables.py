"""What the simulator records at each checkpoint and at each network's stop.

Arrays over (network e, checkpoint k) are NaN (or -1) where a network stopped before k;
the same observables at the stop carry the prefix ``final_``. Losses are the mean of l(m)
over points (without the 1/alpha^2 of the training objective), errors the fraction of
points with margin m = y F <= 0.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import network as N, patterns as P
from ..kernels.ntk import empirical_ntk

SCALARS = ("t", "steps", "rejected", "forced", "events", "train_loss", "train_error", "test_loss", "test_error",
           "min_margin", "rel_change_omega", "rel_change", "attractors", "active_neurons", "rms_parallel",
           "rms_perp")


def informative_dims(meta: dict, d: int):
    """The coordinates the label depends on (stripe: x_1; cylinder: the first d_par; sphere: all)."""
    model = meta.get("model")
    if model == "stripe":
        return [0]
    if model == "cylinder":
        return list(range(int(meta["d_par"])))
    if model == "sphere":
        return list(range(d))
    return None


class Observables:
    def __init__(self, cfg, train, E: int, informative):
        K, p, d = cfg.checkpoints, cfg.p, cfg.d
        self.cfg, self.informative, self.E, self.K = cfg, informative, E, K
        self.tracked = min(cfg.track_neurons, cfg.h)
        nan = lambda *shape: np.full(shape, np.nan)  # noqa: E731
        a = {name: nan(E, K) for name in SCALARS}
        a.update({f"final_{name}": nan(E) for name in SCALARS})
        a["margins"], a["final_margins"] = nan(E, K, p), nan(E, p)
        a["z"], a["final_z"] = nan(E, K, self.tracked, d), nan(E, self.tracked, d)
        for name in ("b", "beta"):  # of the tracked neurons: with z they give the derived dz/dt
            a[name], a[f"final_{name}"] = nan(E, K, self.tracked), nan(E, self.tracked)
        nbytes = (p + 7) // 8
        a["patterns"] = np.zeros((E, K, self.tracked, nbytes), np.uint8)
        a["final_patterns"] = np.zeros((E, self.tracked, nbytes), np.uint8)
        if cfg.ntk:  # in NTK scaling (h times the finite NTK of f), as numerics.ntk
            a["ntk"], a["final_ntk"] = nan(E, K, p, p), nan(E, p, p)
        # every neuron's parameters at the stop: the end-of-training NTK and representations need them
        # ("all": b and beta alone are those of the tracked neurons)
        a["final_all_omega"], a["final_all_b"], a["final_all_beta"] = nan(E, cfg.h, d), nan(E, cfg.h), nan(E, cfg.h)
        self.arrays = a

    def record(self, nets, ks, th, th0, m, mtest, alpha, X, t, steps, rejected, forced, events):
        """Store the observables of networks ``nets`` (checkpoint indices ``ks``, or final if None)."""
        loss = self.cfg.loss
        one = torch.ones_like(alpha)
        u = N.preactivations(th.omega, th.b, X)  # (e, p, h)
        # (e, h, p): numerics.patterns' one rule, with its tolerance for neurons held on u = 0
        active = P.active_mask(u.transpose(1, 2)).cpu().numpy()
        z = N.neuron_positions(th.omega[:, : self.tracked], th.b[:, : self.tracked])
        values = {
            "t": t, "steps": steps, "rejected": rejected, "forced": forced, "events": events,
            "train_loss": N.mean_loss(m, one, loss), "train_error": (m <= 0).double().mean(1),
            "min_margin": m.amin(1),
            "rel_change_omega": (th.omega - th0.omega).flatten(1).norm(dim=1) / th0.omega.flatten(1).norm(dim=1),
            "rel_change": th.axpy(-one, th0).norm() / th0.norm(),
        }
        if mtest is not None:
            values["test_loss"] = N.mean_loss(mtest, one, loss)
            values["test_error"] = (mtest <= 0).double().mean(1)
        if self.informative is not None:
            par = th.omega[:, :, self.informative]
            values["rms_parallel"] = par.pow(2).mean((1, 2)).sqrt()
            perp = [i for i in range(th.d) if i not in self.informative]
            if perp:
                values["rms_perp"] = th.omega[:, :, perp].pow(2).mean((1, 2)).sqrt()
        values = {k: v.detach().double().cpu().numpy() for k, v in values.items()}
        values["attractors"] = np.array([P.count_patterns(a) for a in active])
        values["active_neurons"] = active.any(2).sum(1)
        arrays = {"margins": m, "z": z, "b": th.b[:, : self.tracked], "beta": th.beta[:, : self.tracked]}
        arrays = {k: v.detach().double().cpu().numpy() for k, v in arrays.items()}
        arrays["patterns"] = np.packbits(active[:, : self.tracked], axis=2)
        if self.cfg.ntk:
            arrays["ntk"] = np.stack([empirical_ntk(th.omega[i], th.b[i], th.beta[i], X).double().cpu().numpy()
                                      for i in range(th.E)])
        a = self.arrays
        if ks is None:
            for name in ("omega", "b", "beta"):
                a[f"final_all_{name}"][nets] = getattr(th, name).detach().double().cpu().numpy()
        for i, e in enumerate(nets):
            for name, v in {**values, **arrays}.items():
                if ks is None:
                    a[f"final_{name}"][e] = v[i]
                else:
                    a[name][e, ks[i]] = v[i]

    def finish(self, t_checkpoints) -> dict:
        return {**self.arrays, "t_checkpoints": np.asarray(t_checkpoints)}
