"""The symbols of the one-hidden-layer network, with their LaTeX names and index axes.

Axes: "n" runs over neurons (1..h), "r" over activation regions, "mu" over training points
(1..p), "nu" over a second set of inputs (the NTK's second argument). Compiled callables
broadcast along these axes.
"""
import sympy as sp

from .vectors import scalar, vector

# neuron n
omega = vector("omega", r"\boldsymbol{\omega}_{n}", ("n",))
z = vector("z", r"\mathbf{z}_{n}", ("n",))
b = scalar("b", r"b_{n}", ("n",), real=True, nonzero=True)
beta = scalar("beta", r"\beta_{n}", ("n",), real=True)

# training point mu
x = vector("x", r"\mathbf{x}_{\mu}", ("mu",))
y = scalar("y", r"y_{\mu}", ("mu",), real=True)
g = scalar("g", r"g_{\mu}", ("mu",), real=True)
margin = scalar("m", r"m_{\mu}", ("mu",), real=True)
f_rest = scalar("f_rest", r"f_{\neg n}(\mathbf{x}_{\mu})", ("mu",), real=True)
f_init = scalar("f_init", r"f_{0}(\mathbf{x}_{\mu})", ("mu",), real=True)

# second input (kernel argument)
xp = vector("xp", r"\mathbf{x}'_{\nu}", ("nu",))

# one activation region A: its total weight and weighted point sum
G = scalar("G", r"G_{A}", ("r",), real=True)
m_A = vector("m_A", r"\mathbf{m}_{A}", ("r",))
t = scalar("t", "t", (), real=True)
# inverted position w = z/|z|^2 = -omega/(sqrt(d) b): switching spheres become hyperplanes
w = vector("w", r"\mathbf{w}_{n}", ("n",))
# per-neuron copies of the region weights and of a point, for batches where every neuron has its
# own active set (the Filippov flow of many neurons at once)
G_n = scalar("G_n", r"G_{n}", ("n",), real=True)
m_n = vector("m_n", r"\mathbf{m}_{n}", ("n",))
x_n = vector("x_n", r"\mathbf{x}_{n}", ("n",))
# Filippov weight of a training point whose switching surface the neuron slides on
lam = scalar("lambda", r"\lambda_{\mu}", ("mu",), real=True)

# globals
alpha = scalar("alpha", r"\alpha", (), positive=True)
p = scalar("p", "p", (), positive=True, integer=True)
h = scalar("h", "h", (), positive=True, integer=True)
d = scalar("d", "d", (), positive=True, integer=True)
softness = scalar("a", "a", (), positive=True)  # sharpness of the soft hinge
# learning rates of the first layer (omega, b) and of the second (beta): the imbalance knob
eta1 = scalar("eta_1", r"\eta_{1}", (), positive=True)
eta2 = scalar("eta_2", r"\eta_{2}", (), positive=True)

# summation indices, for display only
n_idx = sp.Symbol("n", integer=True, positive=True)
mu_idx = sp.Symbol("mu", integer=True, positive=True)
nu_idx = sp.Symbol("nu", integer=True, positive=True)
SUM_INDEX = {"n": (n_idx, h), "mu": (mu_idx, p)}

GLOBALS = (alpha, p, h, d, softness)

# compressed coordinates: a point split into its informative part (the subspace the weights live
# in, x_1 for the stripe) and the rest; both parts are vectors of the full dimension d
x_par = vector("x_par", r"\mathbf{x}^{\parallel}_{\mu}", ("mu",))
x_perp = vector("x_perp", r"\mathbf{x}^{\perp}_{\mu}", ("mu",))
xp_par = vector("xp_par", r"\mathbf{x}'^{\parallel}_{\nu}", ("nu",))
xp_perp = vector("xp_perp", r"\mathbf{x}'^{\perp}_{\nu}", ("nu",))
