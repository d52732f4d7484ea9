"""The package's layout rules, read from every module's imports (ast), so a forbidden edge fails here.

    course_lib/          the students' shelf
      core/              shared by every part; imports nothing else of course_lib
      data layers training metrics quality          the foundation
      autoencoder vae diffusion unet ... latent     families, one concept each
      viz  widgets/      figures and widgets
      checks exercises/  exercise checks
      tooling/           the `course` command

Rules:
1. core imports only core.
2. The foundation imports core and the foundation.
3. A family imports core and the foundation, and another family only where it composes it (COMPOSES).
4. viz imports core and the foundation's data only: no family.
5. Widget topic modules never import each other (they share widgets/explorer).
6. Nothing outside tooling imports tooling; tooling imports only core among the shelf's modules... and
   the checks it grades with, lazily.
7. No import circles.
8. No module over MAX_LINES lines.
The one sanctioned upward lookup: `checks` finds the lesson modules of `exercises/` by name (it imports
the package and loads `exercises.lessonNN` with importlib), while every `exercises.lessonNN` imports
`checks` to register its cases.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import course_lib

PACKAGE = Path(course_lib.__file__).resolve().parent
MAX_LINES = 600

CORE = "core"
FOUNDATION = {"data", "layers", "training", "metrics", "quality"}
FAMILIES = {"autoencoder", "vae", "quantize", "gan", "flows", "diffusion", "unet", "latent", "guidance"}
COMPOSES = {  # family -> the families it may build on
    "latent": {"autoencoder", "vae", "quantize", "diffusion", "unet"},
    "guidance": {"diffusion", "unet"},
    "quantize": {"vae"},  # the categorical (dVAE) model sits on lesson 02's ConvEncoder/ConvDecoder, as lesson 03 compares them
}
PRESENTATION = {"viz", "widgets"}
CHECKS = {"checks", "exercises"}
TOOLING = "tooling"
SANCTIONED = {("checks", "exercises")}  # the upward lookup named in the docstring


def module_name(path: Path, package: Path) -> str:
    """'course_lib/widgets/latent.py' -> 'widgets.latent'; a package's __init__ is the package."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def group(name: str) -> str:
    """The layer a module belongs to: core, foundation, family, presentation, checks, tooling or root."""
    top = name.split(".")[0]
    if top == CORE:
        return "core"
    if top == TOOLING:
        return "tooling"
    if top in FOUNDATION:
        return "foundation"
    if top in FAMILIES:
        return "family"
    if top in PRESENTATION:
        return "presentation"
    if top in CHECKS:
        return "checks"
    if name == "__init__":
        return "root"
    raise AssertionError(f"course_lib/{name.replace('.', '/')}.py is in no layer: add it to tests/test_layout.py")


def imports(path: Path, package: Path) -> set[str]:
    """The course_lib modules a file imports (anywhere in it, lazy imports included), as module names."""
    here = module_name(path, package).split(".")
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name[len("course_lib."):] for a in node.names if a.name.startswith("course_lib.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join([p for p in base if p != "__init__"])
            elif node.module and (node.module == "course_lib" or node.module.startswith("course_lib.")):
                prefix = ""
                node_module = node.module[len("course_lib"):].lstrip(".")
                targets = [f"{node_module}.{a.name}" if node_module else a.name for a in node.names]
                targets += [node_module] if node_module else []
                found |= {t for t in targets if t}
                continue
            else:
                continue
            mod = ".".join(filter(None, [prefix, node.module or ""]))
            targets = [mod] if mod and node.module else []  # `from . import x` imports x, not the package it is in
            targets += [f"{mod}.{a.name}" if mod else a.name for a in node.names]
        found |= {t for t in targets if t}
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    resolved = set()
    for t in found:  # keep the longest prefix that is a module of the package
        parts = t.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in modules:
                resolved.add(".".join(parts[:k]))
                break
    return resolved - {module_name(path, package)}


def graph(package: Path) -> dict[str, set[str]]:
    return {module_name(p, package): imports(p, package) for p in sorted(package.rglob("*.py"))}


def violations(package: Path) -> list[str]:
    """Every broken rule of the module docstring, one line each."""
    edges = graph(package)
    bad = []
    for a, targets in edges.items():
        ga = group(a)
        for b in sorted(targets):
            gb, top_a, top_b = group(b), a.split(".")[0], b.split(".")[0]
            why = None
            if (top_a, top_b) in SANCTIONED:
                continue
            if gb == "tooling" and ga != "tooling":
                why = "nothing outside tooling imports tooling"
            elif ga == "core" and gb != "core":
                why = "core imports only core"
            elif ga == "foundation" and gb not in ("core", "foundation"):
                why = "the foundation imports only core and the foundation"
            elif ga == "family" and gb not in ("core", "foundation", "family"):
                why = "a family never imports viz, widgets, checks or tooling"
            elif ga == "family" and gb == "family" and top_a != top_b and top_b not in COMPOSES.get(top_a, set()):
                why = f"family {top_a} does not compose {top_b} (COMPOSES)"
            elif top_a == "viz" and gb not in ("core",) and b != "data":
                why = "viz imports no family"
            elif top_a == "widgets" and top_b == "widgets" and a.count(".") and b.count(".") \
                    and "explorer" not in (a.split(".")[1], b.split(".")[1]):
                why = "widget topic modules do not import each other"
            elif ga == "tooling" and gb not in ("tooling", "core", "checks", "root"):
                why = "tooling drives the course; it does not import the models"
            if why:
                bad.append(f"{a} -> {b}: {why}")
    bad += [f"import circle: {' -> '.join(c)}" for c in circles(edges)]
    for p in sorted(package.rglob("*.py")):
        n = len(p.read_text().splitlines())
        if n > MAX_LINES:
            bad.append(f"{p.relative_to(package)} has {n} lines (at most {MAX_LINES}: split it by concern)")
    return bad


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a closed path."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                out.append(sorted(comp) + [sorted(comp)[0]])

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# ----------------------------------------------------------------------------- the tests
def test_the_package_keeps_its_layout():
    assert violations(PACKAGE) == []


def test_every_module_has_a_layer_and_the_students_paths_exist():
    for name in graph(PACKAGE):
        group(name)
    for name in ("data", "layers", "training", "metrics", "quality", "autoencoder", "vae", "diffusion", "unet",
                 "viz", "widgets", "checks"):  # `from course_lib import X` in the notebooks
        assert (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file(), name


def test_the_reader_sees_relative_absolute_and_lazy_imports(tmp_path):
    pkg = tmp_path / "course_lib"
    (pkg / "widgets").mkdir(parents=True)
    for f in ("__init__.py", "viz.py", "diffusion.py", "widgets/__init__.py", "widgets/explorer.py"):
        (pkg / f).write_text("")
    (pkg / "widgets" / "latent.py").write_text(
        "from ..viz import show\nfrom . import explorer\nimport course_lib.diffusion\n"
        "def f():\n    from course_lib.widgets.explorer import Explorer\n")
    assert imports(pkg / "widgets" / "latent.py", pkg) == {"viz", "widgets.explorer", "diffusion"}


@pytest.mark.parametrize(
    "file, line, rule",
    [
        ("diffusion.py", "from .viz import show_images", "a family never imports viz"),
        ("vae.py", "from . import widgets", "a family never imports viz, widgets"),
        ("unet.py", "from .autoencoder import Autoencoder", "family unet does not compose autoencoder"),
        ("viz.py", "from .diffusion import GaussianDiffusion", "viz imports no family"),
        ("widgets/diffusion.py", "from .latent import MODES", "widget topic modules do not import each other"),
        ("training.py", "def f():\n    from .tooling import cli", "nothing outside tooling imports tooling"),
        ("core/devices.py", "from ..training import fit", "core imports only core"),
        ("metrics.py", "from .checks import check", "the foundation imports only core and the foundation"),
        ("data.py", "from .metrics import Report", "import circle"),
    ],
)
def test_a_forbidden_import_fails_the_layout(tmp_path, file, line, rule):
    copy = tmp_path / "course_lib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(copy) == []
    target = copy / file
    target.write_text(target.read_text() + "\n" + line + "\n")
    found = violations(copy)
    assert any(rule in v for v in found), found


def test_a_module_too_long_fails_the_layout(tmp_path):
    copy = tmp_path / "course_lib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "layers.py").write_text((copy / "layers.py").read_text() + "\n# filler\n" * MAX_LINES)
    assert any("layers.py has" in v for v in violations(copy))
