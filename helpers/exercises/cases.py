"""An exercise, its cases, and running them (all episodes: the "Your turn" checker, issue 18)."""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from helpers.exercises.compare import Close, describe_value
from helpers.seed import seed_offset


class Args:
    """The inputs of one call: ``Args(q, k, v, mask=m)`` calls ``fn(q, k, v, mask=m)``."""

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        parts = [describe_value(a) for a in self.args]
        parts += [f"{k}={describe_value(v)}" for k, v in self.kwargs.items()]
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


# --- running functions on cases --------------------------------------------------


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
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
class Outcome:
    """What one function did on one case: returned ``value``, or raised ``error``."""

    value: Any = None
    error: BaseException | None = None


def call(exercise: Exercise, fn: Callable[..., Any], case: Case) -> Outcome:
    """Build the case's inputs afresh and call ``fn`` on them; an exception is kept, not raised."""
    with seeded(case.seed):
        built = case.build()
        args = built if isinstance(built, Args) else Args(*built)
        try:
            returned = fn(*args.args, **args.kwargs)
            value = exercise.observe(args, returned) if exercise.observe else returned
        except Exception as error:  # the learner's bug, reported in the verdict
            return Outcome(error=error)
    return Outcome(value=value)


def reference_outcomes(exercise: Exercise) -> list[Outcome]:
    """The reference's output on every case; an exception here is the exercise's bug."""
    outcomes = []
    for case in exercise.cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = call(exercise, exercise.reference, case)
        if outcome.error is not None:
            raise RuntimeError(
                f"exercise {exercise.name!r}: the reference raised "
                f"{type(outcome.error).__name__} on case {case.name!r}: {outcome.error}"
            ) from outcome.error
        outcomes.append(outcome)
    return outcomes


def same_outcome(exercise: Exercise, a: Outcome, b: Outcome) -> bool:
    """Both raised the same type of exception, or both returned equal outputs."""
    if a.error is not None or b.error is not None:
        return a.error is not None and b.error is not None and type(a.error) is type(b.error)
    try:
        return exercise.compare(a.value, b.value) is None
    except Exception:  # an output the comparison cannot read matches nothing
        return False


def outcomes_of(exercise: Exercise, fn: Callable[..., Any]) -> list[Outcome]:
    """What a mistake's function does on every case (its warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [call(exercise, fn, case) for case in exercise.cases]


def matches(exercise: Exercise, fn: Callable[..., Any], outcomes: list[Outcome]) -> bool:
    """Whether ``fn`` has the same outcome as ``outcomes`` on every case (stops at a difference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return all(
            same_outcome(exercise, call(exercise, fn, case), outcome)
            for case, outcome in zip(exercise.cases, outcomes, strict=True)
        )
