"""The layering of notes/architecture.md, checked on the source by ast: no import cycle, no upward
import, no private name imported across modules. The checker is tested on a small package that
breaks each rule, so that a green run means something."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# import name -> source folder (pyproject.toml installs the top-level folders inside lazyrich)
FOLDERS = {"lazyrich": "lazyrich", "lazyrich.theory": "theory", "lazyrich.numerics": "numerics",
           "lazyrich.validation": "validation"}
# bottom up: a module may import its own layer and the layers below it
LAYERS = (("lazyrich.theory",), ("lazyrich.numerics",), ("lazyrich.sweep", "lazyrich.studies", "lazyrich.bench"),
          ("lazyrich.validation",), ("lazyrich.cli", "lazyrich.__main__"))


def modules(root: Path, folders: dict) -> dict[str, Path]:
    """Every module of the package: import name -> file."""
    out = {}
    for package, folder in folders.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if not any(name == p or name.startswith(p + ".") for p in folders if p != package and p.startswith(package)):
                out[name] = path
    return out


def layer(name: str) -> int:
    if name == "lazyrich":
        return -1  # the package root: its version and search path, below everything
    for level, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"module {name} belongs to no layer of notes/architecture.md")


def imports(mods: dict[str, Path]):
    """(module, imported module, imported name or None) for every import inside the package."""
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in mods:
                        yield name, full, None
                    elif target in mods:
                        yield name, target, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods:
                        yield name, alias.name, None


def problems(root: Path, folders: dict = FOLDERS) -> list[str]:
    mods = modules(root, folders)
    graph = {m: set() for m in mods}
    found = []
    for src, dst, symbol in imports(mods):
        if src != dst:
            graph[src].add(dst)
        if layer(dst) > layer(src):
            found.append(f"upward import: {src} -> {dst}")
        if symbol and symbol.startswith("_") and not symbol.startswith("__"):
            found.append(f"private import: {src} imports {symbol} from {dst}")
    found += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return found


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_keeps_its_layers():
    assert problems(ROOT) == []


def test_the_checker_finds_each_kind_of_problem(tmp_path):
    files = {
        "lazyrich/__init__.py": "",
        "lazyrich/cli/__init__.py": "from ..validation import claim\n",
        "lazyrich/sweep/__init__.py": "",
        "theory/__init__.py": "",
        "theory/a.py": "from . import b\n",
        "theory/b.py": "from .a import _hidden\n",  # a cycle a <-> b, and a private name across modules
        "numerics/__init__.py": "",
        "numerics/tool.py": "from ..sweep import run\n",  # numerics above itself: upward
        "validation/__init__.py": "",
        "validation/claim.py": "import lazyrich.theory.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = problems(tmp_path)
    assert "upward import: lazyrich.numerics.tool -> lazyrich.sweep" in found
    assert "private import: lazyrich.theory.b imports _hidden from lazyrich.theory.a" in found
    assert "import cycle: lazyrich.theory.a -> lazyrich.theory.b" in found
    assert len(found) == 3  # cli -> validation and validation -> theory go down: allowed


def test_the_command_line_starts_without_the_heavy_libraries():
    """``lazyrich --help`` must stay cheap: torch, sympy, pandas, matplotlib and dask are imported
    only by the commands that use them."""
    code = ("import sys\nfrom lazyrich.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'sympy', 'pandas', 'matplotlib', 'dask', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
