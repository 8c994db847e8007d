"""The derived flow against autograd through the real network and loss (float64)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lazyrich.numerics import network as N
from lazyrich.numerics.z_velocity import predicted_z_velocity, reference_z_velocity
from lazyrich.theory import derive
from lazyrich.theory.losses import LOSSES
from scipy.integrate import solve_ivp
from strategies import losses, problems


def rel_err(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    floor = 1e-12 * max(b.abs().max().item(), 1e-300)
    return ((a - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(floor)).max().item()


@given(problems(), losses)
def test_z_velocity_equals_autograd_through_parameter_flow(pb, loss):
    P, X, y = pb["params"], pb["X"], pb["y"]
    g = N.loss_weights(N.margins(*P.tuple(), X, y, pb["f0"], pb["alpha"]), y, loss)
    _, z, ref, _ = reference_z_velocity(P, X, y, pb["f0"], pb["alpha"], loss)
    ours = predicted_z_velocity(z, P, X, g, pb["alpha"])
    assert ours.shape == (pb["h"], pb["d"])
    assert rel_err(ours, ref) < 1e-8


@given(problems(), losses)
def test_parameter_flow_compiled_equals_autograd(pb, loss):
    P, X, y = pb["params"], pb["X"], pb["y"]
    g = N.loss_weights(N.margins(*P.tuple(), X, y, pb["f0"], pb["alpha"]), y, loss)
    ref = N.parameter_velocity(P, X, y, pb["f0"], pb["alpha"], loss)
    flow = derive("parameter-flow").compile("numpy")
    args = dict(omega=P.omega.numpy(), b=P.b.numpy(), beta=P.beta.numpy(), x=X.numpy(), g=g.numpy(),
                alpha=pb["alpha"])
    np.testing.assert_allclose(flow["omega"](**args), ref.omega.numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(flow["b"](**{k: v for k, v in args.items()}), ref.b.numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(flow["beta"](**args), ref.beta.numpy(), rtol=1e-9, atol=1e-13)


@given(st.sampled_from(list(LOSSES)), st.lists(st.floats(-5, 5), min_size=1, max_size=30),
       st.lists(st.sampled_from([-1.0, 1.0]), min_size=30, max_size=30))
def test_loss_weight_equals_autograd_derivative(loss, ms, ys):
    m = torch.tensor(ms, requires_grad=True)
    y = torch.tensor(ys[: len(ms)])
    (dl,) = torch.autograd.grad(N.pointwise_loss(m, loss).sum(), m)
    np.testing.assert_allclose(N.loss_weights(m.detach(), y, loss).numpy(), (-dl * y).numpy(), rtol=1e-12, atol=1e-14)


@given(problems())
def test_activation_in_z_agrees_with_sign_of_preactivation(pb):
    P, X = pb["params"], pb["X"]
    z = derive("z-position").compile("numpy", "z")(omega=P.omega.numpy(), b=P.b.numpy())
    arg = derive("activation").compile("numpy", "argument")(z=z, b=P.b.numpy(), x=X.numpy())
    u = (X @ P.omega.T / np.sqrt(pb["d"]) + P.b).numpy().T  # (h, p)
    clear = np.abs(u) > 1e-9  # away from the surface itself, where rounding decides
    assert ((arg > 0) == (u > 0))[clear].all()
    # the switching surface |z - c|^2 = r^2 is where the argument changes sign
    sw = derive("switching-surface").compile("numpy")
    level = sw["level"](z=z, x=X.numpy())
    c, r2 = sw["centre"](x=X.numpy()), sw["radius2"](x=X.numpy())
    np.testing.assert_allclose(level, ((z[:, None, :] - c[None]) ** 2).sum(-1) - r2[None], rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(np.sign(arg), np.sign(P.b.numpy()[:, None] * level))


@settings(max_examples=10)
@given(problems(max_d=3, max_p=6, max_h=3), st.sampled_from(["mse", "logistic", "hinge", "soft-hinge"]))
def test_conserved_quantity_constant_along_integrated_flow(pb, loss):
    """Integrate d theta/dt = -h grad L (autograd, DOP853 at tight tolerance): Q_n stays put.

    The integration stops at the first kink (a pre-activation or a hinge margin crossing):
    past it the flow may slide along the kink (a Filippov sliding mode, see issue 3), where an
    adaptive integrator chatters. Q is conserved on every smooth piece; what remains is the
    integrator's error, which the tolerances bound.
    """
    P, X, y, f0, alpha = pb["params"], pb["X"], pb["y"], pb["f0"], pb["alpha"]
    h, d, p = pb["h"], pb["d"], pb["p"]
    Q = derive("conserved").compile("numpy", "Q")

    unpack = lambda v: N.Params.from_flat(v, h, d)  # noqa: E731
    rhs = N.flat_velocity(X, y, f0, alpha, loss, h, d)

    def kinks(v):
        q = unpack(v)
        u = (X @ q.omega.T / np.sqrt(d) + q.b).reshape(-1)
        return torch.cat([u, 1 - N.margins(*q.tuple(), X, y, f0, alpha)]).numpy() if "hinge" == loss else u.numpy()

    events = []
    for k in range(h * p + (p if loss == "hinge" else 0)):
        ev = lambda t, v, k=k: kinks(v)[k]  # noqa: E731
        ev.terminal = True
        events.append(ev)
    v0 = P.flat()
    sol = solve_ivp(rhs, (0, 0.5), v0, method="DOP853", rtol=1e-10, atol=1e-12, events=events)
    assert sol.success
    q = lambda v: Q(omega=unpack(v).omega.numpy(), b=unpack(v).b.numpy(), beta=unpack(v).beta.numpy())  # noqa: E731
    drift = np.abs(q(sol.y[:, -1]) - q(v0)).max()
    assert drift < 1e-7 * max(1.0, np.abs(q(v0)).max())
    # the flow really moved, unless it is (numerically) at rest or a kink was met at once
    assert np.abs(sol.y[:, -1] - v0).max() > 0 or np.abs(rhs(0, v0)).max() < 1e-12 or sol.t[-1] < 1e-9


@given(problems())
def test_conserved_in_z_coordinates(pb):
    P = pb["params"]
    c = derive("conserved").compile("numpy")
    z = derive("z-position").compile("numpy", "z")(omega=P.omega.numpy(), b=P.b.numpy())
    np.testing.assert_allclose(c["Qz"](z=z, b=P.b.numpy(), beta=P.beta.numpy()),
                               c["Q"](omega=P.omega.numpy(), b=P.b.numpy(), beta=P.beta.numpy()), rtol=1e-9, atol=1e-9)


@given(problems(max_h=6), st.permutations(range(6)))
def test_neuron_permutation_permutes_z_velocity(pb, perm):
    perm = [i for i in perm if i < pb["h"]]
    P, X = pb["params"], pb["X"]
    g = pb["y"]
    F = derive("z-velocity").compile("numpy", "zdot")
    z = np.random.default_rng(0).standard_normal((pb["h"], pb["d"]))
    a = F(z=z, b=P.b.numpy(), beta=P.beta.numpy(), x=X.numpy(), g=g.numpy(), alpha=1.0)
    bperm = F(z=z[perm], b=P.b.numpy()[perm], beta=P.beta.numpy()[perm], x=X.numpy(), g=g.numpy(), alpha=1.0)
    np.testing.assert_allclose(bperm, a[perm], rtol=1e-12, atol=1e-14)


@given(problems(max_d=5), st.integers(0, 2 ** 31 - 1))
def test_z_velocity_is_rotation_equivariant(pb, seed):
    """F(Rz; Rx) = R F(z; x): the field has no preferred direction (the sphere model's symmetry)."""
    d = pb["d"]
    R, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    P, X, g = pb["params"], pb["X"].numpy(), pb["y"].numpy()
    F = derive("z-velocity").compile("numpy", "zdot")
    z = np.random.default_rng(seed + 1).standard_normal((pb["h"], d))
    args = dict(b=P.b.numpy(), beta=P.beta.numpy(), g=g, alpha=pb["alpha"])
    np.testing.assert_allclose(F(z=z @ R.T, x=X @ R.T, **args), F(z=z, x=X, **args) @ R.T, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_backends_agree(backend, rng):
    h, p, d = 5, 7, 3
    args = dict(z=rng.standard_normal((h, d)), b=rng.standard_normal(h), beta=rng.standard_normal(h),
                x=rng.standard_normal((p, d)), g=rng.standard_normal(p), alpha=2.0)
    ref = derive("z-velocity").compile("numpy", "zdot")(**args)
    out = derive("z-velocity").compile(backend, "zdot")(**{k: (torch.as_tensor(v) if backend == "torch" and
                                                              k != "alpha" else v) for k, v in args.items()})
    out = out.numpy() if hasattr(out, "numpy") else out
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    # batched = looped: the sum over points of one-point fields
    looped = sum(derive("z-velocity").compile("numpy", "zdot")(**{**args, "x": args["x"][i:i + 1],
                                                                     "g": args["g"][i:i + 1]}) for i in range(p))
    np.testing.assert_allclose(ref, looped / p, rtol=1e-12)  # each one-point call divides by p = 1
