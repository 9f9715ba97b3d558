"""Each episode's widgets, used the way a learner uses them: JupyterLab in headless Chromium.

nbval cannot see widgets. For every notebook this test opens it in JupyterLab, waits for
its kernel to be idle, runs all cells, and checks that no cell shows an error and no widget
shows "Error displaying widget". Then, for each cell that displays a widget (an ipywidgets
explorer: by the course convention a figure plus a printed summary), it changes one control
the way a learner would (a key press on a slider, another option in a dropdown), checks that
the figure and the summary both changed, and that the summary moved the way the notebook
says it does (tests/browser/expectations.py lists, per widget, the control and what must
hold). Notebooks start two at a time, longest first, and are checked in the order they
should finish (lab_harness.start_order, finish_order). Screenshots of each widget before and after the change
go to runs/browser/<notebook>_<n>_before.png and _after.png, with a JSON report per notebook.

Run it with `make test-browser` (or `pytest tests/browser -m browser`).
BROWSER_NOTEBOOKS=folder-or-notebook checks other notebooks; BROWSER_PARALLEL=1 runs one at a time.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from expectations import EXPECTATIONS, Expect
from lab_harness import OUT, REPO, SUMMARY, finish_order, notebooks_to_check, stored_widget_cells
from lab_page import POLL_S, LabRunner, poll, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

WIDGET_TIMEOUT_S = 60.0  # a widget renders, or redraws after a change
COURSE_NOTEBOOKS = REPO / "notebooks"


def control_named(widget: Locator, css: str, name: str) -> Locator:
    """The ``css`` controls (e.g. ".widget-slider") of ``widget`` whose description is ``name``."""
    label = widget.page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    return widget.locator(css).filter(has=label)


def move_slider(handle: Locator, label: str, key: str) -> str:
    """Press ``key`` on a slider's handle, as a learner's keyboard would; say what moved.

    ArrowRight at the top end presses ArrowLeft instead. With continuous_update=False the
    widget updates once, on the change.
    """
    now = float(handle.get_attribute("aria-valuenow") or 0)
    top = float(handle.get_attribute("aria-valuemax") or 0)
    if key == "ArrowRight" and now >= top:
        key = "ArrowLeft"
    handle.scroll_into_view_if_needed()
    handle.focus()
    handle.press(key)
    moved = float(handle.get_attribute("aria-valuenow") or 0)
    assert moved != now, f"{label}: pressing {key} on its slider did not move it (stays {now:g})"
    return f"slider {now:g} -> {moved:g} ({key})"


def choose_option(select: Locator, label: str, option: str | None) -> str:
    """Pick ``option`` in a dropdown (by its text), or the next one when None; say what changed."""
    # ipywidgets shows spaces in option labels as no-break spaces; compare them as spaces
    options = [" ".join(text.split()) for text in select.locator("option").all_text_contents()]
    current: int = select.evaluate("(s) => s.selectedIndex")
    if option is None:
        target = (current + 1) % len(options)
    else:
        assert option in options, f"{label}: its dropdown has no option {option!r}: {options}"
        target = options.index(option)
    assert target != current, f"{label}: the dropdown already shows {options[current]!r}"
    select.select_option(index=target)
    return f"dropdown {options[current]!r} -> {options[target]!r}"


def change_control(widget: Locator, label: str, expect: Expect | None) -> str:
    """Change the control ``expect`` names (or, with no expectation, the first slider or dropdown).

    Returns what was done, for messages.
    """
    if expect is None:
        handle = widget.locator(".widget-slider .noUi-handle").first
        if handle.count():
            return move_slider(handle, label, "ArrowRight")
        select = widget.locator(".widget-dropdown select").first
        assert select.count(), f"{label}: has neither a slider nor a dropdown to change"
        return choose_option(select, label, None)
    slider = control_named(widget, ".widget-slider", expect.control)
    if slider.count():
        what = move_slider(slider.first.locator(".noUi-handle").first, label, expect.key)
    else:
        select = control_named(widget, ".widget-dropdown", expect.control).locator("select")
        assert select.count(), f"{label}: has no slider or dropdown called {expect.control!r}"
        what = choose_option(select.first, label, expect.option)
    return f"{expect.control}: {what}"


def check_expectation(expect: Expect, label: str, action: str, before: str, after: str) -> None:
    """Fail unless the summaries before and after the change show what the notebook says."""
    problem = expect.problem(before, after)
    assert problem is None, f"{label}: after {action}, {problem}"


def check_widget(widget: Locator, label: str, shots: str, expect: Expect | None) -> dict[str, Any]:
    """Use one widget: wait for it, screenshot, change a control, wait for the redraw, screenshot.

    ``widget`` is the cell that displays it; screenshots go to ``{shots}_before.png`` and
    ``{shots}_after.png``. With an expectation, the summaries before and after must show
    what it says. Returns what was done and the summary before and after.
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

    action = change_control(widget, label, expect)

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
    if expect is not None:
        check_expectation(expect, label, action, before["text"], after["text"])
    return {
        "action": action,
        "expected": expect.says if expect else "the figure and the summary change",
        "summary_before": before["text"],
        "summary_after": after["text"],
    }


def expectations_for(notebook: Path, n_widgets: int) -> list[Expect | None]:
    """The expectation for each of the notebook's widgets; a course notebook must have them all."""
    listed = EXPECTATIONS.get(notebook.stem)
    if listed is None and notebook.resolve().parent != COURSE_NOTEBOOKS:
        return [None] * n_widgets  # someone else's notebook: the generic check
    assert listed is not None and len(listed) == n_widgets, (
        f"{notebook.name} shows {n_widgets} widget(s) but tests/browser/expectations.py lists "
        f"{0 if listed is None else len(listed)}: say there what each one should do"
    )
    return list(listed)


NOTEBOOKS = finish_order(notebooks_to_check())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_widgets_in_browser(notebook: Path, runner: LabRunner) -> None:
    """Run ``notebook`` in JupyterLab; no errors; every widget redraws as the notebook says."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in [*OUT.glob(f"{notebook.stem}_*.png"), OUT / f"{notebook.stem}_report.json"]:
        old.unlink(missing_ok=True)
    name = notebook.name
    stored = stored_widget_cells(notebook)  # read now: its author may save it meanwhile
    started = time.monotonic()
    errors_before = len(runner.page_errors)
    try:
        page_seconds = runner.run(notebook)
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
        expected = expectations_for(notebook, len(live))
        for n, (cell, expect) in enumerate(zip(live, expected, strict=True)):
            widget = panel.locator(f'[data-browser-test="widget-{n}"]')
            label = f"{name}, widget {n} (cell {cell})"
            result = check_widget(widget, label, str(OUT / f"{notebook.stem}_{n}"), expect)
            widgets.append({"widget": n, "cell": cell, **result})
        still_ok = runner.js("(p) => window.__bt.report(p)", notebook)
        assert not still_ok["errorDisplaying"], (
            f'{name}: "Error displaying widget" appeared while the widgets were used'
        )
        seconds = {
            **{k: None if v is None else round(v, 1) for k, v in page_seconds.items()},
            "test_waited": round(ran - started, 1),
            "widgets": round(time.monotonic() - ran, 1),
        }
        SUMMARY.append(
            f"{name}: Run All took {seconds['run_all']:.0f} s (opening {seconds['open']:.0f} s, "
            f"queued {seconds['queued']:.0f} s); the test waited {seconds['test_waited']:.0f} s "
            f"for it; {len(widgets)} widget(s) checked in {seconds['widgets']:.0f} s"
        )
        (OUT / f"{notebook.stem}_report.json").write_text(
            json.dumps(
                {
                    "notebook": name,
                    "seconds": seconds,
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
