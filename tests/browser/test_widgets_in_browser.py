"""Each episode's widgets, used the way a learner uses them: JupyterLab in headless Chromium.

nbval cannot see widgets. For every notebook this test opens it in JupyterLab, waits for
its kernel to be idle, runs all cells, and checks that no cell shows an error and no widget
shows "Error displaying widget". Then, for each cell that displays a widget (an ipywidgets
explorer: by the course convention a figure plus one printed summary line), it moves a
slider one step with the keyboard (or picks another dropdown option) and checks that the
figure and the summary both changed. Screenshots of each widget before and after the change
go to runs/browser/<notebook>_<n>_before.png and _after.png, with a JSON report per notebook.

Run it with `make test-browser` (or `pytest tests/browser -m browser`).
BROWSER_NOTEBOOKS=folder-or-notebook checks other notebooks; BROWSER_PARALLEL=1 runs one at a time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from lab_harness import OUT, SUMMARY, notebooks_to_check
from lab_page import POLL_S, LabRunner, poll, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

WIDGET_TIMEOUT_S = 60.0  # a widget renders, or redraws after a change
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def stored_widget_cells(notebook: Path) -> list[int]:
    """Indices of the cells whose saved outputs display a widget (from the last clean run)."""
    cells = json.loads(notebook.read_text())["cells"]
    return [
        i
        for i, cell in enumerate(cells)
        if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", []))
    ]


def change_control(widget: Locator, label: str) -> str:
    """Move the widget's first slider one step (or choose its first dropdown's next option).

    Returns what was done, for messages. The key goes to the focused slider handle, as a
    learner's keyboard would; with continuous_update=False the widget updates on the change.
    """
    handle = widget.locator(".widget-slider .noUi-handle").first
    if handle.count():
        now = float(handle.get_attribute("aria-valuenow") or 0)
        top = float(handle.get_attribute("aria-valuemax") or 0)
        key = "ArrowRight" if now < top else "ArrowLeft"
        handle.scroll_into_view_if_needed()
        handle.focus()
        handle.press(key)
        moved = float(handle.get_attribute("aria-valuenow") or 0)
        assert moved != now, (
            f"{label}: pressing {key} on its slider did not move it (stays {now:g})"
        )
        return f"slider {now:g} -> {moved:g} ({key})"
    select = widget.locator(".widget-dropdown select").first
    assert select.count(), f"{label}: has neither a slider nor a dropdown to change"
    options = select.locator("option").all_text_contents()
    current: int = select.evaluate("(s) => s.selectedIndex")
    target = (current + 1) % len(options)
    assert target != current, f"{label}: its only dropdown has a single option, nothing to change"
    select.select_option(index=target)
    return f"dropdown {options[current]!r} -> {options[target]!r}"


def check_widget(widget: Locator, label: str, shots: str) -> dict[str, Any]:
    """Use one widget: wait for it, screenshot, change a control, wait for the redraw, screenshot.

    ``widget`` is the cell that displays it; screenshots go to ``{shots}_before.png`` and
    ``{shots}_after.png``. Returns what was done and the summary before and after.
    """
    area = widget.locator(".jp-Cell-outputArea")

    def state() -> dict[str, Any]:
        current: dict[str, Any] = widget.evaluate("(node) => window.__bt.widgetState(node)")
        assert not current["errors"], f"{label} shows an error:\n{current['errors'][-1]}"
        assert not current["errorDisplaying"], f'{label} shows "Error displaying widget"'
        return current

    def rendered() -> dict[str, Any] | None:
        s = state()
        return s if s["images"] and s["text"] and (s["sliders"] or s["dropdowns"]) else None

    before = wait_for(
        rendered,
        WIDGET_TIMEOUT_S,
        f"{label} to show its controls, a figure and a printed summary",
    )
    area.scroll_into_view_if_needed()
    area.screenshot(path=f"{shots}_before.png")

    action = change_control(widget, label)

    def redrawn() -> dict[str, Any] | None:
        s = state()
        changed = s["images"] != before["images"] and s["text"] != before["text"]
        return s if s["images"] and s["text"] and changed else None

    if poll(redrawn, WIDGET_TIMEOUT_S) is None:
        now = state()
        figure = (
            f"it shows {len(now['images'])} figure(s), {len(before['images'])} before"
            if len(now["images"]) != len(before["images"])
            else f"figure changed: {now['images'] != before['images']}"
        )
        pytest.fail(
            f"{label} did not redraw within {WIDGET_TIMEOUT_S:.0f} s after: {action}. "
            f"{figure}; summary before {before['text']!r}, now {now['text']!r}"
        )
    time.sleep(POLL_S)  # the output area may still be swapping in the new figure
    after = wait_for(redrawn, WIDGET_TIMEOUT_S, f"{label} to settle after: {action}")
    area.screenshot(path=f"{shots}_after.png")
    return {"action": action, "summary_before": before["text"], "summary_after": after["text"]}


NOTEBOOKS = notebooks_to_check()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_widgets_in_browser(notebook: Path, runner: LabRunner) -> None:
    """Run ``notebook`` in JupyterLab; no errors; every widget redraws when a control changes."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in [*OUT.glob(f"{notebook.stem}_*.png"), OUT / f"{notebook.stem}_report.json"]:
        old.unlink(missing_ok=True)
    name = notebook.name
    stored = stored_widget_cells(notebook)  # read now: its author may save it meanwhile
    started = time.monotonic()
    errors_before = len(runner.page_errors)
    try:
        runner.run(notebook)
        ran = time.monotonic()
        report = runner.js("(p) => window.__bt.report(p)", notebook)
        errors = "\n".join(f"  cell {e['cell']}: {e['text']}" for e in report["errors"])
        assert not errors, f"{name}: cells show errors after Run All:\n{errors}"
        assert not report["errorDisplaying"], f'{name}: a widget shows "Error displaying widget"'

        live: list[int] = report["widgetCells"]
        assert live, (
            f"{name}: no cell displays an ipywidgets explorer after Run All "
            "(COURSE.md: every episode has at least one)"
        )
        missing = sorted(set(stored) - set(live))
        assert not missing, (
            f"{name}: cells {missing} display a widget in the saved notebook "
            "but not after Run All in JupyterLab"
        )

        panel = runner.page.locator(f'[id="{report["panelId"]}"]')
        widgets = []
        for n, cell in enumerate(live):
            widget = panel.locator(f'[data-browser-test="widget-{n}"]')
            label = f"{name}, widget {n} (cell {cell})"
            result = check_widget(widget, label, str(OUT / f"{notebook.stem}_{n}"))
            widgets.append({"widget": n, "cell": cell, **result})
        still_ok = runner.js("(p) => window.__bt.report(p)", notebook)
        assert not still_ok["errorDisplaying"], (
            f'{name}: "Error displaying widget" appeared while the widgets were used'
        )
        SUMMARY.append(
            f"{name}: opened and ran in {ran - started:.0f} s, {len(widgets)} widget(s) checked in "
            f"{time.monotonic() - ran:.0f} s"
        )
        (OUT / f"{notebook.stem}_report.json").write_text(
            json.dumps(
                {
                    "notebook": name,
                    "seconds": {
                        "open_and_run_all": round(ran - started, 1),
                        "widgets": round(time.monotonic() - ran, 1),
                    },
                    "widgets": widgets,
                    "page_errors": runner.page_errors[errors_before:],
                },
                indent=2,
            )
        )
    finally:
        try:
            runner.close(notebook)
        except Exception:
            runner.reset()  # the page is unwell: the next notebook gets a fresh one
            raise
