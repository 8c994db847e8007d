"""Studies: orchestration of many runs through the sweep machinery, with their fits and plots.

learning_curves (test error against p for networks and kernels, power-law exponents),
attractor_count (the distinct stable equilibria reached by h neurons, against p and h). Verdicts
on what the talk claims are validation's.
"""
