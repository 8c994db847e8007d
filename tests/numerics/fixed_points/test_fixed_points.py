"""Fixed points of the neuron flow: completeness, agreement with the dynamics, precision, input errors."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lazyrich.numerics.fixed_points.basins import basins, integrate
from lazyrich.numerics.fixed_points.equilibria import enumerate_regular_bruteforce, find_equilibria
from lazyrich.numerics.fixed_points.neuron_field import FieldError, NeuronField
from lazyrich.theory.derived import derive

from lazyrich.cli import main


@st.composite
def fields(draw, dims=(2, 3), max_p=10):
    d = draw(st.sampled_from(dims))
    p = draw(st.integers(1, max_p))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, d)) * draw(st.floats(0.5, 2.0))
    g = rng.choice([-1.0, 1.0], size=p) if draw(st.booleans()) else rng.uniform(-1, 1, size=p)
    return NeuronField(X, g, draw(st.sampled_from([1, -1])), draw(st.sampled_from([1, -1])))


@given(fields())
def test_regular_equilibria_are_exactly_those_of_exhaustive_enumeration(f):
    res = find_equilibria(f, polish=False)
    assert res.complete
    found = [e.z for e in res.equilibria if e.kind == "regular"]
    brute = enumerate_regular_bruteforce(f)
    assert len(found) == len(brute)
    for z in found:
        assert min(np.linalg.norm(z - b) for b in brute) < 1e-8


@given(fields(max_p=8))
@settings(max_examples=15)
def test_every_reported_equilibrium_is_a_zero_of_its_filippov_field(f):
    for e in find_equilibria(f, polish=False).equilibria:
        F = f.region_field(e.z, e.G, e.m)
        assert np.linalg.norm(F) < 1e-9 * (1 + np.linalg.norm(e.z)) ** 2
        assert np.all(np.abs(f.surface(e.z[None])[0, e.surfaces]) < 1e-9 * (1 + e.z @ e.z))
        assert all(-1e-9 <= lam <= 1 + 1e-9 for lam in e.lam)
        off = np.setdiff1d(np.arange(f.p), e.surfaces)
        assert np.array_equal(np.sort(e.active), np.sort(off[f.argument(e.z[None])[0, off] > 0]))


def test_regular_jacobian_is_the_derived_multiple_of_identity():
    rng = np.random.default_rng(3)
    for seed in range(20):
        X = rng.standard_normal((6, 2))
        f = NeuronField(X, rng.choice([-1.0, 1.0], 6), 1, -1)
        for e in find_equilibria(f, polish=False).equilibria:
            if e.kind == "regular":
                Jstar = derive("jacobian").compile("numpy", "Jstar")
                expected = float(np.asarray(Jstar(G=[e.G], beta=[-1.0], b=[1.0], alpha=1.0, p=6, d=2)).reshape(-1)[0])
                assert np.allclose(e.eigenvalues, expected)
                assert e.stable == (expected < 0)


CASES = [(1, 2, 8, 1, 1), (3, 3, 12, 1, 1), (5, 2, 30, 1, -1), (7, 2, 20, -1, 1), (8, 3, 20, -1, -1)]


@pytest.mark.parametrize("seed,d,p,sb,sbeta", CASES)
def test_trajectories_end_at_stable_equilibria(seed, d, p, sb, sbeta):
    rng = np.random.default_rng(seed)
    f = NeuronField(rng.standard_normal((p, d)), np.sign(rng.standard_normal(p)), sb, sbeta)
    res = find_equilibria(f, polish=False)
    B = basins(f, res.equilibria, n=400, seed=seed)
    settled = B.flow.status == "converged"
    stable = np.array([e.stable for e in res.equilibria])
    near_stable = settled & (B.assigned >= 0) & stable[np.maximum(B.assigned, 0)]
    assert B.counts["unconverged"] == 0
    assert near_stable.sum() >= 0.99 * settled.sum()
    assert np.all(B.distance[near_stable] < 1e-3)


def _data_cases():
    from lazyrich.numerics.data import make

    for model in ("stripe", "sphere"):
        ds = make(model, 40, 2, 0)
        yield model, NeuronField(ds.X, ds.y, 1, 1)


@pytest.mark.parametrize("model,f", list(_data_cases()))
def test_stable_equilibria_attract_neighbours_on_stripe_and_sphere_data(model, f):
    res = find_equilibria(f, polish=False)
    B = basins(f, res.equilibria, n=300)
    settled = B.flow.status == "converged"
    stable = np.array([e.stable for e in res.equilibria])
    ok = settled & (B.assigned >= 0) & stable[np.maximum(B.assigned, 0)]
    assert ok.sum() >= 0.99 * settled.sum()
    for i, e in enumerate(res.equilibria):
        if not e.stable:
            continue
        # next to it: closer than the nearest other switching circle (|z - x/2| = |x|/2)
        others = np.setdiff1d(np.arange(f.p), e.surfaces)
        gap = np.abs(np.linalg.norm(e.z - f.X[others] / 2, axis=1) - np.linalg.norm(f.X[others], axis=1) / 2).min()
        step = min(1e-4, 0.3 * gap)
        u = np.random.default_rng(i).standard_normal((16, f.d))
        starts = e.z + step * u / np.linalg.norm(u, axis=1, keepdims=True)
        # Euler steps of frac |z| must not jump over the nearby circle either
        flow = integrate(f, starts, frac=min(0.05, 0.3 * gap / np.linalg.norm(e.z)))
        assert (flow.status == "converged").all()
        assert np.all(np.linalg.norm(flow.endpoints - e.z, axis=1) < 1e-3)


def test_polish_gives_tiny_residuals_and_certificates():
    rng = np.random.default_rng(1)
    f = NeuronField(rng.standard_normal((8, 2)), np.sign(rng.standard_normal(8)), 1, 1)
    res = find_equilibria(f, digits=50)
    assert res.equilibria
    for e in res.equilibria:
        assert e.residual < 1e-45
        assert e.certified is True
        assert abs(float(e.z_mp[0]) - e.z[0]) < 1e-12


def test_degenerate_inputs():
    X = np.array([[1.0, 0.2], [1.0, 0.2], [0.0, 0.0], [-0.5, 1.0], [0.3, -1.2]])
    g = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    res = find_equilibria(NeuronField(X, g, 1, 1))  # duplicates and a point at the origin
    for e in res.equilibria:
        if 0 in e.surfaces:
            assert 1 in e.surfaces  # duplicates share their surface
    # all labels equal
    find_equilibria(NeuronField(X[[0, 3, 4]], np.ones(3), -1, 1))
    # cancelling duplicates: nothing left, one region
    res = find_equilibria(NeuronField(X[[0, 1]], np.array([1.0, -1.0]), 1, 1))
    assert res.equilibria == [] and res.complete
    # three circles through one point (not in general position): flagged, never wrong silently
    X3 = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [-1.0, 0.5]])
    res = find_equilibria(NeuronField(X3, np.array([1.0, -1.0, 1.0, -1.0]), 1, 1), polish=False)
    assert (not res.complete) == (res.counts["degenerate_vertices"] > 0)
    with pytest.raises(FieldError, match="NaN"):
        NeuronField(np.array([[np.nan, 1.0]]), np.ones(1))
    with pytest.raises(FieldError, match="p = 0"):
        NeuronField(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(FieldError, match="shape"):
        NeuronField(np.ones((3, 2)), np.ones(4))
    with pytest.raises(FieldError, match="sign_b"):
        NeuronField(np.ones((3, 2)), np.ones(3), sign_b=0)


def test_start_exactly_on_a_surface_is_integrated():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -0.3]])
    f = NeuronField(X, np.array([1.0, -1.0, 1.0]), 1, 1)
    z0 = np.array([[0.5, 0.5], [1.0, 0.0]])  # on the circle of x_0 (|z|^2 = z.x_0)
    assert np.allclose(f.surface(z0)[:, 0], 0)
    flow = integrate(f, z0)
    assert np.isfinite(flow.endpoints).all()


def test_large_arrangements_fall_back_and_say_so():
    rng = np.random.default_rng(0)
    f = NeuronField(rng.standard_normal((30, 3)), np.sign(rng.standard_normal(30)), 1, 1)
    res = find_equilibria(f, polish=False, max_vertices=100, fallback_samples=500)
    assert not res.complete and "incomplete" in res.method
    full = find_equilibria(f, polish=False)
    for e in res.equilibria:  # whatever sampling reports is a true equilibrium
        assert min(np.linalg.norm(e.z - q.z) for q in full.equilibria) < 1e-8


def test_cli_fixed_points_json(tmp_path, capsys):
    assert main(["data", "stripe", "--p", "12", "--d", "2", "--out", str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()
    png = tmp_path / "pp.png"
    assert main(["fixed-points", str(tmp_path / "s.npz"), "--sign-b", "+1", "--sign-beta", "-1",
                 "--basins", "200", "--png", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert png.stat().st_size > 10_000
    assert out["complete"] is True
    for e in out["equilibria"]:
        assert set(e) >= {"z", "kind", "surfaces", "active", "stable", "eigenvalues", "residual", "basin"}
        assert e["kind"] in ("regular", "sliding") and len(e["z"]) == 2
        assert isinstance(e["basin"], float)
    assert {n["kind"] for n in out["neutral_sets"]} >= {"dead region", "origin"}
    assert "total_s" in out["timing"]
    np.save(tmp_path / "g.npy", np.ones(5))
    assert main(["fixed-points", str(tmp_path / "s.npz"), "--sign-b", "1", "--sign-beta", "1",
                 "--g", str(tmp_path / "g.npy")]) == 2
    assert "shape" in capsys.readouterr().err
    assert main(["fixed-points", str(tmp_path / "s.npz"), "--sign-b", "2", "--sign-beta", "1"]) == 2


def _attracting_one_at_a_time(c, C, weights):
    """The single-system loop that _attracting_many batches (the reference for its results)."""
    import itertools

    k = len(c)
    W = np.diag(weights)
    sym = np.linalg.eigvalsh(W @ C + C.T @ W)
    if (sym < 0).all():
        return True
    if (sym > 0).all():
        return False
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=k)))
    v = c + corners @ C.T
    towards = np.where(corners > 0, v < 0, v > 0)
    if towards.all() or k == 1:
        return bool(towards.all())
    if np.where(corners > 0, v > 0, v < 0).all(1).any():
        return False
    eta = np.random.default_rng(0).standard_normal((128, k))
    eta /= np.linalg.norm(eta, axis=1, keepdims=True)
    speed = np.abs(c).max() + np.abs(C).sum(1).max()
    for step in range(4_000):
        size = np.sqrt(np.einsum("ij,ij->i", eta, eta))[:, None]
        if step % 25 == 0:
            if size.max() < 1e-6:
                return True
            if size.max() > 1e3:
                return False
        eta = eta + (0.01 / speed) * size * (c + (eta > 0) @ C.T)
    return False


@st.composite
def transversal_systems(draw):
    """Transversal systems as _classify builds them: C = s K diag(g), K = d + x_i.x_j, mixed g
    (so that the Lyapunov test leaves many undecided), c = -C lambda with lambda near [0, 1]^k."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31 - 1)))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        k = int(rng.integers(1, 4))
        x = rng.standard_normal((k, 3))
        g = rng.choice([-1.0, 1.0], k) * rng.uniform(0.2, 2.0, k)
        C = rng.choice([-1.0, 1.0]) * (3 + x @ x.T) * g[None, :] + 0.3 * rng.standard_normal((k, k))
        lam = rng.uniform(-0.1, 1.1, k)
        out.append((-C @ lam, C, np.abs(g)))
    return out


@given(transversal_systems())
@settings(max_examples=10)
def test_batched_attraction_equals_the_one_at_a_time_loop(systems):
    from lazyrich.numerics.fixed_points.classification import attracting_many as _attracting_many

    got = _attracting_many([s[0] for s in systems], [s[1] for s in systems], [s[2] for s in systems])
    assert got.tolist() == [_attracting_one_at_a_time(*s) for s in systems]


def test_batched_attraction_on_the_sliding_equilibria_of_a_dataset():
    from lazyrich.numerics.fixed_points.classification import attracting_many as _attracting_many
    from lazyrich.numerics.fixed_points.classification import local_data as _local

    rng = np.random.default_rng(4)
    f = NeuronField(rng.standard_normal((60, 3)), np.sign(rng.standard_normal(60)), 1, 1)
    eqs = [e for e in find_equilibria(f, polish=False).equilibria if e.kind == "sliding"]
    infos = [_local(f, e.z, np.array(e.surfaces), np.array(e.lam)) for e in eqs]
    systems = [(i["c"], i["C"], i["wts"]) for i in infos]
    assert any(len(s[0]) >= 2 for s in systems)
    got = _attracting_many(*zip(*systems))
    assert got.tolist() == [_attracting_one_at_a_time(*s) for s in systems] == [e.attracting for e in eqs]
