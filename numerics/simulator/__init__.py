"""The simulator: ensembles of networks trained by gradient flow, on CPU or CUDA, resumable.

config (SimulationConfig: what to train), integrators (one trial step each: Euler), step_control
(accepting and sizing steps: KinkController), observables (what is recorded), run (simulate: the
run, its state and its files), result (SimulationResult: what comes back).
"""
from .config import STOP_REASONS, SimulationConfig, SimulationError, build_datasets
from .integrators import Euler, Trial
from .observables import SCALARS, Observables, informative_dims
from .result import SimulationResult
from .run import simulate
from .step_control import KinkController

__all__ = ["SimulationConfig", "SimulationError", "SimulationResult", "simulate", "build_datasets", "STOP_REASONS",
           "Euler", "Trial", "KinkController", "Observables", "SCALARS", "informative_dims"]
