"""The learning-curve study: the power-law fit, resumable curves in a store, networks among the methods."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lazyrich.numerics.kernels.learning_cells import LearningCurveConfig, LearningCurveError

from lazyrich.studies.learning_curves import fit_power_law, learning_curve


@settings(max_examples=10, deadline=None)
@given(beta=st.floats(0.2, 2.0), seed=st.integers(0, 1000))
def test_power_law_fit_recovers_the_exponent(beta, seed):
    rng = np.random.default_rng(seed)
    ps = np.repeat([50, 100, 200, 400, 800], 6)
    err = 0.8 * ps ** -beta * np.exp(0.05 * rng.standard_normal(ps.size))
    fit = fit_power_law(ps, err, bootstrap=300, rng_seed=seed)
    assert abs(fit["beta"] - beta) < 0.05
    assert fit["beta_ci"][0] <= fit["beta"] <= fit["beta_ci"][1]
    # a size with zero error cannot enter the log fit: it is left out and said so
    fit0 = fit_power_law(np.append(ps, [1600] * 3), np.append(err, [0.0] * 3), bootstrap=50)
    assert fit0["excluded_p"] == [1600.0]


def test_learning_curve_resumes_without_losing_or_repeating(tmp_path):
    from lazyrich.sweep import Store

    cfg = LearningCurveConfig(d=3, ps=(16, 32), ptest=200, seeds=(0, 1), methods=("knn", "svc-ntk"), bootstrap=50)
    full = learning_curve(cfg, out=tmp_path, progress=False)
    with Store(tmp_path) as st:
        rows = st.rows()
        assert len(rows) == 8 and all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
        lost = rows[5]["key"]
        st.db.execute("DELETE FROM runs WHERE key = ?", (lost,))  # as if killed before this run finished
    again = learning_curve(cfg, out=tmp_path, progress=False)
    assert [r["test_error"] for r in again["records"]] == [r["test_error"] for r in full["records"]]
    with Store(tmp_path) as st:
        rows = st.rows()
    assert len(rows) == 8 and all(r["attempts"] == 1 for r in rows)  # only the lost run was computed again
    assert rows[-1]["key"] == lost
    # other settings are other runs, in the same store
    other = learning_curve(LearningCurveConfig(d=4, ps=(16,), ptest=200, seeds=(0,), methods=("knn",),
                                               bootstrap=10), out=tmp_path, progress=False)
    assert len(other["records"]) == 1
    with Store(tmp_path) as st:
        assert len(st.rows()) == 9
    with pytest.raises(LearningCurveError, match="unknown method"):
        learning_curve(LearningCurveConfig(methods=("rbf",)), progress=False)


def test_learning_curve_with_networks():
    cfg = LearningCurveConfig(d=3, ps=(16,), ptest=100, seeds=(0,), methods=("lazy", "feature", "kernel-ntk", "svc-final"), h=32,
                              alpha_feature=0.1, t_max=1.0, max_wall=None, bootstrap=10)
    rows = {r["method"]: r for r in learning_curve(cfg, progress=False)["records"]}
    assert rows["lazy"]["rel_change_omega"] < rows["feature"]["rel_change_omega"]
    assert all(0 <= r["test_error"] <= 1 for r in rows.values()) and set(rows) == set(cfg.methods)
    assert rows["svc-final"]["train_error"] == 0  # the end-of-training kernel separates its training set
