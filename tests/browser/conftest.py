"""Session fixtures for the browser test: Chromium, one JupyterLab server, one browser.

The server and the browser are started once for all notebooks and are stopped whatever
happens (fixture teardown). With no Chromium, every browser test skips with a message
that says how to install it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_harness import (
    CHROMIUM_ARGS,
    INSTALL_HINT,
    OUT,
    PARALLEL,
    REPO,
    SUMMARY,
    LabServer,
    find_chromium,
    notebooks_to_check,
    start_lab,
    start_order,
    stop_lab,
)
from lab_page import LabRunner

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

PAGE_HELPERS = Path(__file__).with_name("page_helpers.js")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests unless they were asked for (``-m browser``, as make does).

    A plain ``pytest tests`` should stay quick; the browser test runs every notebook.
    """
    if "browser" in (config.option.markexpr or "").replace("not browser", ""):
        return
    skip = pytest.mark.skip(
        reason="browser test: run it with `make test-browser` or `pytest -m browser`"
    )
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: how long each notebook took, and where the screenshots are."""
    if SUMMARY:
        terminalreporter.write_sep("-", "browser test")
        for line in SUMMARY:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"screenshots and reports: {OUT}")


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    """This run's own folder in runs/browser/ (server settings, browser profile); removed after.

    The server's log is kept as runs/browser/jupyterlab.log.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("run-*"):  # left by a run that was killed (no teardown) a day ago
        if time.time() - stale.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
    try:
        yield path
    finally:
        if (path / "jupyterlab.log").exists():
            shutil.copyfile(path / "jupyterlab.log", OUT / "jupyterlab.log")
        shutil.rmtree(path, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (e.g. from `timeout`) ends the run like Ctrl-C, so the teardowns still run."""
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary to drive; skips the browser tests when there is none."""
    path = find_chromium()
    if path is None and os.environ.get("CHROMIUM"):
        pytest.skip(f"browser test: CHROMIUM={os.environ['CHROMIUM']} is not an executable file")
    if path is None:
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture(scope="session")
def lab(chromium_path: str, work_dir: Path) -> Iterator[LabServer]:
    """One JupyterLab for all notebooks, serving the repository (or the notebooks' folder)."""
    folders = {nb.resolve().parent for nb in notebooks_to_check()}
    root = REPO
    if not all(folder.is_relative_to(REPO) for folder in folders):
        root = Path(os.path.commonpath([str(f) for f in folders])) if folders else REPO
    server = start_lab(root, work_dir)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield server
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_lab(server)


@pytest.fixture(scope="session")
def browser(chromium_path: str, work_dir: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile in this run's folder, and the page helpers injected."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the `playwright` package is not installed (pip install -e '.[test]')",
    )
    profile = work_dir / "chromium-profile"
    profile.mkdir()
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            context.add_init_script(path=str(PAGE_HELPERS))
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def runner(request: pytest.FixtureRequest, lab: LabServer, browser: BrowserContext) -> LabRunner:
    """The one JupyterLab page that opens and runs the selected notebooks, longest first.

    BROWSER_PARALLEL (default 2) notebooks run at once.
    """
    selected = [
        item.callspec.params["notebook"]
        for item in request.session.items
        if hasattr(item, "callspec") and "notebook" in item.callspec.params
    ]
    return LabRunner(browser, lab, start_order(selected), PARALLEL)
