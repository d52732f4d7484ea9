"""pyproject.toml and environment.yml must name the same dependencies with the same constraints."""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    name, spec = m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")
    return CONDA_NAMES.get(name, name), ",".join(sorted(spec.split(","))) if spec else ""


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    return dict(_split(d) for d in deps if _split(d)[0] not in ("python", "pip"))


def test_environment_yml_matches_pyproject():
    assert _conda() == _pyproject()


def test_no_exact_pins_on_torch_or_numpy_and_colab_widgets():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = dict(_split(r) for r in project["dependencies"])
    for name in ("torch", "torchvision", "numpy"):
        assert "==" not in base[name], f"{name} must not be pinned exactly (Colab brings its own)"
    assert base["ipywidgets"] == "<9,>=7.7"  # Colab ships ipywidgets 7.7.1: the package itself must allow it


def test_every_install_with_jupyterlab_gets_ipywidgets_8():
    """JupyterLab 4 renders no widget with ipywidgets 7: each extra (and the conda environment) naming
    jupyterlab also requires ipywidgets 8, and the environment running these tests has it."""
    from importlib.metadata import PackageNotFoundError, version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {f"extra {name}": reqs for name, reqs in project["optional-dependencies"].items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    groups["environment.yml"] = [d for d in env["dependencies"] if isinstance(d, str)]
    with_lab = {name: dict(_split(r) for r in reqs) for name, reqs in groups.items()
                if "jupyterlab" in dict(_split(r) for r in reqs)}
    assert {"extra lab", "extra dev", "environment.yml"} <= set(with_lab)
    for name, deps in with_lab.items():
        assert deps.get("ipywidgets") == "<9,>=8.0", f"{name} brings JupyterLab 4 but not ipywidgets 8"
    try:
        version("jupyterlab")
    except PackageNotFoundError:
        return
    assert int(version("ipywidgets").split(".")[0]) >= 8, "JupyterLab is installed beside ipywidgets 7"


def test_python_version_and_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"]["course"] == "course_lib.tooling.cli:main"


def test_every_subpackage_of_course_lib_is_packaged():
    """A wheel (what Colab's pip install builds) must hold course_lib.exercises and any later subpackage."""
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packaged = set(find_packages(where=ROOT, include=config["packages"]["find"]["include"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "course_lib").rglob("__init__.py")}
    assert on_disk <= packaged, f"not packaged: {sorted(on_disk - packaged)}"
