"""The simulator: ensembles of networks trained by gradient flow, on CPU or CUDA, resumable.

config (SimulationConfig: what to train), steppers (one stepper per integrator: filippov, euler,
euler-rollback), integrators (Euler's trial step), step_control (accepting and sizing Euler steps:
KinkController, RollbackController), filippov with neuron_flow and sliding (the event-driven Filippov
integrator: exact neuron flow between events, the sliding QP), observables (what is recorded), run
(simulate: the run, its state and its files), result (SimulationResult: what comes back).
"""
from .config import STOP_REASONS, SimulationConfig, SimulationError, build_datasets
from .integrators import Euler, Trial
from .observables import SCALARS, Observables, informative_dims
from .result import SimulationResult
from .run import simulate
from .step_control import KinkController, RollbackController
from .steppers import make_stepper

__all__ = ["SimulationConfig", "SimulationError", "SimulationResult", "simulate", "build_datasets", "STOP_REASONS",
           "Euler", "Trial", "KinkController", "RollbackController", "make_stepper", "Observables", "SCALARS",
           "informative_dims"]
