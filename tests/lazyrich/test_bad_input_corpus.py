"""The bad-input corpus (issue 15): every command, every class of bad input. Each case must exit 2 with
exactly one line on stderr that names the problem, no traceback, and nothing written."""
import subprocess
import sys

import numpy as np
import pytest

from lazyrich.cli import main

FS = "--sign-b 1 --sign-beta 1"
SIM = "simulate --h 4 --t-max 1 --max-steps 20"
LC = "learning-curve --data stripe --d 3 --p 16,32 --seeds 0:2 --methods knn"
AC = "attractor-count --data stripe --d 2 --p 8 --h 4 --seeds 0:1"
L2 = "l2-sparsity --h 4 --lam 0.1 --seeds 0"

CASES = [
    # ---- corrupt or wrong input files, in every reader
    ("data file --input {empty} --out o.npz", "is empty"),
    ("data file --input {trunc} --out o.npz", "not a readable .npz"),
    ("data file --input {text} --out o.npz", "not a numpy file"),
    ("data file --input {missing} --out o.npz", "no such file"),
    ("data file --input {adir} --out o.npz", "is a directory"),
    ("data file --input {nokeys} --out o.npz", "lacks the array"),
    ("data file --input {nanX} --out o.npz", "NaN"),
    ("data file --input {badlabels} --out o.npz", "labels"),
    ("data file --input {g} --labels {missing} --out o.npz", "no such file"),
    (f"{SIM} --data {{empty}}", "is empty"),
    (f"{SIM} --data {{trunc}}", "not a readable .npz"),
    (f"{SIM} --data {{text}}", "not a numpy file"),
    (f"{SIM} --data {{missing}}", "no such file"),
    (f"{SIM} --data {{nanX}}", "NaN"),
    (f"{SIM} --data {{huge}}", "rescale the data"),
    (f"{SIM} --data {{tiny}}", "rescale the data"),
    (f"{SIM} --data {{good}} --test {{trunc}}", "not a readable .npz"),
    (f"fixed-points {{empty}} {FS}", "is empty"),
    (f"fixed-points {{trunc}} {FS}", "not a readable .npz"),
    (f"fixed-points {{text}} {FS}", "not a numpy file"),
    (f"fixed-points {{huge}} {FS}", "rescale the data"),
    (f"fixed-points {{huge155}} {FS}", "rescale the data"),
    (f"fixed-points {{tiny}} {FS}", "rescale the data"),
    (f"fixed-points {{tiny160}} {FS}", "rescale the data"),
    (f"fixed-points {{good}} {FS} --g {{arr}}", "is an .npz archive"),
    (f"fixed-points {{good}} {FS} --g {{trunc}}", "not a readable array"),
    (f"fixed-points {{good}} {FS} --g {{gshort}}", "expected an array of shape"),
    (f"fixed-points {{good}} {FS} --g {{gnan}}", "NaN"),
    (f"fixed-points {{good}} {FS} --g {{missing}}", "no such file"),
    (f"continuation {{empty}} {FS} --point 0 --to 1,2", "is empty"),
    (f"continuation {{trunc}} {FS} --point 0 --to 1,2", "not a readable .npz"),
    (f"continuation {{good}} {FS} --g {{arr}} --point 0 --to 1,2", "is an .npz archive"),
    (f"continuation {{good}} {FS} --g-to {{gshort}}", "expected an array of shape"),
    ("ntk {empty} --analytic", "is empty"),
    ("ntk {trunc} --analytic", "not a readable .npz"),
    ("ntk {text} --analytic", "not a numpy file"),
    ("ntk {huge} --analytic", "rescale the data"),
    ("ntk {good} --result {adir} --network 0", "no finished simulation"),
    ("ntk {good} --result {fakerun} --network 0", "not a readable .npz"),
    ("kpca {empty} --analytic", "is empty"),
    ("kpca {trunc} --analytic", "not a readable .npz"),
    ("kpca {good} --kernel {arr}", "is an .npz archive"),
    ("kpca {good} --kernel {g}", "expected an array of shape"),
    ("kpca {good} --kernel {trunc}", "not a readable array"),
    ("kpca {one} --analytic", "at least 2 points"),
    ("l2-sparsity --data {trunc} --h 4 --lam 0.1", "not a readable .npz"),
    ("l2-sparsity --data {missing} --h 4 --lam 0.1", "no such file"),
    ("sweep {binary} --store s", "not a text file"),
    ("sweep {adir} --store s", "is a directory"),
    ("sweep {missing} --store s", "no sweep specification"),
    ("sweep {badtoml} --store s", "not valid TOML"),
    ("sweep {missingdata} --store s", "no such file"),
    ("sweep {nanalpha} --store s", "alpha must be finite"),
    ("sweep {dparstripe} --store s", "d_par only applies"),
    ("sweep {lcd0} --store s", "d must be a positive integer"),
    ("sweep {ach0} --store s", "h must be a positive integer"),
    ("sweep {unknownkind} --store s", "kind"),
    ("results {missing}", "no results store"),
    ("results {afile}", "is a file"),
    # ---- output paths, in every writer
    ("data stripe --p 8 --d 2 --out {adir}", "is a directory"),
    ("data stripe --p 8 --d 2 --out {afile}/x.npz", "which is a file"),
    ("data stripe --p 8 --d 2 --out {afile}/a/b/x.npz", "which is a file"),
    (f"{SIM} --data stripe --p 8 --d 2 --out {{afile}}", "is a file"),
    (f"{SIM} --data stripe --p 8 --d 2 --out {{afile}}/run", "which is a file"),
    ("ntk {good} --analytic --out {adir}", "is a directory"),
    ("ntk {good} --analytic --out {afile}/K.npy", "which is a file"),
    ("kpca {good} --analytic --png {adir}", "is a directory"),
    ("docs --out {adir}", "is a directory"),
    ("docs --out {afile}/d.md", "which is a file"),
    ("validate z-velocity --quick --report {afile}", "is a file"),
    ("validate z-velocity --quick --report {afile}/r", "which is a file"),
    ("validate z-velocity --quick --notes {afile}", "is a file"),
    ("sweep {spec} --store {afile}", "is a file"),
    ("sweep {spec} --store {afile}/s", "which is a file"),
    (f"{LC} --out {{afile}}", "is a file"),
    (f"{LC} --png {{adir}}", "is a directory"),
    (f"{AC} --store {{afile}}", "is a file"),
    (f"{AC} --png {{adir}}", "is a directory"),
    (f"fixed-points {{good}} {FS} --png {{adir}}", "is a directory"),
    ("single-neuron --sxx 1,0;0,1 --sxy 1,1 --beta0 0.1,0.1 --delta 0 --png {adir}", "is a directory"),
    # ---- bad names and sizes
    ("ntk {good} --analytic --device tpu", "unknown device"),
    ("validate z-velocity --quick --device tpu", "unknown device"),
    ("bench ntk --device tpu", "unknown device"),
    (f"{SIM} --data stripe --device tpu", "'tpu'"),
    (f"fixed-points {{good}} {FS} --digits -5", "--digits"),
    (f"fixed-points {{good}} {FS} --digits 3", "--digits"),
    (f"fixed-points {{good}} --sign-b 2 --sign-beta 1", "--sign-b"),
    (f"fixed-points {{good}} --sign-b 1 --sign-beta 0", "--sign-beta"),
    (f"fixed-points {{good}} {FS} --basins -3", "--basins"),
    (f"continuation {{good}} {FS} --point 99 --to 1,2", "--point"),
    (f"continuation {{good}} {FS}", "--point"),
    ("demo --h 0", "--h"),
    ("derive jacobian --d 100000", "--d"),
    ("derive jacobian --d 0", "--d"),
    ("derive no-such-object", "invalid choice"),
    ("derive jacobian --loss foo", "loss"),
    ("data stripe --p -3 --d 2 --out o.npz", "--p"),
    ("data stripe --p 8 --d 0 --out o.npz", "--d"),
    ("data cylinder --p 8 --d 2 --d-par 5 --out o.npz", "d_par"),
    ("data stripe --p 8 --d 2 --seed -1 --out o.npz", "--seed"),
    ("data stripe --p 8 --d 2 --out o.txt", ".npz"),
    ("kpca {good} --analytic --top 0", "--top"),
    ("kpca {good} --analytic --top -3", "--top"),
    ("kpca {good} --analytic --mi -1", "--mi"),
    ("ntk {good} --width 0", "--width"),
    # ---- settings that make results meaningless
    (f"{SIM} --data stripe --p 8 --d 2 --max-wall 0", "--max-wall"),
    (f"{SIM} --data stripe --p 8 --d 2 --max-wall -1", "--max-wall"),
    (f"{SIM} --data stripe --p 8 --d 2 --max-wall nan", "--max-wall"),
    (f"{SIM} --data stripe --p 8 --d 2 --alpha 0", "alpha"),
    (f"{SIM} --data stripe --p 8 --d 2 --alpha nan", "--alpha"),
    (f"{SIM} --data stripe --p 8 --d 2 --alpha -1", "alpha"),
    (f"{SIM} --data stripe --p 8 --d 2 --alpha 1e-300", "alpha"),
    (f"{SIM} --data stripe --p 8 --d 2 --loss foo", "loss"),
    (f"{SIM} --data stripe --p 8 --d 2 --d-par 1", "d_par"),
    (f"{SIM} --data stripe --p 8 --d 2 --test {{good}}", "test_file"),
    (f"{SIM} --data stripe --p 8 --d 2 --track-neurons -5", "--track-neurons"),
    (f"{SIM} --data stripe --p 8 --d 2 --seeds -1:1", "--seeds"),
    (f"{SIM} --data stripe --p 8 --d 2 --seeds 3:3", "--seeds"),
    (f"{SIM} --data stripe --p 8 --d 2 --seeds x", "--seeds"),
    (f"{SIM} --data stripe --p 0 --d 2", "--p"),
    (f"{SIM} --data stripe --p 8 --d 2 --h 0", "h must be"),
    (f"{SIM} --data stripe --p 8 --d 2 --t-max 0", "t_max"),
    (f"{SIM} --data {{good}} --p 999", "holds"),
    (f"{LC} --max-wall -1", "--max-wall"),
    ("learning-curve --data stripe --d 3 --p 16.7 --seeds 0:2 --methods knn", "--p"),
    ("learning-curve --data stripe --d 0 --p 16,32 --seeds 0:2 --methods knn", "d must be"),
    (f"{LC} --alpha-feature -1", "alpha"),
    (f"{LC} --loss foo", "loss"),
    (f"{LC} --t-max 0", "t_max"),
    ("learning-curve --data stripe --d 3 --p 16,32 --seeds 0:2 --methods nope", "method"),
    ("attractor-count --data stripe --d 0 --p 8 --h 4 --seeds 0:1", "--d"),
    ("attractor-count --data stripe --d 2 --p 8 --h 0 --seeds 0:1", "--h"),
    ("single-neuron --sxx 1,2 --sxy 1 --beta0 1 --delta 0", "Sigma_xx"),
    ("single-neuron --sxx 1,0;0,1 --sxy 1,nan --beta0 0.1,0.1 --delta 0", "must be finite"),
    ("single-neuron --sxx 1,0;0,1 --sxy 1,1 --beta0 0.1,0.1 --delta 0 --eta-w 0", "eta"),
    ("one-step --d 1", "d must be"),
    ("one-step --eta 0", "eta must be"),
    ("one-step --noise -0.5", "noise must be"),
    ("one-step --seeds 3:3", "selects no seed"),
    (f"{L2} --p 5", "even"),
    (f"{L2} --example stripe", "needs --p"),
    (f"{L2} --p 4 --lam nan", "--lam"),
    (f"{L2} --p 4 --lam -1", "--lam"),
    (f"{L2} --p 4 --h 0", "--h"),
    (f"{L2} --example tight --data {{good}}", "not both"),
    ("validate no-such-claim --quick", "claim"),
    ("bench no-such-bench", "unknown benchmark"),
    ("results {store} --where 'nonsense +'", "--where"),
    ("results {store} --columns nope", "--columns"),
    ("results {store} --sweep nope", "no sweep named"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from lazyrich.sweep import sweep

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    np.savez(d / "good.npz", X=X, y=y)
    (d / "empty.npz").write_bytes(b"")
    (d / "trunc.npz").write_bytes((d / "good.npz").read_bytes()[:300])
    (d / "text.npz").write_text("hello, I am text\n")
    np.savez(d / "nokeys.npz", a=X)
    np.savez(d / "nanX.npz", X=np.where(X > 1, np.nan, X), y=y)
    np.savez(d / "badlabels.npz", X=X, y=np.arange(20.0))
    for name, s in (("huge", 1e300), ("huge155", 1e155), ("tiny", 1e-300), ("tiny160", 1e-160)):
        np.savez(d / f"{name}.npz", X=X * s, y=y)
    np.savez(d / "one.npz", X=X[:1], y=y[:1])
    np.savez(d / "arr.npz", a=np.ones(3))
    np.save(d / "g.npy", np.ones(20))
    np.save(d / "gshort.npy", np.ones(5))
    np.save(d / "gnan.npy", np.full(20, np.nan))
    (d / "afile").write_text("x")
    (d / "adir").mkdir()
    (d / "fakerun").mkdir()
    (d / "fakerun" / "result.json").write_text('{"config": {"data": "stripe"}, "networks": []}')
    (d / "fakerun" / "results.npz").write_bytes(b"PK\x03\x04 truncated")
    (d / "binary.toml").write_bytes(bytes(range(256)))
    (d / "badtoml.toml").write_text("name = [unclosed\n")
    spec = ('name = "s"\n[[job]]\nkind = "{kind}"\nfixed = {{{fixed}}}\n')
    for name, kind, fixed in (("spec", "kernel", 'model = "stripe", p = 20, d = 2'),
                              ("missingdata", "simulate", f'data = "{d}/missing.npz", h = 4'),
                              ("nanalpha", "simulate", 'data = "stripe", p = 8, d = 2, h = 4, alpha = nan'),
                              ("dparstripe", "simulate", 'data = "stripe", p = 8, d = 2, h = 4, d_par = 5'),
                              ("lcd0", "learning-curve", 'd = 0, method = "knn"'),
                              ("ach0", "attractor-count", "p = 8, d = 2, h = 0"),
                              ("unknownkind", "nope", "p = 8")):
        (d / f"{name}.toml").write_text(spec.format(kind=kind, fixed=fixed))
    sweep(str(d / "spec.toml"), d / "store", workers=1, progress=False)
    return d


def _argv(text, files):
    import shlex

    names = {p.stem: str(p) for p in files.iterdir()}
    names.update(missing=str(files / "missing.npz"), spec=str(files / "spec.toml"))
    return shlex.split(text.format(**names))


def _listing(root):
    # SQLite's own shared-memory and log files of a store opened for reading are not lazyrich's outputs
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(("-shm", "-wal")))


@pytest.mark.parametrize("text,message", CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(files, tmp_path, monkeypatch, capsys, text, message):
    monkeypatch.chdir(tmp_path)
    before = _listing(files)
    code = main(_argv(text, files))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(err) == 1, err
    assert message in err[0], err[0]
    assert "Traceback" not in err[0]
    assert _listing(tmp_path) == [] and _listing(files) == before  # nothing written


def test_corpus_size():
    assert len(CASES) >= 120


@pytest.mark.parametrize("text,code", [("data file --input {trunc} --out o.npz", 2), ("results {store} --check", 0),
                                       ("derive jacobian --d 100000", 2), ("sweep {binary} --store s", 2)])
def test_exit_codes_end_to_end(files, tmp_path, text, code):
    out = subprocess.run([sys.executable, "-m", "lazyrich", *_argv(text, files)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == code, out.stderr
    if code == 2:
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
