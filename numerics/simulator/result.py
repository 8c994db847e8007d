"""What a simulation returns and saves: its configuration, the recorded arrays, why each network stopped."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import network as N
from .config import SimulationConfig, SimulationError
from .filippov import CONVERGED_MARGIN
from .steppers import MARGIN_LOSSES


@dataclass
class SimulationResult:
    config: SimulationConfig
    arrays: dict  # numpy arrays: checkpoint observables (E, K, ...), final ones (E, ...)
    stop_reason: list
    wall_s: float
    out: str | None = None
    device: str = "cpu"

    def networks(self) -> list[dict]:
        a = self.arrays
        rows = []
        for e, (seed, alpha) in enumerate(self.config.networks()):
            rows.append({
                "seed": seed, "alpha": alpha, "stop_reason": self.stop_reason[e],
                "steps": int(a["final_steps"][e]), "rejected_steps": int(a["final_rejected"][e]),
                "forced_steps": int(a["final_forced"][e]), "events": _count(a, "final_events", e),
                "t": float(a["final_t"][e]), "min_margin": float(a["final_min_margin"][e]),
                "train_loss": float(a["final_train_loss"][e]), "train_error": float(a["final_train_error"][e]),
                "test_loss": _maybe(a["final_test_loss"][e]), "test_error": _maybe(a["final_test_error"][e]),
                "rel_change_omega": float(a["final_rel_change_omega"][e]),
                "attractors": int(a["final_attractors"][e]),
                "rms_parallel": _maybe(a["final_rms_parallel"][e]), "rms_perp": _maybe(a["final_rms_perp"][e]),
                "imbalance_drift": self.imbalance_drift(e),
                "converged": self.converged(e),
            })
        return rows

    def converged(self, e: int = 0) -> bool:
        """Whether network e reached the end of training: for the margin losses every training margin at
        least CONVERGED_MARGIN = 1 - 1e-9 (the Euler controllers may stop earlier, at their own margin
        tolerance, which does not count), for the others the loss stop."""
        if self.config.loss in MARGIN_LOSSES:
            return bool(self.arrays["final_min_margin"][e] >= CONVERGED_MARGIN)
        return self.stop_reason[e] == "loss"

    def imbalance_drift(self, e: int = 0) -> float:
        """max_n |delta_n(end) - delta_n(0)| / (eta_1 beta_n^2 + eta_2 |(omega_n, b_n)|^2) of network e: the
        exact flow conserves each delta_n (theory conserved, equation delta), so this measures the integrator."""
        (eta1, eta2) = self.config.lr
        def parts(final):
            omega, b, beta = self.params(e, final)
            return eta1 * beta ** 2, eta2 * ((omega ** 2).sum(-1) + b ** 2)

        (s0, f0), (s1, f1) = parts(False), parts(True)
        return float((np.abs((s1 - f1) - (s0 - f0)) / np.maximum(s0 + f0, 1e-300)).max())

    def params(self, e: int = 0, final: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(omega (h, d), b (h,), beta (h,)) of network e at its stop, or at initialisation."""
        if not 0 <= e < len(self.stop_reason):
            raise SimulationError(f"network index {e} out of range: the run has {len(self.stop_reason)} networks")
        if final:
            return tuple(self.arrays[f"final_all_{name}"][e] for name in ("omega", "b", "beta"))
        seed, _ = self.config.networks()[e]
        theta0 = N.init_ensemble([seed], self.config.h, self.config.d, **self.config.init_options())
        return tuple(t[0].numpy() for t in (theta0.omega, theta0.b, theta0.beta))

    def to_json(self) -> dict:
        return {"name": "simulate", "config": asdict(self.config), "device": self.device, "out": self.out,
                "wall_s": self.wall_s, "checkpoint_times": self.arrays["t_checkpoints"].tolist(),
                "networks": self.networks()}

    @classmethod
    def load(cls, out) -> "SimulationResult":
        from ..data.files import FileInputError, read_npz

        out = Path(out)
        if not (out / "result.json").is_file():
            raise FileInputError(f"{out} holds no finished simulation (no result.json)")
        try:
            meta = json.loads((out / "result.json").read_text())
            settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["config"].items()}
            settings.setdefault("integrator", "euler")  # results saved before the choice existed
            cfg = SimulationConfig(**settings)
        except (ValueError, KeyError, TypeError) as exc:
            raise FileInputError(f"{out / 'result.json'} is damaged ({type(exc).__name__}: {exc})") from None
        arrays = read_npz(out / "results.npz", "simulation result")
        return cls(cfg, arrays, [n["stop_reason"] for n in meta["networks"]], meta["wall_s"], str(out), meta["device"])


def _count(arrays, name, e):
    """An integer observable; 0 in results saved before it was recorded."""
    return int(arrays[name][e]) if name in arrays else 0


def _maybe(v):
    v = float(v)
    return None if math.isnan(v) else v

