"""The course website: a static site built from the executed solutions and the README, with its links checked.

    course site --out _site          # then publish _site/ (GitHub Pages or any static host)

Pages: `index.html` (the introduction and the course map, each lesson linked to its page),
`NN_topic.html` (each executed solution with its stored figures, by nbconvert, a library every Jupyter
install has), `scoreboard.html` (the README's scoreboard and its figure) and `instructors.html` (the
README's guide to grading a class). Every page carries one navigation bar.

The build fails (`SiteError`) on any warning raised while building and on any broken link: every
relative `href` or `src` must name a file of the site, and every `#fragment` an id on its page. Links
that leave the site (Colab, GitHub, papers) are kept as they are and not fetched: the build runs offline.
A relative link of the README that is not a page of the site (a source file, a README section) is
rewritten to its address on GitHub.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path

from .build import Lesson, find_lessons
from .project import REPOSITORY

GITHUB = f"https://github.com/{REPOSITORY}"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 0 1.2em 3em; line-height: 1.5; }
nav.course { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: .6em 0; z-index: 10;
             font-size: .95em; }
nav.course a { margin-right: 1em; }
table { border-collapse: collapse; font-size: .9em; }
td, th { border: 1px solid #ddd; padding: .3em .5em; vertical-align: top; }
img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 .2em; }
pre { background: #f4f4f4; padding: .6em; overflow-x: auto; }
"""


class SiteError(RuntimeError):
    """A warning while building, or a broken link in the built site."""


# ----------------------------------------------------------------------------- README sections
def readme_section(readme: str, title: str) -> str:
    """The markdown of the README's `## title` section, up to the next `## ` heading (code blocks skipped)."""
    lines, out, inside, fence = readme.splitlines(), [], False, False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == title
            continue
        if inside:
            out.append(line)
    if not inside and not out:
        raise SiteError(f"README.md has no section '## {title}'")
    return "\n".join(out).strip() + "\n"


def _link(target: str, pages: dict[str, str]) -> str:
    """Where a README link points on the site: a page or file of the site, else its address on GitHub."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):
        return target  # https:, mailto:, ... kept
    path, _, fragment = target.partition("#")
    if path in pages:
        return pages[path] + (f"#{fragment}" if fragment else "")
    if not path:  # a README section: the README on GitHub
        return f"{GITHUB}#{fragment}"
    return f"{GITHUB}/blob/main/{path}" + (f"#{fragment}" if fragment else "")


def markdown_html(text: str, pages: dict[str, str]) -> str:
    """Markdown (the README's) as HTML, its relative links pointed at the site or at GitHub."""
    import mistune

    text = re.sub(r"\]\(([^)\s]+)\)", lambda m: "](" + _link(m.group(1), pages) + ")", text)
    return mistune.html(text)


# ----------------------------------------------------------------------------- pages
def _page(title: str, body: str, lessons: list[Lesson]) -> str:
    links = [("index.html", "Course"), ("scoreboard.html", "Scoreboard"), ("instructors.html", "Instructors")]
    links += [(f"{lesson.stem}.html", lesson.number) for lesson in lessons]
    nav = " ".join(f'<a href="{href}">{html.escape(name)}</a>' for href, name in links)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>\n"
            f"<body><nav class=\"course\">{nav}</nav>\n{body}\n</body></html>\n")


def _notebook_html(lesson: Lesson, lessons: list[Lesson]) -> str:
    """The executed solution as a page (nbconvert's lab template), with the site's navigation bar."""
    import nbformat
    from nbconvert import HTMLExporter

    path = lesson.path("solutions", ".ipynb")
    nb = nbformat.reads(path.read_text(), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": lesson.stem}})
    nav = _page("", "", lessons).split("<body>", 1)[1].split("\n", 1)[0]  # the same bar as every page
    return _inject_nav(body, nav)


def _inject_nav(page: str, nav: str) -> str:
    m = re.search(r"<body[^>]*>", page)
    if not m:
        raise SiteError("nbconvert wrote a page without <body>")
    return page[:m.end()] + "\n" + nav + page[m.end():]


def build_site(root: Path, out: Path) -> list[Path]:
    """Write the site into `out` (emptied first); return its files. Raises SiteError on a warning or a broken link."""
    readme = (root / "README.md").read_text()
    lessons = list(find_lessons(root).values())
    missing = [lesson.stem for lesson in lessons if not lesson.path("solutions", ".ipynb").exists()]
    if missing:
        raise SiteError(f"no executed solution for {', '.join(missing)}: run `course build --execute`")
    pages = {f"solutions/{lesson.stem}.ipynb": f"{lesson.stem}.html" for lesson in lessons}
    pages["docs/scoreboard.png"] = "scoreboard.png"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        intro = readme.split("\n## ", 1)[0]
        index = markdown_html(intro, pages) + "<h2>Course map</h2>\n" + markdown_html(readme_section(readme, "Course map"), pages)
        (out / "index.html").write_text(_page("Deep generative models, hands on", index, lessons))
        board = "<h1>Scoreboard</h1>\n" + markdown_html(readme_section(readme, "Scoreboard"), pages)
        (out / "scoreboard.html").write_text(_page("Scoreboard", board, lessons))
        shutil.copyfile(root / "docs" / "scoreboard.png", out / "scoreboard.png")
        guide = "<h1>For instructors: grading a class</h1>\n" + markdown_html(
            readme_section(readme, "For instructors: grading a class"), pages)
        (out / "instructors.html").write_text(_page("For instructors", guide, lessons))
        for lesson in lessons:
            (out / f"{lesson.stem}.html").write_text(_notebook_html(lesson, lessons))
    real = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    if real:
        raise SiteError("warnings while building the site:\n" + "\n".join(f"  {w.category.__name__}: {w.message}" for w in real))
    broken = check_links(out)
    if broken:
        raise SiteError("broken links in the site:\n" + "\n".join(f"  {b}" for b in broken))
    return sorted(p for p in out.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- links
class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            if name in ("id", "name") and value:
                self.ids.add(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text())
    return parser


def check_links(out: Path) -> list[str]:
    """Every broken relative link of the site's pages: "page: link (why)"."""
    parsed = {p.name: _parse(p) for p in out.glob("*.html")}
    broken = []
    for name, page in parsed.items():
        for link in page.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("//"):
                continue  # leaves the site (https:, data:, mailto:): not fetched offline
            path, _, fragment = link.partition("#")
            target = out / path if path else out / name
            if not target.is_file():
                broken.append(f"{name}: {link} (no file {path})")
            elif fragment and target.suffix == ".html" and fragment not in parsed[target.name].ids:
                broken.append(f"{name}: {link} (no id {fragment!r} on {target.name})")
    return broken


def summary(files: list[Path], out: Path) -> str:
    pages = [p for p in files if p.suffix == ".html"]
    size = sum(p.stat().st_size for p in files) / 1e6
    return json.dumps({"out": str(out), "pages": len(pages), "files": len(files), "megabytes": round(size, 1)})
