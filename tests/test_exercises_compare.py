"""helpers.exercises.compare: Close and Exact on tensors, numbers and nested outputs."""

import math

import torch

from helpers.exercises.compare import Close, Exact, describe_value


def test_close_tolerance():
    close = Close(atol=1e-3, rtol=0)
    assert close(torch.tensor([1.0]), torch.tensor([1.0005])) is None
    assert "differ" in close(torch.tensor([1.0]), torch.tensor([1.01]))
    assert close(torch.tensor([1.0]), torch.tensor([1.0005], dtype=torch.float64)) is None


def test_the_relative_part_scales_with_the_expected_value():
    close = Close(atol=0.0, rtol=1e-2)
    assert close(torch.tensor([1000.0]), torch.tensor([1005.0])) is None
    assert close(torch.tensor([1.0]), torch.tensor([1.05])) == (
        "values differ from the reference by up to 0.05"
    )


def test_a_wrong_shape_names_both_shapes():
    assert Close()(torch.zeros(2, 3), torch.zeros(3, 2)) == "expected shape (2, 3), got (3, 2)"


def test_nan_equals_nan_but_not_a_number():
    close = Close()
    assert close(torch.tensor([math.nan, 1.0]), torch.tensor([math.nan, 1.0])) is None
    assert "NaN" in close(torch.tensor([0.0, 1.0]), torch.tensor([math.nan, 1.0]))
    assert close(math.nan, math.nan) is None
    assert close(1.0, math.nan) == "the number is off by nan"


def test_infinities_where_the_reference_has_numbers_are_named():
    problem = Close()(torch.tensor([0.0, 1.0]), torch.tensor([math.inf, 1.0]))
    assert problem == "the output has infinities where the reference has numbers"


def test_booleans_and_integers_must_have_the_references_dtype_and_entries():
    close = Close()
    mask = torch.tensor([True, False, True])
    assert close(mask, mask.clone()) is None
    assert close(mask, mask.float()) == "expected dtype bool, got float32"
    assert close(mask, ~mask) == "3 of 3 entries differ from the reference"
    assert close(torch.arange(4), torch.arange(4).int()) == "expected dtype int64, got int32"


def test_a_zero_dim_tensor_and_a_python_number_are_interchangeable():
    close = Close()
    assert close(torch.tensor(2.0), 2.0) is None
    assert close(2.0, torch.tensor(2.0)) is None
    assert close(2, torch.tensor(2.5)) == "the number is off by 0.5"
    assert close(2.0, "2.0") == "expected a number, got a str"


def test_nested_outputs_name_the_item_that_differs():
    close = Close()
    expected = (torch.zeros(2), [1.0, {"w": torch.ones(3)}])
    assert close(expected, (torch.zeros(2), [1.0, {"w": torch.ones(3)}])) is None
    assert close(expected, (torch.zeros(2), [1.0, {"w": torch.zeros(3)}])) == (
        "values in item [1][1]['w'] differ from the reference by up to 1"
    )
    assert close(expected, (torch.zeros(2),)) == "expected 2 items, got 1 (a tuple of 1)"
    assert close(expected, torch.zeros(2)) == (
        "expected a tuple of 2, got a tensor of shape (2,) (float32)"
    )
    assert close({"a": 1.0, "b": 2.0}, {"a": 1.0}) == (
        "expected the keys ['a', 'b']; missing ['b'], extra []"
    )


def test_a_missing_return_is_hinted():
    problem = Close()(torch.zeros(2), None)
    assert (
        problem
        == "expected a tensor of shape (2,), got None (did the function forget to `return`?)"
    )


def test_other_values_compare_with_equals():
    assert Close()("abc", "abc") is None
    assert Close()("abc", "abd") == "expected 'abc', got a str"


def test_exact_allows_no_difference_and_says_so():
    exact = Exact()
    assert exact(torch.tensor([1.0]), torch.tensor([1.0])) is None
    assert exact(torch.tensor([1.0]), torch.tensor([1.0 + 1e-6])) is not None
    assert Close(atol=1e-3, rtol=0).description == "to within atol=0.001, rtol=0"
    assert exact.description == "exactly"


def test_describe_value_names_shape_dtype_or_type():
    assert (
        describe_value(torch.zeros(2, 3, dtype=torch.int64)) == "a tensor of shape (2, 3) (int64)"
    )
    assert describe_value(None) == "None"
    assert describe_value([1, 2, 3]) == "a list of 3"
    assert describe_value(1.5) == "a float"
