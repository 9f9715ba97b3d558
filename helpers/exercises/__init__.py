"""Check your own answer: ``check(name, fn)`` runs the "Your turn" exercises (every episode).

    from helpers.exercises import check
    result = check("attention", my_attention)  # prints one verdict
    result.passed, result.message

``EXERCISES[name]`` is the ``Exercise``: its ``reference`` solution, seeded ``cases`` and
known ``mistakes``. The machinery, and how to add an exercise, is in ``core``; each
episode's exercises live in ``epNN`` and are listed below, one line each.
"""

from collections.abc import Callable
from typing import Any

from helpers.exercises import ep00, ep01, ep02, ep03, ep04, ep05, ep06, ep07
from helpers.exercises.core import (
    Args,
    Case,
    Close,
    Exact,
    Exercise,
    Mistake,
    Registry,
    Result,
    check_exercise,
    merge,
)

EXERCISES: Registry = merge(
    ep00.EXERCISES,
    ep01.EXERCISES,
    ep02.EXERCISES,
    ep03.EXERCISES,
    ep04.EXERCISES,
    ep05.EXERCISES,
    ep06.EXERCISES,
    ep07.EXERCISES,
)


def check(
    name: str, fn: Callable[..., Any], raise_errors: bool = False, quiet: bool = False
) -> Result:
    """Run your ``fn`` on exercise ``name``'s seeded cases, print one verdict and return it."""
    if not isinstance(name, str):
        raise TypeError(f"check(name, fn): name must be an exercise's name, got {name!r}")
    return check_exercise(EXERCISES[name], fn, raise_errors=raise_errors, quiet=quiet)


__all__ = [
    "EXERCISES",
    "Args",
    "Case",
    "Close",
    "Exact",
    "Exercise",
    "Mistake",
    "Result",
    "check",
]
