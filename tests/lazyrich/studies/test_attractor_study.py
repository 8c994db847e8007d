"""The attractor-count study: the exponent fit, the verdict on A ~ p sqrt(h), the resumable table, the CLI."""
import json

import numpy as np
import pytest
from lazyrich.numerics.data import make
from lazyrich.numerics.fixed_points.attractor_count import attractor_counts, reached
from lazyrich.validation.claims.attractors import count_verdict

from lazyrich.cli import main
from lazyrich.studies.attractor_count import count_table, fit_exponents, fits


@pytest.fixture(scope="module")
def small():
    ds = make("sphere", 14, 2, 3)
    return reached(ds.X, ds.y, 48, seed=3)


def _synthetic(a, b, seeds=8, noise=0.05, per_seed=0.2):
    """A = 2 p^a h^b with a factor per seed (which leaves the exponents exact) and noise per row."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        offset = per_seed * rng.standard_normal()
        for p in (32, 64, 128, 256):
            for h in (16, 64, 256):
                A = 2.0 * p ** a * h ** b * np.exp(offset + noise * rng.standard_normal())
                rows.append({"p": p, "h": h, "seed": seed, "A": A, "stable": 10 * A, "d": 2, "model": "x"})
    return rows


@pytest.mark.parametrize("a,b", [(1.0, 0.5), (0.3, 0.8)])
def test_fit_recovers_known_exponents(a, b):
    exact = fit_exponents(_synthetic(a, b, noise=0.0), n_boot=200)
    assert abs(exact["a"] - a) < 1e-10 and abs(exact["b"] - b) < 1e-10
    assert exact["a_ci"][0] <= a + 1e-10 and exact["a_ci"][1] >= a - 1e-10
    fit = fit_exponents(_synthetic(a, b), n_boot=400)
    for name, true in (("a", a), ("b", b)):
        lo, hi = fit[f"{name}_ci"]
        assert abs(fit[name] - true) < 0.03 and lo < fit[name] < hi and 0.002 < hi - lo < 0.1
    assert fit["n_seeds"] == 8 and fit["rms_log_residual"] < 0.3


def test_verdict_and_bad_fits():
    good = count_verdict(fits(_synthetic(1.0, 0.5, noise=0.0)))
    assert "consistent with the claimed 1" in good and "NOT" not in good
    bad = count_verdict(fits(_synthetic(0.2, 0.2)))
    assert "NOT consistent" in bad
    with pytest.raises(ValueError, match="no row"):
        fit_exponents([{"p": 4, "h": 4, "seed": 0, "A": 0}])
    with pytest.raises(ValueError, match="single value"):
        fit_exponents([{"p": 4, "h": 4, "seed": s, "A": 2} for s in range(3)])


def test_cli_attractor_count(tmp_path, capsys):
    png = tmp_path / "a.png"
    assert main(["attractor-count", "--workers", "1", "--data", "stripe", "--d", "2", "--p", "10", "--h", "4,16",
                 "--seeds", "1", "--json", "--png", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 2 and {"fit_all", "fit_unsaturated", "fit_stable", "verdict"} <= set(out)
    assert out["fit_all"]["a"] is None and out["fit_all"]["b_ci"] == [None, None]  # one p, one seed
    assert all(r["A"] <= min(r["h"], r["stable"]) for r in out["rows"])
    assert png.stat().st_size > 5_000
    for argv, message in [(["--p", "0"], "positive"), (["--h", "a"], "integers"), (["--d-par", "2"], "cylinder")]:
        assert main(["attractor-count", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err


def test_count_table_is_a_resumable_sweep(small, tmp_path):
    from lazyrich.sweep import Store, results

    rows = count_table("sphere", 2, [14], [4, 16, 48], [3], store=tmp_path)
    # the run of (p, seed) integrates the largest h; smaller h are its first neurons
    assert [r["A"] for r in rows] == attractor_counts(small["label"], [4, 16, 48])
    assert rows[-1]["stable"] == small["stable"]
    with Store(tmp_path) as st:
        (before,) = st.rows()
    again = count_table("sphere", 2, [14], [4, 16, 48], [3], store=tmp_path)
    assert again == rows
    with Store(tmp_path) as st:
        (after,) = st.rows()
    assert after["finished"] == before["finished"] and after["attempts"] == 1  # read back, not recomputed
    df = results(tmp_path, kind="attractor-count")
    assert df.h.tolist() == [48] and df.A.tolist() == [rows[-1]["A"]]
