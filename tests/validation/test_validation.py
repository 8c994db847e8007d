"""The validation framework: verdicts, exit codes, reports, and identities that can fail."""
import json

import pytest
from lazyrich.validation import claim as C
from lazyrich.validation import runner as Rn

from lazyrich.cli import main


@pytest.fixture
def ctx(tmp_path):
    return C.Context(quick=True, device="cpu", report_dir=tmp_path / "report")


@pytest.mark.parametrize("name", ["z-velocity", "ntk-init", "lazy-limit", "single-neuron-exact", "implicit-bias",
                                  "attractor-reduction"])
def test_identity_is_confirmed_and_fails_when_its_prediction_is_perturbed(name, ctx):
    """Each identity passes as built, and fails when its prediction is off by a few percent."""
    Rn.names()
    good = Rn.run_claims([name], ctx)[0]
    assert good.verdict == "confirmed" and good.passed, good.summary
    ctx.perturb = {name: 0.05}
    bad = Rn.run_claims([name], ctx)[0]
    assert bad.verdict == "refuted" and not bad.passed, bad.summary
    asset = ctx.report_dir / f"{name}.png"
    assert asset.exists() and asset.stat().st_size > 1000


def test_verdict_helpers():
    assert C.verdict_within(1.05, 1.0, 0.1) == "confirmed"
    assert C.verdict_within(float("nan"), 1.0, 0.1) == "refuted"
    assert C.verdict_interval(0.2, 0.5, 0.1) == "confirmed"
    assert C.verdict_interval(-0.5, -0.2, 0.1) == "refuted"
    assert C.verdict_interval(0.0, 0.5, 0.1) == "inconclusive"
    assert C.verdict_interval(0.0, 0.05, 0.1, above=False) == "confirmed"
    assert C.verdict_interval(None, 0.5, 0.1) == "inconclusive"
    with pytest.raises(ValueError, match="verdict"):
        C.Outcome("maybe", 1, 1, 0)


@pytest.fixture
def fake_claims():
    """Three throwaway claims: a refuted empirical one, a crashing one and a confirmed identity."""
    added = []

    def add(name, kind, fn):
        C.claim(name, kind, f"test claim {name}")(fn)
        added.append(name)

    Rn.names()
    add("t-refuted", "empirical", lambda ctx: C.Outcome("refuted", 0.1, 0.5, 0.1, summary="refuted on purpose"))
    add("t-crash", "empirical", lambda ctx: 1 / 0)
    add("t-identity", "identity", lambda ctx: C.Outcome("confirmed", 1.0, 1.0, 1e-9, details={"x": float("nan")}))
    yield
    for name in added:
        C.REGISTRY.pop(name)


def test_exit_codes_and_report(fake_claims, tmp_path, capsys):
    report = tmp_path / "r"
    # a refuted empirical claim was evaluated: passed, exit 0, unless --strict
    assert main(["validate", "t-refuted", "t-identity", "--report", str(report), "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in out["claims"]] == ["t-refuted", "t-identity"]
    assert set(out["claims"][0]) == {"name", "kind", "verdict", "passed", "measured", "predicted", "tolerance",
                                     "figure", "trained"}
    assert out["trained"] is None  # these claims train no network
    assert out["claims"][0]["passed"] is True and out["claims"][0]["verdict"] == "refuted"
    assert main(["validate", "t-refuted", "--strict", "--report", str(report), "--json"]) == 1
    capsys.readouterr()
    # a claim that crashes could not be evaluated: not passed, exit 1, the others still run
    assert main(["validate", "t-crash", "t-identity", "--report", str(report), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["claims"][0]["passed"] is False and out["claims"][1]["passed"] is True
    results = json.loads((report / "results.json").read_text())
    assert "ZeroDivisionError" in results["claims"][0]["error"]
    assert results["claims"][1]["details"]["x"] is None  # NaN is not JSON: written as null
    assert "t-crash" in (report / "report.md").read_text() and (report / "report.html").read_text().startswith(
        "<!doctype html>")
    assert main(["validate", "no-such-claim", "--report", str(report)]) == 2
    assert "unknown claim" in capsys.readouterr().err


def test_converged_networks_are_counted_per_claim_and_in_all(fake_claims, tmp_path, capsys):
    """Claims that read their numbers off trained networks say how many reached the end of training
    (SimulationResult.converged per network); the report, results.json and the command's JSON and text give each
    claim's count and the total, and name the networks that did not converge."""
    rows = [{"seed": 0, "alpha": 0.1, "stop_reason": "margins", "t": 3.0, "converged": True},
            {"seed": 1, "alpha": 0.1, "stop_reason": "time", "t": 20.0, "converged": False, "min_margin": 0.42},
            {"seed": 2, "alpha": 1e3, "stop_reason": "margins", "t": 9.0}]  # stored before converged was recorded
    part = C.Trained.of(rows, "p = 64, ")
    assert (part.networks, part.converged) == (3, 1) and abs(part.fraction - 1 / 3) < 1e-15
    assert part.not_converged == ["p = 64, alpha = 0.1, seed 1: time at t = 20, min margin 0.42",
                                  "p = 64, alpha = 1000, seed 2: margins at t = 9"]
    C.claim("t-trained", "empirical", "trains")(lambda ctx: C.Outcome("confirmed", 1, 1, 0, trained=part))
    C.claim("t-trained2", "empirical", "trains")(
        lambda ctx: C.Outcome("confirmed", 1, 1, 0, trained=C.Trained.of(rows[:1])))
    try:
        report = tmp_path / "r"
        assert main(["validate", "t-trained", "t-trained2", "t-identity", "--report", str(report), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["trained"] == {"networks": 4, "converged": 2, "not_converged": part.not_converged, "fraction": 0.5}
        assert out["claims"][0]["trained"]["converged"] == 1 and out["claims"][2]["trained"] is None
        assert json.loads((report / "results.json").read_text())["trained"]["fraction"] == 0.5
        text = (report / "report.md").read_text()
        assert "2 of 4 (50%)" in text and "| 1/3 |" in text and "seed 1: time at t = 20" in text
        assert main(["validate", "t-trained", "--report", str(report)]) == 0
        assert "end of training (every margin >= 1 - 1e-9, or the loss stop): 1 of 3 (33%)" in capsys.readouterr().out
    finally:
        C.REGISTRY.pop("t-trained"), C.REGISTRY.pop("t-trained2")


def test_list_and_notes(fake_claims, tmp_path, capsys):
    assert main(["validate", "--list", "--json"]) == 0
    listed = {c["name"]: c["kind"] for c in json.loads(capsys.readouterr().out)["claims"]}
    assert listed["z-velocity"] == "identity" and listed["t-refuted"] == "empirical"
    assert main(["validate", "t-identity", "--report", str(tmp_path / "r"), "--notes", str(tmp_path / "notes")]) == 0
    assert "t-identity" in (tmp_path / "notes" / "validation.md").read_text()


def test_attractor_distances_are_measured_to_the_own_class():
    """A neuron sitting on a predicted stable equilibrium is at distance 0; of another class, it is not."""
    import numpy as np
    from lazyrich.numerics.data import make
    from lazyrich.validation.claims.attractors import _distances, _stable_by_class

    ds = make("sphere", 12, 2, seed=3)
    stable = _stable_by_class(ds.X, ds.y)
    (sb, sbeta), E = next((k, v) for k, v in stable.items() if len(v))
    z = np.vstack([E[:1], E[:1] + 0.5, [[np.nan, np.nan]]])
    d = _distances(z, np.array([sb, sb, sb]), np.array([sbeta, sbeta, sbeta]), stable, scale=1.0)
    assert d[0] == 0 and d[1] > 0 and d[2] == np.inf
    other = [k for k in stable if k != (sb, sbeta) and all(np.linalg.norm(stable[k] - E[0], axis=1) > 1e-9)]
    if other:
        d2 = _distances(z[:1], np.array([other[0][0]]), np.array([other[0][1]]), stable, scale=1.0)
        assert d2[0] > 0
