"""Every widget of every solution, in JupyterLab in headless Chromium, as a student uses it.

Runs all cells of each solution (COURSE_FAST=1), then changes every control of every widget and asserts
that its figure changes, with no "Error displaying widget", no endless "Loading widget..." and no
traceback anywhere in the notebook. Screenshots of each widget before and after each change are kept in
test-artifacts/browser/. The time from a change to the new figure is measured by
benchmarks/widget_latency.py (the same code); the limit here is generous, for a loaded CI machine.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import widget_latency as wl

NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb"))
pytestmark = pytest.mark.skipif(wl.unavailable() is not None, reason=f"browser test skipped: {wl.unavailable()}")


@pytest.fixture(scope="module")
def lab():
    with wl.jupyterlab(NOTEBOOKS) as (base, token, _), wl.browser() as page:
        yield base, token, page


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_widget_responds_in_the_browser(lab, notebook):
    base, token, page = lab
    result = wl.exercise_notebook(page, base, token, notebook.name, wl.SHOTS, limit=20.0)
    assert result.problems == []
    assert result.widgets >= 1 and result.controls, f"{notebook.name}: no widget found in the browser"
    assert all(r.seconds is not None for r in result.controls)
    assert all(Path(shot).exists() for r in result.controls for shot in r.shots)
