"""Comparing outputs with the reference's (all episodes: the "Your turn" checker, issue 18)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def describe_value(x: Any) -> str:
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
                    f"got {describe_value(received)}"
                )
            if len(received) != len(expected):
                return (
                    f"expected {len(expected)} items{at}, got {len(received)} "
                    f"({describe_value(received)})"
                )
            for i, (e, r) in enumerate(zip(expected, received, strict=True)):
                problem = self._compare(e, r, f"{where}[{i}]")
                if problem:
                    return problem
            return None
        if isinstance(expected, Mapping):
            if not isinstance(received, Mapping):
                return f"expected a dict{at}, got {describe_value(received)}"
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
                    f"got {describe_value(received)}{hint}"
                )
            return self._compare_tensors(expected, received, at)
        e, r = _as_float(expected), _as_float(received)
        if e is not None:
            if r is None:
                return f"expected a number{at}, got {describe_value(received)}"
            return self._compare_numbers(e, r, at)
        if expected != received:
            return f"expected {expected!r}{at}, got {describe_value(received)}"
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


@dataclass(frozen=True)
class Exact(Close):
    """Compare exactly: for booleans, integers and anything that must match to the bit."""

    atol: float = 0.0
    rtol: float = 0.0

    @property
    def description(self) -> str:
        """How close counts as equal, for the verdict."""
        return "exactly"
