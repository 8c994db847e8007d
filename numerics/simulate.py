"""``lazyrich.numerics.simulate``: the simulator's public names, where scripts import them from.

The code lives in numerics/simulator/ (config, integrators, step control, observables, run, result).
"""
from .network import resolve_device
from .simulator import (STOP_REASONS, SimulationConfig, SimulationError, SimulationResult, build_datasets,
                        simulate)

__all__ = ["SimulationConfig", "SimulationError", "SimulationResult", "simulate", "build_datasets", "STOP_REASONS",
           "resolve_device"]
