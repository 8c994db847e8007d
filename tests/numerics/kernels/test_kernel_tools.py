"""Kernel PCA, kernel machines, representations and the kernel command lines (ntk, kpca, learning-curve)."""
import json

import numpy as np
import pytest
from lazyrich.numerics.data import make
from lazyrich.numerics.kernels import kernel_machines as KM
from lazyrich.numerics.kernels.kernel_pca import kernel_pca
from lazyrich.numerics.kernels.representations import (
    plot_representation,
    preactivations,
    principal_components,
    twonn_dimension,
)
from lazyrich.numerics.ntk import analytic_kernel

from lazyrich.cli import main


def test_kernel_pca_label_weights():
    ds = make("stripe", 200, 4, seed=0)
    res = kernel_pca(analytic_kernel(ds.X), ds.y)
    assert np.all(np.diff(res.eigenvalues) <= 1e-12)
    assert abs(res.cumulative[-1] - 1) < 1e-10  # all components together carry the whole label
    assert np.allclose((res.components ** 2).mean(0), 1)
    # a kernel whose top eigenvector is the label carries it on rank 1, with high information
    # and the second, a direction independent of the label, carries none
    noise = np.random.default_rng(0).standard_normal(200)
    noise -= noise @ ds.y / 200 * ds.y
    spike = kernel_pca(np.outer(ds.y, ds.y) + 0.5 * np.outer(noise, noise) / 200 + 0.01 * np.eye(200), ds.y,
                       mi_components=2)
    assert spike.label_weight[0] > 0.999 and spike.rank_reaching(0.9) == 1
    assert spike.mutual_information[0] > 0.6 and spike.mutual_information[1] < 0.1


def test_centred_spectrum_matches_scikit_learn():
    from sklearn.decomposition import KernelPCA as SkKernelPCA

    ds = make("sphere", 150, 3, seed=1)
    Kg = analytic_kernel(ds.X).numpy()
    ours = kernel_pca(Kg, ds.y, top=10, center=True, mi_components=0)
    sk = SkKernelPCA(n_components=10, kernel="precomputed").fit(Kg)
    assert np.allclose(ours.eigenvalues * 150, sk.eigenvalues_, rtol=1e-8)


def test_kernel_pca_refuses_bad_input():
    with pytest.raises(KM.KernelMachineError, match="not symmetric"):
        kernel_pca(np.triu(np.ones((4, 4))), np.array([1, -1, 1, -1.0]))
    with pytest.raises(KM.KernelMachineError, match="shape"):
        kernel_pca(np.eye(3), np.array([1, -1, 1, -1.0]))
    with pytest.raises(KM.KernelMachineError, match="labels"):
        kernel_pca(np.eye(3), np.array([1, 0, 1.0]))


def test_kernel_machines():
    ds, test = make("stripe", 200, 3, seed=2), make("stripe", 500, 3, seed=3)
    Kt, Kx = analytic_kernel(ds.X), analytic_kernel(test.X, ds.X)
    svc = KM.classification_error(KM.svc_decision(Kt, ds.y, Kx), test.y)
    knn = KM.classification_error(KM.knn_predict(ds.X, ds.y, test.X), test.y)
    assert svc < 0.25 and knn < 0.35  # both learn the stripe (chance is 0.5)
    # separable by a linear kernel: the hard-margin SVC makes no training error
    X = np.random.default_rng(0).standard_normal((60, 2))
    y = np.sign(X[:, 0])
    assert KM.classification_error(KM.svc_decision(X @ X.T, y, X @ X.T), y) == 0
    flow = KM.kernel_gradient_flow(Kt, ds.y, [0.0, 1.0, 50.0], "mse", K_test=Kx)
    assert np.all(flow["F_train"][0] == 0) and flow["F_test"].shape == (3, 500)
    with pytest.raises(KM.KernelMachineError, match="NaN"):
        KM.kernel_gradient_flow(np.full((200, 200), np.nan), ds.y, [1.0])


def test_twonn_finds_the_dimension_of_a_flat_manifold():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((2000, 3)) @ rng.standard_normal((3, 12))  # 3-dimensional, embedded in 12
    assert abs(twonn_dimension(Z)["dimension"] - 3) < 0.35
    dup = np.vstack([Z[:50], Z[:50]])
    with pytest.raises(ValueError, match="distinct nearest neighbour"):
        twonn_dimension(dup)


def test_representations(tmp_path):
    ds = make("stripe", 100, 4, seed=0)
    omega, b = np.random.default_rng(1).standard_normal((20, 4)), np.zeros(20)
    U = preactivations(omega, b, ds.X)
    assert U.shape == (100, 20)
    scores, ratio = principal_components(U, 3)
    assert scores.shape == (100, 3) and ratio.sum() <= 1 + 1e-12 and ratio[0] >= ratio[1] >= ratio[2]
    assert (tmp_path / "pca.png").exists() is False
    plot_representation(U, ds.y, tmp_path / "pca.png")
    assert (tmp_path / "pca.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="omega"):
        preactivations(omega[:, :3], b, ds.X)


def test_ntk_kpca_and_learning_curve_cli(tmp_path, capsys):
    data = tmp_path / "s.npz"
    make("stripe", 80, 3, seed=0).save(data)
    assert main(["ntk", str(data), "--analytic", "--out", str(tmp_path / "K.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [80, 80] and out["min_eigenvalue"] > 0
    K = np.load(tmp_path / "K.npy")
    assert np.allclose(K, analytic_kernel(make("stripe", 80, 3, seed=0).X).numpy())
    assert main(["ntk", str(data), "--width", "64", "--seed", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["width"] == 64
    assert main(["kpca", str(data), "--kernel", str(tmp_path / "K.npy"), "--png", str(tmp_path / "k.png"),
                 "--json"]) == 0
    kp = json.loads(capsys.readouterr().out)
    assert abs(kp["cumulative"][-1] - 1) < 1e-10 and (tmp_path / "k.png").exists()
    assert main(["learning-curve", "--workers", "1", "--d", "3", "--p", "16,32", "--ptest", "100", "--seeds", "0:2",
                 "--methods", "knn,svc-ntk", "--bootstrap", "20", "--out", str(tmp_path / "lc"),
                 "--png", str(tmp_path / "lc.png"), "--json"]) == 0
    lc = json.loads(capsys.readouterr().out)
    assert set(lc["fits"]) == {"knn", "svc-ntk"} and len(lc["records"]) == 8
    assert main(["ntk", str(data)]) == 2
    assert "one of the arguments" in capsys.readouterr().err
    assert main(["ntk", str(data), "--width", "8", "--kind", "nngp"]) == 2
    assert main(["kpca", str(data), "--kernel", str(tmp_path / "K.npy"), "--top", "3"]) == 0


def test_ntk_of_a_trained_network_from_its_result(tmp_path, capsys):
    """--result: the lazy network's NTK barely moves, the feature network's does."""
    from lazyrich.numerics.simulate import SimulationConfig, simulate

    cfg = SimulationConfig(d=3, p=24, ptest=10, h=32, alphas=(1e3, 0.1), seeds=(0,), t_max=1.0, checkpoints=3,
                           loss="mse")
    res = simulate(cfg, out=tmp_path / "run", progress=False)
    data = tmp_path / "s.npz"
    make("stripe", 24, 3, seed=0).save(data)
    kernels = {}
    for e in (0, 1):
        for when in ([], ["--initial"]):
            assert main(["ntk", str(data), "--result", str(tmp_path / "run"), "--network", str(e), "--out",
                         str(tmp_path / f"K{e}{len(when)}.npy"), "--json"] + when) == 0
            capsys.readouterr()
            kernels[e, len(when)] = np.load(tmp_path / f"K{e}{len(when)}.npy")
    change = [np.abs(kernels[e, 0] - kernels[e, 1]).max() / np.abs(kernels[e, 1]).max() for e in (0, 1)]
    assert change[0] < 1e-3 < change[1]
    from lazyrich.numerics.network import init_params

    assert np.array_equal(res.params(0, final=False)[0], init_params(32, 3, seed=0).omega.numpy())
    assert not np.array_equal(res.params(1, final=True)[0], init_params(32, 3, seed=0).omega.numpy())
