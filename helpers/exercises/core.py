"""The machinery behind ``check``: exercises, seeded cases, known mistakes, verdicts.

Every episode ends with "Your turn" exercises (COURSE.md, point 8): the learner writes a
function from a stub, and ``helpers.exercises.check(name, fn)`` runs it on seeded cases,
compares it with the reference solution and prints one short verdict. When the learner's
output matches a known mistake on every case, the verdict names the mistake and gives a
hint that does not give the answer away.

How to add an exercise
======================

1. In ``helpers/exercises/epNN.py`` (one module per episode; its docstring names the
   episode and section), write the reference solution, a few seeded cases and at least
   two known mistakes, and list the exercises in a module-level tuple ``EXERCISES``::

       import torch

       from helpers.exercises.core import Args, Case, Exercise, Mistake

       def layer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
           '''Reference: normalise x (..., C) over its last axis to mean 0, variance 1.'''
           mean = x.mean(-1, keepdim=True)  # (..., 1)
           var = x.var(-1, keepdim=True, unbiased=False)  # (..., 1)
           return (x - mean) / torch.sqrt(var + eps)

       def _unbiased(x, eps=1e-5):
           return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps)

       def _first_axis(x, eps=1e-5):
           mean, var = x.mean(0, keepdim=True), x.var(0, keepdim=True, unbiased=False)
           return (x - mean) / torch.sqrt(var + eps)

       EXERCISES = (
           Exercise(
               name="layer_norm",
               reference=layer_norm,
               cases=(
                   Case("one token, 5 features", lambda: Args(torch.randn(1, 5)), seed=1),
                   Case("batch (2, 3, 8)", lambda: Args(torch.randn(2, 3, 8) * 4 + 1), seed=2),
               ),
               mistakes=(
                   Mistake("the variance divides by C - 1",
                           "The sample's variance or the population's?", _unbiased),
                   Mistake("normalised over the first axis",
                           "Each token is normalised on its own features.", _first_axis),
               ),
           ),
       )

   A case's name is printed in verdicts, so it must not hold random values. Keep cases
   small (milliseconds each): the mistakes run on them whenever a learner's answer fails.
2. Add one line to the explicit list in ``helpers/exercises/__init__.py``
   (``from helpers.exercises import epNN``, and ``epNN.EXERCISES`` in the ``merge``). A
   name used twice is an error at import time.
3. Add ``tests/test_exercises_epNN.py`` (copy the pattern of ``test_exercises_ep02.py``):
   the reference passes, each mistake is named with its own hint, a stub says "not
   written yet", a wrong shape names both shapes, an exception names its type, message
   and case, an unrelated wrong answer gets no hint. ``tests/test_exercises_core.py``
   already runs ``validate`` on every registered exercise: the reference runs on every
   case; every mistake has another outcome than the reference on some case and returns
   an output on some case; no two mistakes have the same outcome on every case.

In a notebook, the stub raises ``NotImplementedError`` on its first case, and ``check``
prints "<name>: not written yet ..." (the same on every machine); a passing verdict
prints no measured numbers either, only the case count and the tolerance. The returned
``Result`` shows nothing when it ends a cell, so the verdict appears once.

The pieces
----------

Three modules, one job each, all importable from here: ``cases`` defines ``Args``,
``Case``, ``Mistake`` and ``Exercise`` and runs a function on the seeded cases;
``compare`` holds ``Close`` and ``Exact``; this module gives the verdict (``Result``,
``check_exercise``) and keeps the registry (``merge``, ``validate``).

- ``Case(name, build, seed=0)``: ``build()`` returns the inputs, an ``Args(*args,
  **kwargs)`` (or a plain tuple of positional arguments). It runs with Python's, NumPy's
  and torch's CPU generators seeded with ``seed`` (plus HELPERS_SEED_OFFSET, as
  ``helpers.set_seed`` does), and again before each function is called, so every
  function (reference, mistakes, the learner's) gets fresh, identical inputs (in-place
  changes cannot leak) and the same random state (sampling with ``torch.multinomial``
  on the CPU is comparable). The caller's random state is restored afterwards: a check
  does not change what later cells draw. ``name`` is said in verdicts, so make it tell
  the learner what is special: "batch of 2, T_q=3 != T_k=6, padding mask". Inputs can
  be anything: tensors, a module, a ``state_dict``, an optimizer.
- ``Mistake(name, hint, fn)``: ``fn`` has the learner's signature and makes the mistake.
  It is matched by its *outcome* on every case: equal output (by the exercise's
  comparison, NaNs equal), or the same exception type where it raises. A mistake that
  crashes on batched input but is right without a batch is therefore recognisable.
  ``name`` completes "this looks like a known mistake: ..."; ``hint`` points at the
  idea, not at the line of code. ``also=(fn2, ...)`` lists other ways of writing the same
  mistake that give other numbers (say, -1e9 instead of -inf for hidden scores).
- ``Exercise(name, reference, cases, mistakes, compare=Close(), observe=None)``:
  ``compare(expected, received)`` returns ``None`` when they agree, else a short problem
  ("expected shape (2, 3), got (3, 2)"). ``Close(atol, rtol)`` (the default) handles
  tensors, numbers and (nested) tuples, lists and dicts (a ``state_dict``) of them, so
  functions that return several tensors or a scalar need nothing more; ``Exact()`` is
  for booleans and integers. Pass your own callable for anything else (give it a ``description``
  attribute, such as "to within 1e-3", for the verdict to state the tolerance).
  ``observe(args, returned)`` chooses what is compared, when it is not just the return
  value: for "one training step" return ``(returned, model.state_dict())`` from the
  ``Args`` after the call, so the update itself is checked.
- ``check_exercise(exercise, fn, raise_errors=False, quiet=False) -> Result`` runs it;
  ``helpers.exercises.check(name, fn)`` looks the name up first. A verdict looks, in
  order, for: a stub (NotImplementedError on the first case), a pass, a known mistake
  (same outcome as one on every case), then the first wrong case: an exception (type,
  message, case), a wrong type or shape (both named), or wrong values (the largest
  difference, rounded, and the tolerance).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Everything an episode module or a test imports from here, re-exported (see __all__).
from helpers.exercises.cases import (
    Args,
    Case,
    Exercise,
    Mistake,
    Outcome,
    call,
    matches,
    outcomes_of,
    reference_outcomes,
    same_outcome,
)
from helpers.exercises.compare import Close, Exact, describe_value

__all__ = [
    "ERROR",
    "MISTAKE",
    "NOT_WRITTEN",
    "PASSED",
    "WRONG_SHAPE",
    "WRONG_TYPE",
    "WRONG_VALUES",
    "Args",
    "Case",
    "Close",
    "Exact",
    "Exercise",
    "Mistake",
    "Registry",
    "Result",
    "check_exercise",
    "describe_value",
    "merge",
    "validate",
]

# Statuses a Result can have, in the order a verdict looks for them.
PASSED = "passed"
NOT_WRITTEN = "not written"
MISTAKE = "known mistake"
ERROR = "error"
WRONG_TYPE = "wrong type"
WRONG_SHAPE = "wrong shape"
WRONG_VALUES = "wrong values"

_MESSAGE_LIMIT = 240  # characters of an exception's message quoted in a verdict


@dataclass(frozen=True)
class Result:
    """What ``check`` decided: ``passed``, the printed ``message`` and what went wrong where."""

    name: str
    passed: bool
    message: str
    status: str
    mistake: str | None = None  # the known mistake's name, when one matched
    case: str | None = None  # the first case that went wrong

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: ``check`` has already printed the verdict."""


# --- the verdict -------------------------------------------------------------------


def check_exercise(
    exercise: Exercise,
    fn: Callable[..., Any],
    raise_errors: bool = False,
    quiet: bool = False,
) -> Result:
    """Run ``fn`` on the exercise's cases, print one verdict (unless ``quiet``) and return it.

    ``raise_errors=True`` re-raises an exception from ``fn`` (with its traceback) instead
    of reporting it; a stub's ``NotImplementedError`` is still reported as "not written yet".
    """
    if not callable(fn):
        raise TypeError(
            f"check({exercise.name!r}, fn): fn must be your function, got {describe_value(fn)}"
        )
    result = _judge(exercise, fn, raise_errors)
    if not quiet:
        print(result.message)
    return result


def _judge(exercise: Exercise, fn: Callable[..., Any], raise_errors: bool) -> Result:
    name, n = exercise.name, len(exercise.cases)
    outcomes: list[Outcome] = []
    for i, case in enumerate(exercise.cases):
        outcome = call(exercise, fn, case)
        if isinstance(outcome.error, NotImplementedError) and i == 0:
            return Result(
                name,
                False,
                f"{name}: not written yet (the function raises NotImplementedError). "
                "Write it, then run this cell again.",
                NOT_WRITTEN,
                case=case.name,
            )
        if outcome.error is not None and raise_errors:
            raise outcome.error
        outcomes.append(outcome)

    expected = reference_outcomes(exercise)
    problems: list[str | None] = []
    for exp, got in zip(expected, outcomes, strict=True):
        if got.error is not None:
            problems.append(_short(got.error))
        else:
            try:
                problems.append(exercise.compare(exp.value, got.value))
            except Exception as error:  # a return value the comparison cannot read
                problems.append(f"its output could not be compared ({_short(error)})")
    wrong = [i for i, p in enumerate(problems) if p is not None]
    if not wrong:
        return Result(
            name,
            True,
            f"{name}: PASSED. Your function agrees with the reference on all {n} cases "
            f"({exercise.tolerance}).",
            PASSED,
        )

    first = exercise.cases[wrong[0]]
    for mistake, written in ((m, w) for m in exercise.mistakes for w in (m.fn, *m.also)):
        if matches(exercise, written, outcomes):
            return Result(
                name,
                False,
                f"{name}: not yet. This looks like a known mistake: {mistake.name}. "
                f"Hint: {mistake.hint}",
                MISTAKE,
                mistake=mistake.name,
                case=first.name,
            )

    got = outcomes[wrong[0]]
    where = f"case {wrong[0] + 1} of {n} ({first.name})"
    if got.error is not None:
        message = (
            f"{name}: your function raised {_short(got.error)} on {where}. "
            "(check(..., raise_errors=True) shows the traceback.)"
        )
        status = ERROR
    else:
        problem = problems[wrong[0]]
        status = _status_of(problem)
        message = f"{name}: not yet, on {where}: {problem}"
        if status == WRONG_VALUES:
            message += f" (compared {exercise.tolerance})"
        message += f". {len(wrong)} of {n} cases are wrong."
    return Result(name, False, message, status, case=first.name)


def _status_of(problem: str) -> str:
    """Which kind of failure a comparison's problem describes."""
    if "expected shape" in problem:
        return WRONG_SHAPE
    if problem.startswith("expected "):  # a type, dtype, length or keys
        return WRONG_TYPE
    return WRONG_VALUES


def _short(error: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    text = " ".join(str(error).split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- the registry and the checks every exercise must pass ---------------------------


class Registry(dict):
    """Exercise name -> Exercise; an unknown name is a KeyError that lists the known ones."""

    def __missing__(self, name: object) -> Exercise:
        known = ", ".join(sorted(self))
        close = difflib.get_close_matches(str(name), list(self), n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no exercise named {name!r}.{suggestion} Known exercises: {known}")


def merge(*groups: Iterable[Exercise]) -> Registry:
    """One registry from the episode modules' ``EXERCISES``; a name used twice is an error."""
    registry = Registry()
    for group in groups:
        for exercise in group:
            if not isinstance(exercise, Exercise):
                raise TypeError(f"EXERCISES must hold Exercise objects, got {type(exercise)}")
            if exercise.name in registry:
                raise ValueError(f"two exercises are named {exercise.name!r}")
            registry[exercise.name] = exercise
    return registry


def validate(exercise: Exercise) -> None:
    """Raise AssertionError unless the exercise can tell its mistakes apart (for the tests).

    The reference runs on every case; every mistake has another outcome than the
    reference on at least one case (so it cannot pass) and returns an output on at least
    one case (so it is recognised by its values, not only by crashing); no two mistakes
    have the same outcome on every case (each gets its own hint).
    """
    expected = reference_outcomes(exercise)
    seen: dict[str, list[Outcome]] = {}
    for mistake in exercise.mistakes:
        for variant in mistake.also:
            other_way = outcomes_of(exercise, variant)
            assert not all(
                same_outcome(exercise, e, m) for e, m in zip(expected, other_way, strict=True)
            ), f"{exercise.name}: a variant of {mistake.name!r} agrees with the reference"
        theirs = outcomes_of(exercise, mistake.fn)
        assert not all(
            same_outcome(exercise, e, m) for e, m in zip(expected, theirs, strict=True)
        ), f"{exercise.name}: mistake {mistake.name!r} agrees with the reference on every case"
        assert any(m.error is None for m in theirs), (
            f"{exercise.name}: mistake {mistake.name!r} raises on every case, so it would "
            "be named for any crash; add a case where it returns an output"
        )
        for other, outcomes in seen.items():
            assert not all(
                same_outcome(exercise, a, b) for a, b in zip(outcomes, theirs, strict=True)
            ), f"{exercise.name}: mistakes {other!r} and {mistake.name!r} agree on every case"
        seen[mistake.name] = theirs
