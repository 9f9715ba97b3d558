"""helpers.exercises.core: the verdict, on a tiny fake exercise, and the registry.

Close and Exact on their own: test_exercises_compare.py; exercises, cases and running them:
test_exercises_cases.py. Everything is imported from core, as the episode modules do."""

import random

import pytest
import torch

from helpers.exercises import EXERCISES, check
from helpers.exercises.core import (
    ERROR,
    MISTAKE,
    NOT_WRITTEN,
    PASSED,
    WRONG_SHAPE,
    WRONG_TYPE,
    WRONG_VALUES,
    Args,
    Case,
    Close,
    Exact,
    Exercise,
    Mistake,
    check_exercise,
    merge,
    validate,
)


def double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


def add_two(x):
    return x + 2


def square(x):
    return x * x


DOUBLE = Exercise(
    name="double",
    reference=double,
    cases=(
        Case("a vector of 3", lambda: Args(torch.randn(3)), seed=1),
        Case("a (2, 4) matrix", lambda: Args(torch.randn(2, 4)), seed=2),
    ),
    mistakes=(
        Mistake("adds two instead of doubling", "Twice x is x times what?", add_two),
        Mistake("squares", "Multiply by a constant, not by x.", square),
    ),
)


def run(fn, exercise=DOUBLE, **kwargs):
    return check_exercise(exercise, fn, quiet=True, **kwargs)


def test_the_reference_passes_and_the_verdict_is_printed_once(capsys):
    result = check_exercise(DOUBLE, double)
    printed = capsys.readouterr().out
    assert result.passed and result.status == PASSED
    assert printed == result.message + "\n", "one verdict, printed once"
    assert "all 2 cases" in result.message and "atol=1e-05" in result.message


def test_the_result_is_frozen():
    result = run(double)
    with pytest.raises(AttributeError):
        result.passed = False


def test_a_stub_is_not_written_yet():
    def stub(x):
        raise NotImplementedError("write this")

    result = run(stub)
    assert not result.passed and result.status == NOT_WRITTEN
    assert "not written yet" in result.message


def test_a_stub_is_not_written_yet_even_with_raise_errors():
    def stub(x):
        raise NotImplementedError

    assert run(stub, raise_errors=True).status == NOT_WRITTEN


def test_each_known_mistake_is_named_with_its_own_hint():
    for mistake in DOUBLE.mistakes:
        result = run(mistake.fn)
        assert result.status == MISTAKE and result.mistake == mistake.name
        assert mistake.name in result.message and mistake.hint in result.message


def test_a_mistake_written_another_way_is_named_too():
    def learner(x):
        return x.pow(2)

    assert run(learner).mistake == "squares"


def test_an_unrelated_wrong_answer_fails_without_a_hint():
    result = run(lambda x: 3 * x)
    assert result.status == WRONG_VALUES and result.mistake is None
    assert "Hint" not in result.message
    assert "case 1 of 2 (a vector of 3)" in result.message
    assert "atol=1e-05, rtol=0.0001" in result.message, "a failing verdict states the tolerance"
    assert "2 of 2 cases are wrong" in result.message


def test_a_wrong_shape_names_both_shapes():
    result = run(lambda x: (2 * x)[None])
    assert result.status == WRONG_SHAPE
    assert "expected shape (3,), got (1, 3)" in result.message


def test_a_missing_return_and_a_tuple_are_named():
    none = run(lambda x: None)
    assert none.status == WRONG_TYPE and "got None" in none.message and "return" in none.message
    pair = run(lambda x: (2 * x, x))
    assert pair.status == WRONG_TYPE and "a tuple of 2" in pair.message


def test_an_exception_names_its_type_message_and_case():
    def learner(x):
        if x.dim() == 2:
            raise ValueError("matrices are not done yet")
        return 2 * x

    result = run(learner)
    assert result.status == ERROR and not result.passed
    assert "ValueError: matrices are not done yet" in result.message
    assert "case 2 of 2 (a (2, 4) matrix)" in result.message
    assert result.case == "a (2, 4) matrix"


def test_raise_errors_re_raises_the_learners_exception():
    def learner(x):
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError, match="oops"):
        run(learner, raise_errors=True)


def test_not_implemented_on_a_later_case_is_an_error_not_a_stub():
    def learner(x):
        if x.dim() == 2:
            raise NotImplementedError("no matrices")
        return 2 * x

    result = run(learner)
    assert result.status == ERROR and "NotImplementedError: no matrices" in result.message


def test_a_long_exception_message_is_cut():
    result = run(lambda x: (_ for _ in ()).throw(RuntimeError("x" * 1000)))
    assert result.status == ERROR and len(result.message) < 500 and "..." in result.message


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="fn must be your function"):
        run(torch.zeros(3))


def test_the_callers_random_state_is_left_alone():
    torch.manual_seed(123)
    random.seed(5)
    expected = torch.rand(3), random.random()
    torch.manual_seed(123)
    random.seed(5)
    run(lambda x: 3 * x)  # fails, so the mistakes run too
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]


def test_each_function_gets_fresh_inputs():
    def in_place(x):
        return x.mul_(2)  # right answer, but it changes its input

    assert run(in_place).passed, "the reference must not see the learner's changed input"


def test_sampling_is_comparable_because_every_call_is_seeded():
    def sample(probs):
        return torch.multinomial(probs, 5, replacement=True)

    exercise = Exercise(
        name="sample",
        reference=sample,
        cases=(Case("four tokens", lambda: Args(torch.softmax(torch.randn(4), -1)), seed=3),),
        mistakes=(),
        compare=Exact(),
    )
    assert run(lambda p: torch.multinomial(p, 5, replacement=True), exercise).passed
    uniform = run(lambda p: torch.multinomial(torch.ones(4), 5, replacement=True), exercise)
    assert not uniform.passed


def test_several_tensors_and_a_scalar_compare_item_by_item():
    def stats(x):
        return x.mean(), x.std(), float(x.max())

    exercise = Exercise(
        "stats", stats, (Case("ten numbers", lambda: Args(torch.randn(10))),), mistakes=()
    )
    assert run(stats, exercise).passed
    assert run(lambda x: (x.mean().item(), x.std(), x.max()), exercise).passed, (
        "a Python float and a 0-d tensor are interchangeable"
    )
    wrong = run(lambda x: (x.mean(), x.std(unbiased=False), float(x.max())), exercise)
    assert wrong.status == WRONG_VALUES and "item [1]" in wrong.message
    short = run(lambda x: (x.mean(), x.std()), exercise)
    assert short.status == WRONG_TYPE and "expected 3 items" in short.message


def test_observe_compares_what_a_training_step_changed():
    def build():
        model = torch.nn.Linear(3, 1)
        return Args(model, torch.randn(4, 3), torch.randn(4, 1))

    def step(model, x, y):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        return loss.detach()

    def step_without_update(model, x, y):
        return ((model(x) - y) ** 2).mean().detach()

    exercise = Exercise(
        "train_step",
        step,
        (Case("a linear model", build, seed=4),),
        mistakes=(Mistake("no update", "Parameters should move.", step_without_update),),
        observe=lambda args, loss: (loss, [p.detach().clone() for p in args.args[0].parameters()]),
    )
    assert run(step, exercise).passed
    assert run(step_without_update, exercise).mistake == "no update"


def test_dicts_such_as_a_state_dict_compare_key_by_key():
    def build():
        return Args(torch.nn.Linear(2, 3))

    def halve(model):
        return {name: p.detach() / 2 for name, p in model.state_dict().items()}

    exercise = Exercise("halve", halve, (Case("a linear layer", build, seed=5),), ())
    assert run(halve, exercise).passed
    wrong = run(lambda m: {**halve(m), "bias": m.bias.detach()}, exercise)
    assert wrong.status == WRONG_VALUES and "item ['bias']" in wrong.message
    missing = run(lambda m: {"weight": m.weight.detach() / 2}, exercise)
    assert missing.status == WRONG_TYPE and "missing ['bias']" in missing.message


def test_a_custom_comparison_and_its_description():
    def same_sign(expected, received):
        ok = torch.equal(torch.sign(expected), torch.sign(received))
        return None if ok else "the signs differ"

    same_sign.description = "by sign"
    exercise = Exercise(
        "sign", lambda x: x, (Case("five numbers", lambda: Args(torch.randn(5))),), (), same_sign
    )
    assert run(lambda x: 3 * x, exercise).passed
    assert "(by sign)" in run(lambda x: x, exercise).message
    assert "the signs differ" in run(lambda x: -x, exercise).message


def test_exact_names_a_wrong_dtype():
    exercise = Exercise(
        "tri", lambda n: torch.ones(n, n, dtype=torch.bool).tril(), (Case("n=3", lambda: (3,)),), ()
    )
    exact = Exercise(exercise.name, exercise.reference, exercise.cases, (), Exact())
    result = run(lambda n: torch.ones(n, n).tril(), exact)
    assert result.status == WRONG_TYPE and "expected dtype bool, got float32" in result.message


def test_nan_where_the_reference_has_numbers_is_named():
    result = run(lambda x: x / 0 * 0)
    assert result.status == WRONG_VALUES and "NaN" in result.message


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="Did you mean 'attention'.*Known exercises: .*attention"):
        check("atention", double)
    with pytest.raises(KeyError, match="no exercise named 'nope'"):
        EXERCISES["nope"]


def test_merge_rejects_a_name_used_twice():
    with pytest.raises(ValueError, match="two exercises are named 'double'"):
        merge((DOUBLE,), (DOUBLE,))
    with pytest.raises(TypeError, match="Exercise objects"):
        merge(("double",))


def test_a_broken_reference_is_the_exercises_fault():
    exercise = Exercise("broken", lambda x: x.nope, DOUBLE.cases, ())
    with pytest.raises(RuntimeError, match="the reference raised AttributeError"):
        run(lambda x: x, exercise)


def test_validate_rejects_mistakes_it_cannot_tell_apart():
    harmless = Exercise(
        "double", double, DOUBLE.cases, (Mistake("not a mistake", "-", lambda x: x + x),)
    )
    with pytest.raises(AssertionError, match="agrees with the reference on every case"):
        validate(harmless)
    twins = Exercise(
        "double",
        double,
        DOUBLE.cases,
        (Mistake("squares", "-", square), Mistake("squares again", "-", lambda x: x**2)),
    )
    with pytest.raises(AssertionError, match="agree on every case"):
        validate(twins)
    crash = Exercise("double", double, DOUBLE.cases, (Mistake("crash", "-", lambda x: x.nope),))
    with pytest.raises(AssertionError, match="raises on every case"):
        validate(crash)
    validate(DOUBLE)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_registered_exercise_is_valid_and_its_reference_passes(name):
    exercise = EXERCISES[name]
    validate(exercise)
    assert len(exercise.mistakes) >= 2, "every exercise names at least two known mistakes"
    assert check(name, exercise.reference, quiet=True).passed


def test_core_re_exports_the_pieces_the_episode_modules_import():
    from helpers.exercises import cases, compare, core

    for name in ("Args", "Case", "Exercise", "Mistake"):
        assert getattr(core, name) is getattr(cases, name), name
    assert core.Close is compare.Close and core.Exact is compare.Exact
    assert Close is compare.Close
    missing = [name for name in core.__all__ if not hasattr(core, name)]
    assert not missing, f"core.__all__ names what core lacks: {missing}"
