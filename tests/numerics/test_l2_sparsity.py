"""L2 sparsity: gradient against autograd, exact merges, patterns, the tight example against theory,
the command line and the claim's failure when its prediction is off."""
import json

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.cli import main
from lazyrich.numerics import l2_sparsity as L
from lazyrich.numerics import patterns as P
from lazyrich.validation import claim as C
from lazyrich.validation import runner as Rn


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(1, 7), st.integers(1, 3), st.floats(1e-6, 1.0),
       st.integers(0, 10_000))
def test_gradient_equals_autograd(N, d, h, k, lam, seed):
    rng = np.random.default_rng(seed)
    W, A, X, Y = (rng.standard_normal(s) for s in ((h, d), (h, k), (N, d), (N, k)))
    fit, reg, dW, dA = L.loss_terms(W, A, X, Y, lam, gradient=True)
    value = fit + reg
    Wt, At = (torch.tensor(v, requires_grad=True) for v in (W, A))
    total = ((torch.relu(torch.as_tensor(X) @ Wt.T) @ At - torch.as_tensor(Y)) ** 2).sum() / N \
        + lam * ((Wt ** 2).sum() + (At ** 2).sum())
    gW, gA = torch.autograd.grad(total, (Wt, At))
    assert np.isclose(value, float(total.detach()), rtol=1e-12)
    np.testing.assert_allclose(dW, gW.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dA, gA.numpy(), rtol=1e-10, atol=1e-12)
    assert L.loss_terms(W, A, X, Y, lam) == (fit, reg)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 10), st.integers(1, 5), st.integers(2, 30), st.integers(0, 10_000))
def test_merging_one_output_keeps_the_training_outputs_and_lowers_the_cost(N, d, h, seed):
    rng = np.random.default_rng(seed)
    X = L.with_bias(rng.standard_normal((N, d)))
    # few distinct patterns: copies of 3 neurons, perturbed so that their patterns stay
    base = rng.standard_normal((3, d + 1))
    W = base[rng.integers(0, 3, h)] * rng.uniform(0.5, 2, (h, 1))
    A = rng.standard_normal((h, 1))
    F0 = np.maximum(X @ W.T, 0) @ A
    W2, A2, removed = L.prune_and_merge(W, A, X)
    assert removed == len(W) - len(W2)
    np.testing.assert_allclose(np.maximum(X @ W2.T, 0) @ A2, F0, rtol=1e-9, atol=1e-9)
    assert L.neuron_costs(W2, A2).sum() <= L.neuron_costs(W, A).sum() * (1 + 1e-12)
    assert len(W2) == len(np.unique(L.merge_labels(W, A, X)))
    # merging across readout signs is not exact: the check above can fail
    Wbad = (np.abs(A) * W).sum(0, keepdims=True)
    Fbad = np.maximum(X @ Wbad.T, 0) * np.sign(A.sum())
    if len(np.unique(np.sign(A))) > 1 and len(np.unique(L.merge_labels(W, A, X))) > 1:
        assert not np.allclose(Fbad, F0, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 9), st.floats(1e-100, 1e100), st.integers(0, 10_000))
def test_patterns_are_scale_free_and_put_surface_points_off(n, p, scale, seed):
    u = np.random.default_rng(seed).standard_normal((n, p))
    u[:, 0] = 1e-14 * np.abs(u[:, 1:]).max(axis=1)  # on the switching surface up to rounding
    a = P.active(u)
    assert not a[:, 0].any()
    assert (P.active(u * scale) == a).all()
    labels = P.group_labels(a)
    assert len(np.unique(labels)) == len({tuple(r) for r in a})


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10_000))
def test_tight_example_cost_approaches_the_derived_one_as_lambda_goes_to_zero(seed):
    problem = L.tight_example(4)
    gaps = []
    for lam in (1e-2, 1e-3):
        out = L.l2_sparsity(problem, L.L2Config(h=48, lam=lam), seeds=(seed,))
        cost = out["cost_over_lambda"]["mean"]
        assert abs(cost - out["predicted_cost_over_lambda"]) < 1e-5  # the finite-lambda derived value
        assert out["directions"]["values"] == [4] == [out["predicted_directions"]]
        assert out["runs"][0]["share_near_predicted"] > 0.98
        gaps.append(16 - cost)
    assert 0 < gaps[1] < gaps[0] / 5  # -> N^2 = 16, linearly in lambda


def test_command_line_json_and_bad_input(capsys, tmp_path):
    assert main(["l2-sparsity", "--p", "4", "--h", "24", "--lam", "0.01", "--seeds", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("cost_over_lambda", "predicted_cost_over_lambda", "directions", "bound", "loss"):
        assert key in out
    assert out["bound"] == 20 and out["predicted_directions"] == 4
    for argv, message in ((["--p", "5"], "even"), (["--example", "stripe"], "needs --p"),
                          (["--example", "tight", "--data", str(tmp_path / "x.npz")], "not both"),
                          (["--data", str(tmp_path / "missing.npz")], "no such file"),
                          (["--p", "4", "--lam", "nan"], "finite")):
        args = ["l2-sparsity", "--h", "4", "--lam", "0.1", *argv]
        assert main(args) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_claim_fails_when_its_prediction_is_perturbed(tmp_path):
    ctx = C.Context(quick=True, device="cpu", report_dir=tmp_path / "r")
    Rn.names()
    ctx.perturb = {"l2-sparsity": 0.01}
    bad = Rn.run_claims(["l2-sparsity"], ctx)[0]
    assert bad.verdict == "refuted", bad.summary
    assert (ctx.report_dir / "l2-sparsity.png").stat().st_size > 1000
