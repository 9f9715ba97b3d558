"""helpers.exercises: the contract every registered exercise keeps (all episodes, issue 18).

For each exercise in ``EXERCISES``: the reference passes with one short verdict; each
known mistake, written each way it lists, is named with its own hint; a stub is "not
written yet"; an exception is reported with its type, message and case, and
``raise_errors=True`` re-raises it; the verdicts a notebook prints do not move with the
seed offset. ``validate`` on every exercise is in test_exercises_core.py; what is
particular to one exercise (other correct solutions, learner-style mistakes, shapes,
specific cases, seed offsets for the mistakes) stays in test_exercises_epNN.py.
"""

from collections.abc import Callable
from typing import Any

import pytest

from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, NOT_WRITTEN, PASSED

NAMES = sorted(EXERCISES)
FAILS = "contract check: this case is not handled"


def quiet_check(name: str, fn: Callable[..., Any], **kwargs: Any):
    return check(name, fn, quiet=True, **kwargs)


def stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("your code here")


def fails_on_the_last_case(name: str) -> Callable[..., Any]:
    """A learner who answers like the reference but raises ValueError on the last case."""
    exercise = EXERCISES[name]
    calls = []

    def learner(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)  # check calls the learner once per case, in order
        if len(calls) == len(exercise.cases):
            raise ValueError(FAILS)
        return exercise.reference(*args, **kwargs)

    return learner


def every_way_of_every_mistake():
    """(exercise name, mistake, function) for each way each known mistake is written."""
    return [
        pytest.param(name, mistake, fn, id=f"{name}-{mistake.name[:40]}[{i}]")
        for name in NAMES
        for mistake in EXERCISES[name].mistakes
        for i, fn in enumerate((mistake.fn, *mistake.also))
    ]


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_passes_with_one_short_verdict(name, capsys):
    result = check(name, EXERCISES[name].reference)
    assert result.passed and result.status == PASSED and result.mistake is None
    assert result.message.startswith(f"{name}: PASSED")
    assert "\n" not in result.message
    assert capsys.readouterr().out == result.message + "\n", "one verdict, printed once"


@pytest.mark.parametrize(("name", "mistake", "fn"), every_way_of_every_mistake())
def test_each_known_mistake_is_named_with_its_own_hint(name, mistake, fn):
    result = quiet_check(name, fn)
    assert not result.passed and result.status == MISTAKE
    assert result.mistake == mistake.name
    assert mistake.name in result.message and f"Hint: {mistake.hint}" in result.message


@pytest.mark.parametrize("raise_errors", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_a_stub_is_not_written_yet(name, raise_errors):
    result = quiet_check(name, stub, raise_errors=raise_errors)
    assert not result.passed and result.status == NOT_WRITTEN
    assert result.message.startswith(f"{name}: not written yet")
    assert result.case == EXERCISES[name].cases[0].name


@pytest.mark.parametrize("name", NAMES)
def test_an_exception_is_reported_with_its_type_message_and_case(name):
    cases = EXERCISES[name].cases
    n, last = len(cases), cases[-1].name
    result = quiet_check(name, fails_on_the_last_case(name))
    assert not result.passed and result.status == ERROR and result.mistake is None
    assert f"ValueError: {FAILS}" in result.message
    assert f"case {n} of {n} ({last})" in result.message and result.case == last
    assert "raise_errors=True" in result.message, "the verdict says how to see the traceback"


@pytest.mark.parametrize("name", NAMES)
def test_raise_errors_re_raises_the_learners_exception(name):
    with pytest.raises(ValueError, match=FAILS):
        quiet_check(name, fails_on_the_last_case(name), raise_errors=True)


@pytest.mark.parametrize("name", NAMES)
def test_the_verdicts_a_notebook_prints_do_not_move_with_the_seed(name, monkeypatch):
    seen = set()
    for offset in ("0", "5"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        reference = quiet_check(name, EXERCISES[name].reference).message
        seen.add((reference, quiet_check(name, stub).message))
    assert len(seen) == 1, f"{name}: the pass and stub verdicts differ between seed offsets"
