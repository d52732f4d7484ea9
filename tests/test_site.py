"""`course site`: the static website from the executed solutions, with every internal link checked."""

import warnings

import pytest

from course_lib.tooling import cli, site
from course_lib.tooling.build import find_lessons, find_root

ROOT = find_root()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    return out, site.build_site(ROOT, out)


def test_the_site_has_the_course_map_every_lesson_the_scoreboard_and_the_guide(built):
    out, files = built
    names = {p.name for p in files}
    lessons = find_lessons(ROOT).values()
    assert {"index.html", "scoreboard.html", "instructors.html", "scoreboard.png"} <= names
    assert {f"{lesson.stem}.html" for lesson in lessons} <= names
    index = (out / "index.html").read_text()
    for lesson in lessons:
        assert f'href="{lesson.stem}.html"' in index  # the course map links each lesson's page
    page = (out / "06_ddpm.html").read_text()
    assert '<nav class="course">' in page and "data:image/png;base64" in page  # the stored figures are in it
    assert "<table>" in (out / "scoreboard.html").read_text() and 'src="scoreboard.png"' in (out / "scoreboard.html").read_text()
    assert "course grade" in (out / "instructors.html").read_text()


def test_no_link_of_the_built_site_is_broken(built):
    out, _ = built
    assert site.check_links(out) == []


def test_broken_links_and_missing_ids_are_found(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html">b</a> <a href="a.html#here">x</a> <a href="#gone">y</a>'
                                     '<img src="https://example.org/x.png"><span id="here"></span>')
    assert site.check_links(tmp_path) == ["a.html: b.html (no file b.html)", "a.html: #gone (no id 'gone' on a.html)"]


def test_readme_links_point_at_the_site_or_at_github():
    pages = {"solutions/06_ddpm.ipynb": "06_ddpm.html"}
    assert site._link("solutions/06_ddpm.ipynb", pages) == "06_ddpm.html"
    assert site._link("#benchmarks", pages) == f"{site.GITHUB}#benchmarks"
    assert site._link("benchmarks/ddpm_quality.py", pages) == f"{site.GITHUB}/blob/main/benchmarks/ddpm_quality.py"
    assert site._link("https://arxiv.org/abs/2006.11239", pages) == "https://arxiv.org/abs/2006.11239"


def test_a_warning_while_building_fails_the_build(monkeypatch, tmp_path):
    real = site.markdown_html

    def warns(text, pages):
        warnings.warn("a heading the renderer did not understand", UserWarning, stacklevel=1)
        return real(text, pages)

    monkeypatch.setattr(site, "markdown_html", warns)
    with pytest.raises(site.SiteError, match="warnings while building the site"):
        site.build_site(ROOT, tmp_path / "site")
    assert cli.main(["site", "--out", str(tmp_path / "site")]) == 1
