"""pytest set-up shared by the unit tests and the notebook tests (nbval).

- COURSE_FAST=1 shrinks every training run, so notebooks run in seconds (kernels inherit it).
- Lessons (student versions, no stored outputs) run lax: they must run, nothing is compared.
- stderr (progress bars, warnings) is left out of output comparisons: nbval merges streams by
  default, and a warning printed on one machine and not another is not a failure of the lesson.
"""

import os

import pytest

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import matplotlib

matplotlib.use("Agg")

try:
    from nbval.plugin import IPyNbCell, IPyNbFile
except ImportError:  # nbval not installed: unit tests still run
    IPyNbFile = IPyNbCell = None


@pytest.fixture
def seeded_single_thread():
    """Seed torch's global generator (restored afterwards) and use one intra-op thread: the tensors of
    the unit tests are small, and extra threads only add waiting on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            yield
    finally:
        torch.set_num_threads(threads)


def _without_stderr(outputs):
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


if IPyNbCell is not None:
    _compare = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return _compare(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    IPyNbCell.compare_outputs = compare_outputs


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if IPyNbCell is not None and isinstance(item, IPyNbCell) and item.parent.path.parent.name == "lessons":
            item.options["check"] = False  # nbval-lax for the student versions
