"""Every widget in a real browser: JupyterLab + headless Chromium, each control changed, the time to a new figure.

    python benchmarks/widget_latency.py             # all solutions, COURSE_FAST=1; prints one row per control
    python benchmarks/widget_latency.py 06 07       # some lessons
    python benchmarks/widget_latency.py --full      # the lessons' default settings (minutes per notebook)

What a student does, scripted: JupyterLab on 127.0.0.1 with a token serves a copy of the solution notebooks
(so autosave never touches the repository's); Chromium (Debian's `chromium`, driven by Playwright's Python
API pointed at it: nothing is downloaded) opens each one, runs all cells and waits for the kernel to go idle.
Then, for every widget (an Explorer: a row of controls above an output with a figure), each control is
changed once (arrow key on a slider, the next option of a dropdown, another number in a text box) and the
time until the figure's image changes is measured. A screenshot of each widget is saved before and after.
`tests/test_browser.py` runs the same code and asserts on it; this script prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-artifacts" / "browser"  # screenshots: before and after each control change
BAD_TEXT = ("Error displaying widget", "Traceback (most recent call last)")
LOADING = "Loading widget..."


def unavailable() -> str | None:
    """Why the browser run cannot happen here (one line), or None."""
    if CHROMIUM is None:
        return "no Chromium installed (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; the browser itself comes from Debian)"
    return None


@dataclass
class ControlResult:
    notebook: str
    widget: int
    control: str
    seconds: float | None  # None: the figure did not change within the limit
    shots: tuple[str, str] = ("", "")


@dataclass
class NotebookResult:
    notebook: str
    run_seconds: float
    widgets: int
    problems: list[str] = field(default_factory=list)
    controls: list[ControlResult] = field(default_factory=list)


# ----------------------------------------------------------------------------- JupyterLab
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(notebooks: list[Path], fast: bool = True, timeout: float = 120.0):
    """A JupyterLab server on 127.0.0.1 serving copies of `notebooks`; yields (base URL, token, folder)."""
    token, port = os.urandom(12).hex(), _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            shutil.copy(nb, tmp)
        settings = Path(tmp) / ".settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news toast
        env = {**os.environ, "COURSE_FAST": "1" if fast else "0", "JUPYTERLAB_SETTINGS_DIR": str(Path(tmp) / ".settings")}
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--allow-root"]  # CI containers run as root
        log = open(Path(tmp) / "jupyterlab.log", "w")  # closed below, after the server
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        tail = (Path(tmp) / "jupyterlab.log").read_text()[-2000:]
                        raise RuntimeError(f"JupyterLab did not start: {tail}") from None
                    time.sleep(0.5)
            yield base, token, Path(tmp)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


def _kernel_state(base: str, token: str, name: str) -> str | None:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:
        for session in json.load(r):
            if session.get("path", "").endswith(name):
                return session["kernel"]["execution_state"]
    return None


def _wait_idle(page, base: str, token: str, name: str, timeout: float) -> None:
    """Until the notebook's kernel is idle and no cell waits to run ([*]) for two seconds running."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        busy = _kernel_state(base, token, name) != "idle" or page.locator(".jp-InputPrompt:has-text('[*]')").count()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 2.0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{name}: the kernel was still busy after {timeout:.0f} s")


# ----------------------------------------------------------------------------- one notebook
def _figure(widget) -> str:
    """The src of the figure image in a widget's output (empty when there is none yet)."""
    img = widget.locator(".widget-output img")
    return img.first.get_attribute("src") or "" if img.count() else ""


def _controls(widget) -> list[tuple[str, object, str]]:
    """(label, element, kind) of each control of an Explorer: sliders, dropdowns, number boxes."""
    found = []
    for box in widget.locator(":scope > .widget-hbox > .widget-inline-hbox, :scope > .widget-box > .widget-inline-hbox").all():
        label = (box.locator(".widget-label").first.inner_text() if box.locator(".widget-label").count() else "").strip()
        if box.locator("select").count():
            found.append((label or "dropdown", box.locator("select").first, "select"))
        elif box.locator(".noUi-handle, .ui-slider-handle").count():
            found.append((label or "slider", box.locator(".noUi-handle, .ui-slider-handle").first, "slider"))
        elif box.locator("input[type=number]").count():
            found.append((label or "number", box.locator("input[type=number]").first, "number"))
    return found


def _change(element, kind: str) -> None:
    if kind == "select":
        options = element.locator("option").all_inner_texts()
        current = element.evaluate("e => e.options[e.selectedIndex].text")
        element.select_option(label=options[(options.index(current) + 1) % len(options)] if current in options else options[-1])
    elif kind == "slider":  # one step right, or left from the right end
        now, top = element.get_attribute("aria-valuenow"), element.get_attribute("aria-valuemax")
        at_end = now is not None and top is not None and float(now) >= float(top)
        element.focus()
        element.press("ArrowLeft" if at_end else "ArrowRight")
    else:
        value = int(element.input_value() or 0)
        lo = element.get_attribute("min")
        element.fill(str(value + 1 if lo is None or value + 1 <= int(element.get_attribute("max") or 10**9) else value - 1))
        element.press("Enter")


def exercise_notebook(page, base: str, token: str, name: str, shots: Path | None, limit: float = 15.0,
                      run_timeout: float = 900.0) -> NotebookResult:
    """Open a notebook, run all cells, then change every control of every widget once, timing each redraw."""
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset")  # reset: no tabs of the last notebook restored
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    _wait_idle(page, base, token, name, 120)  # the kernel has started
    start = time.monotonic()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    time.sleep(2.0)
    _wait_idle(page, base, token, name, run_timeout)
    result = NotebookResult(name, time.monotonic() - start, 0)
    text = panel.inner_text()
    result.problems += [f"{name}: {bad!r} in the notebook" for bad in BAD_TEXT if bad in text]
    widgets = panel.locator(".jp-OutputArea-output .widget-vbox:has(> .widget-output)").all()
    result.widgets = len(widgets)
    for w, widget in enumerate(widgets):
        widget.scroll_into_view_if_needed()
        deadline = time.monotonic() + limit
        while not _figure(widget) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _figure(widget):
            result.problems.append(f"{name}: widget {w} shows no figure after {limit:.0f} s")
            continue
        for label, element, kind in _controls(widget):
            before = _figure(widget)
            slug = re.sub(r"\W+", "_", f"{Path(name).stem}_w{w}_{label}").strip("_")
            paths = ("", "")
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                paths = (str(shots / f"{slug}_before.png"), str(shots / f"{slug}_after.png"))
                widget.screenshot(path=paths[0])
            t0 = time.monotonic()
            _change(element, kind)
            seconds = None
            while time.monotonic() - t0 < limit:
                now = _figure(widget)
                if now and now != before:
                    seconds = time.monotonic() - t0
                    break
                time.sleep(0.02)
            if shots is not None:
                widget.screenshot(path=paths[1])
            result.controls.append(ControlResult(name, w, label, seconds, paths))
            if seconds is None:
                result.problems.append(f"{name}: widget {w}, control {label!r}: the figure did not change within {limit:.0f} s")
    text = panel.inner_text()
    result.problems += [f"{name}: {bad!r} after changing the controls" for bad in BAD_TEXT if bad in text]
    if LOADING in text:
        result.problems.append(f"{name}: {LOADING!r} still shown")
    _shut_down(base, token, name)  # one kernel at a time: each holds torch and a model
    return result


def _shut_down(base: str, token: str, name: str) -> None:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:
        ids = [s["id"] for s in json.load(r) if s.get("path", "").endswith(name)]
    for sid in ids:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/sessions/{sid}?token={token}", method="DELETE"), timeout=10)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            yield page
        finally:
            b.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    p.add_argument("--full", action="store_true", help="default settings instead of COURSE_FAST=1")
    p.add_argument("--limit", type=float, default=15.0, help="seconds a figure may take to change (default 15)")
    args = p.parse_args(argv)
    why = unavailable()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    notebooks = sorted((ROOT / "solutions").glob("*.ipynb"))
    if args.lessons:
        notebooks = [nb for nb in notebooks if nb.name[:2] in {n.zfill(2) for n in args.lessons}]
    rows, problems = [], []
    with jupyterlab(notebooks, fast=not args.full) as (base, token, _), browser() as page:
        for nb in notebooks:
            result = exercise_notebook(page, base, token, nb.name, SHOTS, args.limit)
            rows += result.controls
            problems += result.problems
            print(f"{nb.name}: ran in {result.run_seconds:.0f} s, {result.widgets} widgets", flush=True)
    print("\n| notebook | widget | control | seconds to the new figure |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r.notebook} | {r.widget} | {r.control} | {'-' if r.seconds is None else f'{r.seconds:.2f}'} |")
    times = sorted(r.seconds for r in rows if r.seconds is not None)
    if times:
        print(f"\n{len(times)} changes: median {times[len(times) // 2]:.2f} s, worst {times[-1]:.2f} s; screenshots in {SHOTS}")
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
