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

import contextlib
import difflib
import math
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from helpers.seed import seed_offset

# Statuses a Result can have, in the order a verdict looks for them.
PASSED = "passed"
NOT_WRITTEN = "not written"
MISTAKE = "known mistake"
ERROR = "error"
WRONG_TYPE = "wrong type"
WRONG_SHAPE = "wrong shape"
WRONG_VALUES = "wrong values"

_MESSAGE_LIMIT = 240  # characters of an exception's message quoted in a verdict


class Args:
    """The inputs of one call: ``Args(q, k, v, mask=m)`` calls ``fn(q, k, v, mask=m)``."""

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        parts = [_describe_value(a) for a in self.args]
        parts += [f"{k}={_describe_value(v)}" for k, v in self.kwargs.items()]
        return f"Args({', '.join(parts)})"


@dataclass(frozen=True)
class Case:
    """One seeded input: ``build()`` returns ``Args`` (or a tuple of positional arguments)."""

    name: str
    build: Callable[[], Args | tuple]
    seed: int = 0


@dataclass(frozen=True)
class Mistake:
    """A mistake learners make, written as a function with the learner's signature."""

    name: str
    hint: str
    fn: Callable[..., Any]
    also: tuple[Callable[..., Any], ...] = ()  # other ways to write the same mistake


def _describe_value(x: Any) -> str:
    """A short, portable description of a value: a tensor's shape and dtype, else its type."""
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} ({str(x.dtype).removeprefix('torch.')})"
    if x is None:
        return "None"
    if isinstance(x, tuple | list):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__}"


def _as_float(x: Any) -> float | None:
    """A Python number or a one-element tensor as a float, else None."""
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, torch.Tensor) and x.numel() == 1 and x.dim() == 0:
        return float(x.detach().cpu().double())
    return None


@dataclass(frozen=True)
class Close:
    """Compare tensors, numbers, and tuples, lists or dicts of them, to atol + rtol * |expected|.

    Floating-point tensors of any precision compare as float64; boolean and integer
    tensors must have the reference's dtype and equal entries. NaN equals NaN.
    """

    atol: float = 1e-5
    rtol: float = 1e-4

    @property
    def description(self) -> str:
        """How close counts as equal, for the verdict."""
        return f"to within atol={self.atol:g}, rtol={self.rtol:g}"

    def __call__(self, expected: Any, received: Any) -> str | None:
        """None when ``received`` agrees with ``expected``, else the first problem, in words."""
        return self._compare(expected, received, where="")

    def _compare(self, expected: Any, received: Any, where: str) -> str | None:
        at = f" in item {where}" if where else ""
        if isinstance(expected, tuple | list):
            if not isinstance(received, tuple | list):
                return (
                    f"expected a {type(expected).__name__} of {len(expected)}{at}, "
                    f"got {_describe_value(received)}"
                )
            if len(received) != len(expected):
                return (
                    f"expected {len(expected)} items{at}, got {len(received)} "
                    f"({_describe_value(received)})"
                )
            for i, (e, r) in enumerate(zip(expected, received, strict=True)):
                problem = self._compare(e, r, f"{where}[{i}]")
                if problem:
                    return problem
            return None
        if isinstance(expected, Mapping):
            if not isinstance(received, Mapping):
                return f"expected a dict{at}, got {_describe_value(received)}"
            if list(received) != list(expected):
                missing = [key for key in expected if key not in received]
                extra = [key for key in received if key not in expected]
                return f"expected the keys {list(expected)}{at}; missing {missing}, extra {extra}"
            for key, e in expected.items():
                problem = self._compare(e, received[key], f"{where}[{key!r}]")
                if problem:
                    return problem
            return None
        if isinstance(expected, torch.Tensor):
            if not isinstance(received, torch.Tensor):
                if expected.dim() == 0 and _as_float(received) is not None:
                    return self._compare_numbers(_as_float(expected), _as_float(received), at)
                hint = " (did the function forget to `return`?)" if received is None else ""
                return (
                    f"expected a tensor of shape {tuple(expected.shape)}{at}, "
                    f"got {_describe_value(received)}{hint}"
                )
            return self._compare_tensors(expected, received, at)
        e, r = _as_float(expected), _as_float(received)
        if e is not None:
            if r is None:
                return f"expected a number{at}, got {_describe_value(received)}"
            return self._compare_numbers(e, r, at)
        if expected != received:
            return f"expected {expected!r}{at}, got {_describe_value(received)}"
        return None

    def _compare_numbers(self, e: float, r: float, at: str) -> str | None:
        if math.isnan(e) and math.isnan(r):
            return None
        if math.isnan(r) or abs(r - e) > self.atol + self.rtol * abs(e):
            diff = abs(r - e)
            return f"the number{at} is off by {diff:.2g}"
        return None

    def _compare_tensors(
        self, expected: torch.Tensor, received: torch.Tensor, at: str
    ) -> str | None:
        if tuple(received.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}{at}, got {tuple(received.shape)}"
        expected, received = expected.detach().cpu(), received.detach().cpu()
        exact_kinds = (torch.bool, *_INTEGER_DTYPES)
        if expected.dtype in exact_kinds or received.dtype in exact_kinds:
            if received.dtype != expected.dtype:
                exp_dtype = str(expected.dtype).removeprefix("torch.")
                got_dtype = str(received.dtype).removeprefix("torch.")
                return f"expected dtype {exp_dtype}{at}, got {got_dtype}"
            wrong = int((received != expected).sum())
            if wrong:
                return f"{wrong} of {expected.numel()} entries{at} differ from the reference"
            return None
        if received.is_complex() != expected.is_complex():
            return f"expected a {expected.dtype} tensor{at}, got {received.dtype}"
        e, r = expected.double(), received.double()
        if torch.allclose(r, e, atol=self.atol, rtol=self.rtol, equal_nan=True):
            return None
        if (r.isnan() & ~e.isnan()).any():
            return f"the output{at} has NaN where the reference has numbers"
        finite = e.isfinite() & r.isfinite()
        if not torch.equal(e.isfinite(), r.isfinite()) or not finite.any():
            return f"the output{at} has infinities where the reference has numbers"
        diff = float((r - e)[finite].abs().max())
        return f"values{at} differ from the reference by up to {diff:.2g}"


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


@dataclass(frozen=True)
class Exact(Close):
    """Compare exactly: for booleans, integers and anything that must match to the bit."""

    atol: float = 0.0
    rtol: float = 0.0

    @property
    def description(self) -> str:
        """How close counts as equal, for the verdict."""
        return "exactly"


@dataclass(frozen=True)
class Exercise:
    """One exercise: the reference solution, its seeded cases and the mistakes it names."""

    name: str
    reference: Callable[..., Any]
    cases: tuple[Case, ...]
    mistakes: tuple[Mistake, ...]
    compare: Callable[[Any, Any], str | None] = field(default_factory=Close)
    observe: Callable[[Args, Any], Any] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"an exercise needs a name, got {self.name!r}")
        if not callable(self.reference):
            raise TypeError(f"exercise {self.name!r}: reference must be callable")
        object.__setattr__(self, "cases", tuple(self.cases))
        object.__setattr__(self, "mistakes", tuple(self.mistakes))
        if not self.cases:
            raise ValueError(f"exercise {self.name!r} has no cases")
        for kind, items in (("case", self.cases), ("mistake", self.mistakes)):
            names = [item.name for item in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"exercise {self.name!r}: {kind} names used twice: {twice}")

    @property
    def tolerance(self) -> str:
        """How the exercise compares outputs, in words ("to within atol=1e-05, rtol=0.0001")."""
        return getattr(self.compare, "description", "by the exercise's own comparison")


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


# --- running functions on cases --------------------------------------------------


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Run the block with Python's, NumPy's and torch's CPU generators seeded, then restore them.

    The seed is ``seed`` plus HELPERS_SEED_OFFSET, as with ``helpers.set_seed``. Only the
    CPU generator is touched: seeding CUDA's (as ``set_seed`` does) records a stack trace
    per call while CUDA is not started, which made a check take seconds; the cases run
    on the CPU.
    """
    used = seed + seed_offset()
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    random.seed(used)
    np.random.seed(used)
    torch.default_generator.manual_seed(used)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


@dataclass(frozen=True)
class _Outcome:
    """What one function did on one case: returned ``value``, or raised ``error``."""

    value: Any = None
    error: BaseException | None = None


def _call(exercise: Exercise, fn: Callable[..., Any], case: Case) -> _Outcome:
    """Build the case's inputs afresh and call ``fn`` on them; an exception is kept, not raised."""
    with _seeded(case.seed):
        built = case.build()
        args = built if isinstance(built, Args) else Args(*built)
        try:
            returned = fn(*args.args, **args.kwargs)
            value = exercise.observe(args, returned) if exercise.observe else returned
        except Exception as error:  # the learner's bug, reported in the verdict
            return _Outcome(error=error)
    return _Outcome(value=value)


def _reference_outcomes(exercise: Exercise) -> list[_Outcome]:
    """The reference's output on every case; an exception here is the exercise's bug."""
    outcomes = []
    for case in exercise.cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = _call(exercise, exercise.reference, case)
        if outcome.error is not None:
            raise RuntimeError(
                f"exercise {exercise.name!r}: the reference raised "
                f"{type(outcome.error).__name__} on case {case.name!r}: {outcome.error}"
            ) from outcome.error
        outcomes.append(outcome)
    return outcomes


def _same_outcome(exercise: Exercise, a: _Outcome, b: _Outcome) -> bool:
    """Both raised the same type of exception, or both returned equal outputs."""
    if a.error is not None or b.error is not None:
        return a.error is not None and b.error is not None and type(a.error) is type(b.error)
    try:
        return exercise.compare(a.value, b.value) is None
    except Exception:  # an output the comparison cannot read matches nothing
        return False


def _outcomes_of(exercise: Exercise, fn: Callable[..., Any]) -> list[_Outcome]:
    """What a mistake's function does on every case (its warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_call(exercise, fn, case) for case in exercise.cases]


def _matches(exercise: Exercise, fn: Callable[..., Any], outcomes: list[_Outcome]) -> bool:
    """Whether ``fn`` has the same outcome as ``outcomes`` on every case (stops at a difference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return all(
            _same_outcome(exercise, _call(exercise, fn, case), outcome)
            for case, outcome in zip(exercise.cases, outcomes, strict=True)
        )


def _short(error: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    text = " ".join(str(error).split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
            f"check({exercise.name!r}, fn): fn must be your function, got {_describe_value(fn)}"
        )
    result = _judge(exercise, fn, raise_errors)
    if not quiet:
        print(result.message)
    return result


def _judge(exercise: Exercise, fn: Callable[..., Any], raise_errors: bool) -> Result:
    name, n = exercise.name, len(exercise.cases)
    outcomes: list[_Outcome] = []
    for i, case in enumerate(exercise.cases):
        outcome = _call(exercise, fn, case)
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

    expected = _reference_outcomes(exercise)
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
        if _matches(exercise, written, outcomes):
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
    expected = _reference_outcomes(exercise)
    seen: dict[str, list[_Outcome]] = {}
    for mistake in exercise.mistakes:
        for variant in mistake.also:
            other_way = _outcomes_of(exercise, variant)
            assert not all(
                _same_outcome(exercise, e, m) for e, m in zip(expected, other_way, strict=True)
            ), f"{exercise.name}: a variant of {mistake.name!r} agrees with the reference"
        theirs = _outcomes_of(exercise, mistake.fn)
        assert not all(
            _same_outcome(exercise, e, m) for e, m in zip(expected, theirs, strict=True)
        ), f"{exercise.name}: mistake {mistake.name!r} agrees with the reference on every case"
        assert any(m.error is None for m in theirs), (
            f"{exercise.name}: mistake {mistake.name!r} raises on every case, so it would "
            "be named for any crash; add a case where it returns an output"
        )
        for other, outcomes in seen.items():
            assert not all(
                _same_outcome(exercise, a, b) for a, b in zip(outcomes, theirs, strict=True)
            ), f"{exercise.name}: mistakes {other!r} and {mistake.name!r} agree on every case"
        seen[mistake.name] = theirs
