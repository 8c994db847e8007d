"""Hypothesis strategies: random networks and datasets, float64."""
import numpy as np
import torch
from hypothesis import strategies as st
from lazyrich.numerics import network as N
from lazyrich.theory.losses import LOSSES

losses = st.sampled_from(list(LOSSES))
signs = st.sampled_from(["mixed", "positive", "negative"])


@st.composite
def problems(draw, max_d=6, max_p=24, max_h=8):
    """A random network, dataset, f_0 and alpha; b_n of a chosen sign, never 0."""
    d = draw(st.integers(1, max_d))
    p = draw(st.integers(1, max_p))
    h = draw(st.integers(1, max_h))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    sign = draw(signs)
    alpha = draw(st.floats(0.1, 10.0))
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(rng.standard_normal((p, d)) * draw(st.floats(0.5, 3.0)))
    y = torch.as_tensor(rng.choice([-1.0, 1.0], size=p))
    params = N.init_params(h, d, seed)
    b = params.b.abs().clamp_min(1e-2)
    if sign == "positive":
        params.b = b
    elif sign == "negative":
        params.b = -b
    else:
        params.b = torch.where(params.b >= 0, b, -b)
    f0 = torch.as_tensor(rng.standard_normal(p))
    return dict(d=d, p=p, h=h, X=X, y=y, params=params, f0=f0, alpha=alpha, rng=rng)
