"""benchmarks/gpu_run.py: the course map's GPU column is written in place, the rest of the README untouched."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_run

from course_lib.tooling.build import find_lessons


def test_the_course_map_has_a_gpu_cell_per_lesson_until_measured():
    rows = gpu_run.course_map_cells((ROOT / "README.md").read_text())
    assert set(rows) == set(find_lessons(ROOT))
    for number, cells in rows.items():
        assert len(cells) == 6, number  # | # | lesson | topics | CPU | GPU | open |
        assert cells[4] == gpu_run.NOT_MEASURED or " s (" in cells[4], cells[4]


def test_writing_the_gpu_column_changes_only_those_cells():
    readme = (ROOT / "README.md").read_text()
    written = gpu_run.write_gpu_column(readme, {"06": "31 s (NVIDIA H200, 2026-12-02)"})
    rows = gpu_run.course_map_cells(written)
    before = gpu_run.course_map_cells(readme)
    assert rows["06"][4] == "31 s (NVIDIA H200, 2026-12-02)"
    assert rows["06"][:4] == before["06"][:4] and rows["06"][5] == before["06"][5]
    assert {n: r for n, r in rows.items() if n != "06"} == {n: r for n, r in before.items() if n != "06"}
    changed = [(a, b) for a, b in zip(readme.splitlines(), written.splitlines()) if a != b]
    assert len(changed) == 1 and len(readme.splitlines()) == len(written.splitlines())


def test_without_a_gpu_it_changes_nothing(monkeypatch, capsys):
    monkeypatch.setattr(gpu_run.torch.cuda, "is_available", lambda: False)
    assert gpu_run.main(["--write-readme"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_rows_of_other_tables_that_start_with_a_lesson_number_are_left_alone():
    readme = "## Course map\n\n| 01 | a | b | 1 s | not measured | x |\n\n## Benchmarks\n\n| 01 | 2 | 5 | 0.36 s | 0.37 s |\n"
    assert gpu_run.course_map_cells(readme) == {"01": ["01", "a", "b", "1 s", "not measured", "x"]}
    assert gpu_run.write_gpu_column(readme, {"01": "9 s (GPU)"}).splitlines()[-1] == "| 01 | 2 | 5 | 0.36 s | 0.37 s |"
