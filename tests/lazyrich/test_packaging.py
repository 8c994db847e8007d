"""Build the wheel, install it into a fresh venv, and run the installed command from elsewhere."""
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_runs(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", ".hypothesis"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True)
    (wheel,) = wheels.glob("lazyrich-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "lazyrich" in tops and not tops & {"theory", "numerics", "validation", "tests"}, tops
    assert "lazyrich/theory/derivations.py" in names and "lazyrich/numerics/data/models.py" in names
    assert "lazyrich/sweep/store.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    # the dependencies (torch, sympy, ...) come from this interpreter's site-packages, not a download
    site = subprocess.run([str(bindir / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    assert not any(Path(site, name).exists() for name in ("theory", "numerics", "validation"))

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    res = subprocess.run([str(bindir / "lazyrich"), "--help"], capture_output=True, text=True, cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert "derive" in res.stdout and "data" in res.stdout
    res = subprocess.run([str(bindir / "lazyrich"), "derive", "fixed-point", "--format", "latex"],
                         capture_output=True, text=True, cwd=cwd)
    assert res.returncode == 0 and r"\mathbf{z}^{*}_{A}" in res.stdout, res.stderr
    res = subprocess.run([str(bindir / "python"), "-c", "import lazyrich.theory as t, lazyrich; "
                          "print(t.__file__); print(lazyrich.__path__)"], capture_output=True, text=True, cwd=cwd)
    assert res.returncode == 0 and str(site) in res.stdout and str(ROOT) not in res.stdout, res.stdout + res.stderr
