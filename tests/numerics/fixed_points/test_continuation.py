"""Continuation of equilibria: the branch against fresh find_equilibria, events against a fine scan."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lazyrich.numerics.fixed_points import continuation as C
from lazyrich.numerics.fixed_points.continuation import (
    ContinuationError,
    continue_equilibria,
    continue_equilibrium,
    fine_scan,
    hinge_exit_path,
    point_path,
    weight_path,
)
from lazyrich.numerics.fixed_points.equilibria import find_equilibria
from lazyrich.numerics.fixed_points.neuron_field import NeuronField

from lazyrich.cli import main


def _case(seed, p=8):
    """A random problem: d = 2 or 3, labels or uniform weights, a moving point or points leaving the loss."""
    rng = np.random.default_rng(seed)
    d = [2, 3][seed % 2]
    X = rng.standard_normal((p, d))
    g = np.sign(rng.standard_normal(p)) if seed % 3 else rng.uniform(-1, 1, p)
    sb, sbeta = int(rng.choice([1, -1])), int(rng.choice([1, -1]))
    if seed % 4 == 0:
        path = hinge_exit_path(X, np.sign(g), leaving=rng.random(p) < 0.4)
    else:
        path = point_path(X, g, int(rng.integers(p)), rng.standard_normal(d) * 1.5)
    return path, sb, sbeta


def _state(e):
    return None if e is None else (e.kind, list(e.surfaces), bool(e.stable))


def _fresh(path, sb, sbeta, t):
    return find_equilibria(path.field(t, sb, sbeta), polish=False).equilibria


def _check_branch(path, sb, sbeta, r, samples=8):
    """Sampled branch points are equilibria found afresh on the moved data (z within 1e-8, same face
    and stability); around each event the fresh equilibria show the states before and after."""
    away = [i for i, t in enumerate(r.t) if all(abs(t - e["t"]) > 1e-6 for e in r.events)]
    for i in np.array(away)[np.linspace(0, len(away) - 1, min(samples, len(away))).astype(int)]:
        eqs = _fresh(path, sb, sbeta, r.t[i])
        near = min(eqs, key=lambda e: np.linalg.norm(e.z - r.z[i]))
        assert np.linalg.norm(near.z - r.z[i]) < 1e-8
        assert _state(near) == (r.kind[i], r.surfaces[i], r.stable[i])
    scale = path.field(0.0, sb, sbeta).scale
    for e in r.events:
        for side, t in (("before", e["t"] - 1e-7), ("after", e["t"] + 1e-7)):
            eqs = _fresh(path, sb, sbeta, t)
            near = [q for q in eqs if np.linalg.norm(q.z - e["z"]) < 1e-4 * scale]
            want = e[side]
            if want is None:  # the equilibrium has disappeared: nothing of its kind is left nearby
                assert all(_state(q) != (e["before"]["kind"], e["before"]["surfaces"], e["before"]["stable"])
                           for q in near)
            else:
                assert (want["kind"], want["surfaces"], want["stable"]) in [_state(q) for q in near]


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2 ** 20))
    return _case(seed, p=draw(st.integers(4, 8)))


@given(problems())
@settings(max_examples=6)
def test_branch_agrees_with_fresh_equilibria_and_events_with_their_neighbourhood(problem):
    path, sb, sbeta = problem
    fp, runs = continue_equilibria(path, sb, sbeta, which=list(range(min(2, len(_fresh(path, sb, sbeta, 0.0))))))
    for r in runs:
        assert r.t[0] == 0.0 and np.all(np.diff(r.t) >= 0)
        assert r.end == "t = 1" or r.end == r.events[-1]["type"]
        _check_branch(path, sb, sbeta, r)


# fixed cases with every kind of face change: sliding -> two surfaces, a surface sweeping across a
# vertex (lambda jumps), swapping one surface for another at a vertex, leaving a surface, and a
# sliding pair meeting and disappearing (non-smooth fold)
SCANNED = [(6, 1, ["reaches-surface", "reaches-surface", "leaves-surface"]),
           (6, 3, ["reaches-surface", "leaves-surface", "leaves-surface"]),
           (0, 4, ["reaches-surface", "fold"])]


@pytest.mark.parametrize("seed,k,types", SCANNED)
def test_events_agree_with_a_fine_scan(seed, k, types):
    path, sb, sbeta = _case(seed)
    _, (r,) = continue_equilibria(path, sb, sbeta, which=[k])
    assert [e["type"] for e in r.events] == types
    ts = np.linspace(0.0, 1.0, 101)
    scan = fine_scan(path, sb, sbeta, r.z[0], ts)
    for t, e in zip(ts, scan):
        state = (r.kind[0], r.surfaces[0], r.stable[0])
        for ev in r.events:  # the continuation's state at t: after the last event before t
            if ev["t"] < t:
                after = ev["after"]
                state = None if after is None else (after["kind"], after["surfaces"], after["stable"])
        assert state == _state(e), t
    _check_branch(path, sb, sbeta, r, samples=4)


def test_points_leaving_the_hinge_loss_end_at_the_equilibria_without_them():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((10, 2))
    y = np.sign(rng.standard_normal(10))
    margins = rng.uniform(0, 2, 10)
    path = hinge_exit_path(X, y, margins=margins)
    assert np.array_equal(path.g_b, np.where(margins >= 1, 0.0, y)) and np.array_equal(path.g_a, y)
    _, runs = continue_equilibria(path, 1, -1)
    end = find_equilibria(NeuronField(X, path.g_b, 1, -1), polish=False).equilibria
    assert runs
    for r in runs:
        if r.end == "t = 1":
            near = min(end, key=lambda e: np.linalg.norm(e.z - r.z[-1]))
            assert np.linalg.norm(near.z - r.z[-1]) < 1e-8 and near.surfaces == r.surfaces[-1]


def test_a_change_of_stability_is_located_by_bisection(monkeypatch):
    """Within a face the derived eigenvalues keep their sign (-sign(beta b) G, G -> 0 only at
    z = 0), so the test flips the classifier at a known parameter to check the machinery."""
    path, sb, sbeta = _case(6)
    mu = path.to_json()["moving_points"][0]
    xa, xb = path.X_a[mu, 0], path.X_b[mu, 0]
    t_flip = 0.3
    x_flip = xa + t_flip * (xb - xa)
    classify = C.classify

    def flipped(f, *a, **k):
        info = classify(f, *a, **k)
        if (f.X[mu, 0] - x_flip) * np.sign(xb - xa) > 0:
            info = dict(info, stable=not info["stable"])
        return info

    monkeypatch.setattr(C, "classify", flipped)
    start = find_equilibria(path.field(0.0, sb, sbeta), polish=False).equilibria[0]
    r = continue_equilibrium(path, sb, sbeta, start)
    ev = [e for e in r.events if e["type"] == "stability-change"]
    assert len(ev) == 1 and abs(ev[0]["t"] - t_flip) < 1e-9
    assert ev[0]["before"]["stable"] != ev[0]["after"]["stable"]
    assert "attraction" in ev[0]["detail"]


def test_json_and_bad_input():
    path, sb, sbeta = _case(6)
    fp, runs = continue_equilibria(path, sb, sbeta, which=[1])
    js = json.loads(json.dumps(runs[0].to_json()))
    assert set(js) >= {"branch", "events", "end", "start", "path", "index"}
    assert set(js["branch"]) >= {"t", "z", "kind", "stable", "surfaces", "lambda"}
    assert all({"t", "type", "z"} <= set(e) for e in js["events"])
    X, g = path.X_a, path.g_a
    with pytest.raises(ContinuationError, match="index"):
        point_path(X, g, 99, [0.0, 0.0])
    with pytest.raises(ContinuationError, match="2 finite numbers"):
        point_path(X, g, 0, [0.0, np.nan])
    with pytest.raises(ContinuationError, match="distinct"):
        point_path(np.vstack([X, X[:1]]), np.append(g, 1.0), 0, [0.0, 1.0])
    with pytest.raises(ContinuationError, match="shape"):
        weight_path(X, g, g[:3])
    with pytest.raises(ContinuationError, match="exactly one"):
        hinge_exit_path(X, g)
    with pytest.raises(ContinuationError, match="out of range"):
        continue_equilibria(path, sb, sbeta, which=[len(fp.equilibria)])
    with pytest.raises(ContinuationError, match="max_step"):
        continue_equilibrium(path, sb, sbeta, fp.equilibria[0], max_step=2.0)
    with pytest.raises(ValueError, match="NaN"):
        weight_path(X, g, np.full(len(g), np.nan))


def test_cli_continuation(tmp_path, capsys):
    assert main(["data", "stripe", "--p", "10", "--d", "2", "--out", str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()
    assert main(["continuation", str(tmp_path / "s.npz"), "--sign-b", "1", "--sign-beta", "-1",
                 "--point", "3", "--to=-1,2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["continuations"] and all(c["start"]["stable"] for c in out["continuations"])
    g = np.load(tmp_path / "s.npz")["y"].copy()
    g[:4] = 0
    np.save(tmp_path / "g.npy", g)
    assert main(["continuation", str(tmp_path / "s.npz"), "--sign-b", "1", "--sign-beta", "1",
                 "--g-to", str(tmp_path / "g.npy"), "--equilibrium", "0"]) == 0
    assert "equilibrium 0" in capsys.readouterr().out
    for argv, message in [(["--point", "3"], "--to"), (["--point", "1", "--to", "1,2,3"], "d = 2"),
                          ([], "either"), (["--point", "1", "--to", "1,2", "--equilibrium", "99"], "out of range")]:
        assert main(["continuation", str(tmp_path / "s.npz"), "--sign-b", "1", "--sign-beta", "1", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err
