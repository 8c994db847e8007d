"""One gradient step from the command line and as a claim that can fail."""
import json

import pytest

from lazyrich.cli import main
from lazyrich.validation import claim as C
from lazyrich.validation import runner as Rn


def test_command_json_keys(capsys):
    assert main(["one-step", "--d", "40", "--p", "80", "--h", "40", "--ptest", "200", "--seeds", "0:2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("spike_cosine", "predicted_cosine", "singular_ratio", "risk_random_features", "risk_after_step",
                "risk_linear"):
        assert key in out
    assert set(out["spike_cosine"]) == {"mean", "ci"} and 0 <= out["spike_cosine"]["mean"] <= 1
    assert out["risk_linear"] == pytest.approx(0.25 - 1 / (2 * 3.141592653589793))


@pytest.mark.parametrize("argv, message", [
    (["--d", "1"], "d must be an integer >= 2"),
    (["--eta", "-1"], "eta must be finite and positive"),
    (["--eta", "nan"], "eta must be finite and positive"),
    (["--noise", "-0.5"], "noise must be finite"),
    (["--d", "100000", "--h", "100000"], "too large"),
    (["--seeds", "3:3"], "selects no seed"),
])
def test_bad_settings_get_one_line_and_exit_2(capsys, argv, message):
    assert main(["one-step", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_spike_identity_fails_when_its_prediction_is_perturbed(tmp_path):
    ctx = C.Context(quick=True, device="cpu", report_dir=tmp_path / "r")
    Rn.names()
    good = Rn.run_claims(["one-step-spike"], ctx)[0]
    assert good.verdict == "confirmed", good.summary
    ctx.perturb = {"one-step-spike": 0.1}
    bad = Rn.run_claims(["one-step-spike"], ctx)[0]
    assert bad.verdict == "refuted", bad.summary
    assert (ctx.report_dir / "one-step-spike.png").stat().st_size > 1000
