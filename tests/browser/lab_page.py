"""One JupyterLab page that opens the notebooks and runs them, a few at a time.

Loading JupyterLab's page costs more than a typical kernel start, so the whole test run
uses one page: it is loaded once with ``/lab?reset`` (a fresh workspace, no restored tabs)
and each notebook is opened in it with JupyterLab's own ``docmanager:open`` command.

``parallel`` notebooks run at once, each in its own kernel, longest first
(``lab_harness.start_order``); when one finishes the page starts the next, so both cores
of a small machine stay busy while the test checks the widgets of the notebooks that are
done. The tests ask for the notebooks in the order they should finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from lab_harness import LabServer, shutdown_kernels

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

OPEN_TIMEOUT_S = 120.0  # JupyterLab's page loads; a notebook opens and its kernel is idle
RUN_TIMEOUT_S = 900.0  # Run All (episode 06 trains live; the course allows it 6 minutes)
POLL_S = 0.25

T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout: float) -> T | None:
    """Call ``check`` every POLL_S s until it returns something truthy; None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Like ``poll``, but fail the test with "timed out ... waiting for {what}" on timeout."""
    result = poll(check, timeout)
    if not result:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


def dismiss_popups(page: Page) -> None:
    """Close any toast (news, update notices) that might cover the notebook; never waits."""
    for button in page.locator(".jp-toast-button:has-text('No'), .Toastify__close-button").all():
        if button.is_visible():
            button.click()


class LabRunner:
    """Opens notebooks in one JupyterLab page and runs all their cells, ``parallel`` at a time."""

    def __init__(
        self, context: BrowserContext, server: LabServer, order: list[Path], parallel: int
    ) -> None:
        self.context = context
        self.server = server
        self.order = order  # every notebook of this test run, in the order they start
        self.parallel = max(1, parallel)
        self.scheduled: list[Path] = []  # handed to the page's scheduler and not closed yet
        self.closed: set[Path] = set()  # checked (or failed) and closed
        self.page_errors: list[str] = []  # uncaught JavaScript errors in the page
        self._page: Page | None = None

    @property
    def page(self) -> Page:
        """The JupyterLab page, loaded (fresh workspace) on first use or after a reset."""
        if self._page is None or self._page.is_closed():
            page = self.context.new_page()
            page.set_default_timeout(OPEN_TIMEOUT_S * 1000)
            page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
            page.goto(f"{self.server.base_url}/lab?reset&token={self.server.token}")
            wait_for(
                lambda: page.evaluate(
                    "() => !!(window.__bt && window.jupyterapp && window.jupyterapp.commands"
                    " && window.jupyterapp.commands.hasCommand('notebook:run-all-cells'))"
                ),
                OPEN_TIMEOUT_S,
                "JupyterLab's page to load",
            )
            page.evaluate("() => window.jupyterapp.restored")  # the (empty) workspace is in
            dismiss_popups(page)
            self._page = page
        return self._page

    def path(self, notebook: Path) -> str:
        """The notebook's path as JupyterLab names it (relative to the server's root)."""
        return notebook.resolve().relative_to(self.server.root).as_posix()

    def js(self, expression: str, notebook: Path) -> Any:
        """Evaluate ``expression``, a JS function of the notebook's path, in the page."""
        return self.page.evaluate(expression, self.path(notebook))

    def schedule(self, notebook: Path) -> None:
        """Hand ``notebook`` and every notebook not yet run to the page's scheduler.

        They start ``parallel`` at a time, in ``order``, ``notebook`` first if it is not in
        it; each opens in a background tab and runs all its cells once its kernel is idle.
        """
        if notebook in self.scheduled:
            return
        queue = [notebook] if notebook not in self.order else []
        queue += [nb for nb in self.order if nb not in self.scheduled and nb not in self.closed]
        self.page.evaluate(
            "([paths, n, ms]) => window.__bt.schedule(paths, n, ms)",
            [[self.path(nb) for nb in queue], self.parallel, OPEN_TIMEOUT_S * 1000],
        )
        self.scheduled.extend(queue)

    def run(self, notebook: Path) -> dict[str, Any]:
        """Wait until ``notebook`` has run all its cells, then bring its tab to the front.

        Returns the page's timings for it (seconds queued, opening, running all cells).
        """
        self.schedule(notebook)

        def finished() -> dict[str, Any] | None:
            status = self.js("(p) => window.__bt.runStatus(p)", notebook)
            return status if status["finished"] else None

        timeout = OPEN_TIMEOUT_S + RUN_TIMEOUT_S
        status = poll(finished, timeout)
        if status is None:
            stage = self.js("(p) => window.__bt.runStatus(p)", notebook)["stage"]
            pytest.fail(
                f"{notebook.name}: timed out after {timeout:.0f} s waiting for it to open and run"
                f" all cells (kernel idle, no [*] prompts left); it was still {stage}"
            )
        if status["error"]:
            pytest.fail(f"{notebook.name}: Run All did not complete: {status['error']}")
        wait_for(
            lambda: self.js("(p) => window.__bt.show(p)", notebook),
            OPEN_TIMEOUT_S,
            f"{notebook.name}'s tab to come to the front",
        )
        dismiss_popups(self.page)
        return status["seconds"]

    def close(self, notebook: Path) -> None:
        """Shut the notebook's kernel down and close its tab unsaved."""
        if notebook in self.scheduled:
            self.scheduled.remove(notebook)
        self.closed.add(notebook)
        if self._page is not None and not self._page.is_closed():
            self.js("(p) => window.__bt.close(p)", notebook)

    def reset(self) -> None:
        """After a failure: close the page, stop every kernel, start afresh on next use."""
        if self._page is not None and not self._page.is_closed():
            self._page.close()
        self._page = None
        self.scheduled.clear()
        shutdown_kernels(self.server)
