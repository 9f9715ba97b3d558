"""helpers.exercises.cases: what an exercise is made of, and running a function on its cases."""

import random

import numpy as np
import pytest
import torch

from helpers.exercises.cases import (
    Args,
    Case,
    Exercise,
    Mistake,
    call,
    matches,
    outcomes_of,
    reference_outcomes,
    same_outcome,
    seeded,
)
from helpers.exercises.compare import Close, Exact

CASES = (
    Case("a vector of 3", lambda: Args(torch.randn(3)), seed=1),
    Case("a (2, 4) matrix", lambda: (torch.randn(2, 4),), seed=2),
)


def double(x):
    return 2 * x


def make(reference=double, cases=CASES, mistakes=(), **kwargs):
    return Exercise("double", reference, cases, mistakes, **kwargs)


def test_args_holds_a_call_and_describes_it_without_values():
    args = Args(torch.zeros(2, 3), [1, 2], mask=None)
    assert args.args[1] == [1, 2] and args.kwargs == {"mask": None}
    assert repr(args) == "Args(a tensor of shape (2, 3) (float32), a list of 2, mask=None)"


def test_an_exercise_needs_a_name_a_callable_reference_cases_and_unique_names():
    with pytest.raises(ValueError, match="needs a name"):
        Exercise("", double, CASES, ())
    with pytest.raises(TypeError, match="reference must be callable"):
        make(reference=torch.zeros(3))
    with pytest.raises(ValueError, match="no cases"):
        make(cases=())
    with pytest.raises(ValueError, match="case names used twice"):
        make(cases=(CASES[0], CASES[0]))
    twice = (Mistake("m", "-", abs), Mistake("m", "-", abs))
    with pytest.raises(ValueError, match=r"mistake names used twice: \['m'\]"):
        make(mistakes=twice)


def test_cases_and_mistakes_given_as_lists_become_tuples():
    exercise = make(cases=list(CASES), mistakes=[Mistake("m", "-", abs)])
    assert isinstance(exercise.cases, tuple) and isinstance(exercise.mistakes, tuple)


def test_the_tolerance_comes_from_the_comparison():
    assert make().tolerance == Close().description
    assert make(compare=Exact()).tolerance == "exactly"
    assert make(compare=lambda e, r: None).tolerance == "by the exercise's own comparison"


def test_seeded_applies_the_offset_and_restores_every_generator(monkeypatch):
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    after = torch.rand(2), random.random(), np.random.rand()
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    monkeypatch.setenv("HELPERS_SEED_OFFSET", "3")
    with seeded(2):
        inside = torch.rand(2)
    torch.manual_seed(5)
    assert torch.equal(inside, torch.rand(2)), "seed 2 plus offset 3 draws as seed 5"
    torch.manual_seed(7)
    with seeded(2):
        torch.rand(100)
        random.random()
        np.random.rand()
    assert torch.equal(torch.rand(2), after[0])
    random.seed(7)
    np.random.seed(7)
    with seeded(2):
        random.random()
        np.random.rand()
    assert random.random() == after[1] and np.random.rand() == after[2]


def test_call_builds_fresh_inputs_and_keeps_an_exception():
    exercise = make()
    first = call(exercise, lambda x: x.mul_(2), CASES[0])
    again = call(exercise, lambda x: x, CASES[0])
    assert torch.equal(first.value, 2 * again.value), "the in-place change did not leak"
    failed = call(exercise, lambda x: x.nope, CASES[1])
    assert failed.value is None and isinstance(failed.error, AttributeError)


def test_observe_chooses_what_is_compared():
    exercise = make(observe=lambda args, returned: (returned, args.args[0]))
    value = call(exercise, lambda x: x.mul_(2), CASES[0]).value
    assert torch.equal(value[0], value[1]), "observe sees the arguments after the call"


def test_a_broken_reference_is_the_exercises_fault():
    with pytest.raises(RuntimeError, match="reference raised AttributeError on case 'a vector"):
        reference_outcomes(make(reference=lambda x: x.nope))


def test_outcomes_match_by_value_or_by_exception_type():
    exercise = make()
    expected = reference_outcomes(exercise)
    assert matches(exercise, lambda x: x + x, expected)
    assert not matches(exercise, lambda x: 3 * x, expected)
    crashes = outcomes_of(exercise, lambda x: x.nope)
    assert same_outcome(exercise, crashes[0], crashes[1]), "both raised AttributeError"
    assert not same_outcome(exercise, crashes[0], expected[0])
    unreadable = make(compare=lambda e, r: 1 / 0)
    assert not same_outcome(unreadable, expected[0], expected[0]), "a failing comparison"
