"""Data of any representable scale: fixed points are verified or marked incomplete, never silently wrong,
and data beyond float64's reach are refused in one line. The field is not scale-invariant (its d term):
the regular equilibria move like d/|x| at large scales, as derived."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lazyrich.cli import main
from lazyrich.numerics.fixed_points.equilibria import RESIDUAL_TOL, find_equilibria, relative_residual
from lazyrich.numerics.fixed_points.neuron_field import FieldError, NeuronField


def _data(seed, p=8, d=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, d))
    y = np.where(rng.random(p) < 0.5, -1.0, 1.0)
    y[:2] = (1.0, -1.0)
    return X, y


@settings(max_examples=12, deadline=None)
@given(st.floats(-149, 149), st.integers(0, 10_000), st.sampled_from([1, -1]), st.sampled_from([1, -1]))
def test_every_reported_equilibrium_is_a_zero_of_the_field_at_any_scale(exponent, seed, sb, sbeta):
    X, y = _data(seed)
    f = NeuronField(X * 10.0 ** exponent, y, sb, sbeta)
    fp = find_equilibria(f)
    for e in fp.equilibria:
        if fp.complete:
            assert relative_residual(f, e) <= RESIDUAL_TOL
        if e.kind == "regular":  # an independent check: the derived velocity vanishes there, relatively
            z = e.z[None, :]
            v = np.linalg.norm(f.velocity(z))
            terms = np.abs(f.g) @ ((f.d + 2 * np.abs(f.X @ e.z)) * np.linalg.norm(e.z)
                                   + np.linalg.norm(e.z) ** 2 * np.linalg.norm(f.X, axis=1)) / (f.d * f.p)
            assert v <= 1e-6 * terms or not fp.complete


def test_regular_equilibria_move_like_one_over_the_scale_at_large_scales():
    """z*_A = -d G_A m_A/|m_A|^2: with x -> s x, m_A -> s m_A, so z* -> z*/s (region by region, while its
    region keeps the same points, which at large s depends on the sign of z.x only)."""
    X, y = _data(3)
    found = []
    for s in (1e6, 1e7):
        fp = find_equilibria(NeuronField(X * s, y, 1, 1))
        found.append(sorted((tuple(e.z * s) for e in fp.equilibria if e.kind == "regular")))
    assert found[0] and len(found[0]) == len(found[1])
    np.testing.assert_allclose(np.array(found[0]), np.array(found[1]), rtol=1e-6)


@pytest.mark.parametrize("scale", [1e300, 1e155, 1e-160, 1e-300])
def test_data_beyond_float64_are_refused_in_one_line(tmp_path, capsys, scale):
    X, y = _data(0)
    with pytest.raises(FieldError, match="not scale-invariant"):
        NeuronField(X * scale, y, 1, 1)
    path = tmp_path / "huge.npz"
    np.savez(path, X=X * scale, y=y)
    assert main(["fixed-points", str(path), "--sign-b", "1", "--sign-beta", "1", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rescale the data" in err[0]


@pytest.mark.parametrize("scale", [1e-3, 1e-6])
def test_basins_find_the_enumerated_node_at_small_scales(scale):
    """At small data the stable node sits near d/|x|, far outside the data: the flow of random starts
    must reach it (the escape radius follows the field's larger length, not |x|)."""
    from lazyrich.numerics.data import models
    from lazyrich.numerics.fixed_points.basins import basins

    D = models.make("stripe", 12, 2, 0)
    f = NeuronField(D.X * scale, D.y, 1, 1)
    fp = find_equilibria(f)
    assert fp.complete and any(e.stable for e in fp.equilibria)
    node = max(np.linalg.norm(e.z) for e in fp.equilibria if e.stable)
    assert node > 100 * f.scale  # far outside the data, as derived
    B = basins(f, fp.equilibria, n=100, seed=0)
    assert B.counts["converged"] == 100 and (B.assigned >= 0).all()


@settings(max_examples=6, deadline=None)
@given(st.floats(0.5, 2.0), st.floats(0, 6.28), st.floats(-2, 2).filter(lambda t: abs(t) > 0.3),
       st.floats(1.5, 3.0), st.sampled_from([1.0, -1.0]))
def test_a_node_exactly_on_another_points_sphere_is_classified_as_the_basins_find_it(r, angle, t, c, y1):
    """Data built degenerate: region {x0}'s regular node z* = -d x0/|x0|^2 lies exactly on x1's switching
    sphere (x1 = z* + t u, u orthogonal to z*), and x2 = c z* is inactive there. The equilibrium at z*
    is regular with boundary [1]; when random starts end there, it is not called repelling."""
    from lazyrich.numerics.fixed_points.basins import basins

    x0 = r * np.array([np.cos(angle), np.sin(angle)])
    zs = -2 * x0 / (x0 @ x0)
    u = np.array([-zs[1], zs[0]]) / np.linalg.norm(zs)
    X = np.array([x0, zs + t * u, c * zs])
    f = NeuronField(X, np.array([1.0, y1, -1.0]), 1, 1)
    fp = find_equilibria(f)
    at = [i for i, e in enumerate(fp.equilibria) if np.linalg.norm(e.z - zs) < 1e-9 * (1 + np.linalg.norm(zs))]
    assert len(at) == 1
    e = fp.equilibria[at[0]]
    assert e.kind == "regular" and e.boundary == [1] and e.surfaces == []
    B = basins(f, fp.equilibria, n=200, seed=0)
    share = float(np.mean(B.assigned == at[0]))
    if share >= 0.02:
        assert e.stable or e.type.startswith("stable node"), (e.type, share)
    if e.stable:
        assert share > 0, e.type
