"""The names of the derived objects and of the losses, importable without sympy.

The command line lists them in its help, and its start must stay cheap (sympy alone takes 0.4 s
to import). derived.CATALOGUE and losses.LOSSES hold the objects under exactly these names, in
this order (a test keeps them equal).
"""

DERIVED = ("parameter-flow", "z-position", "z-velocity", "activation", "switching-surface", "conserved",
           "region-field", "fixed-point", "jacobian", "inversion", "sliding-equilibrium", "ntk-finite", "nngp",
           "ntk-infinite", "ntk-compressed", "loss-weight", "single-neuron-flow", "single-neuron-imbalance",
           "single-neuron-riccati", "single-neuron-trajectory", "single-neuron-implicit-bias", "single-neuron-ntk",
           "one-step-gradient", "one-step-alignment", "l2-representation-cost")
LOSSES = ("hinge", "soft-hinge", "quadratic-hinge", "mse", "logistic")
