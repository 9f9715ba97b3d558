"""What several episodes' explorers share: the summary's width, range checks, one GPT head,
the words for a query's strongest key.

Used by ``helpers.explorers.ep01`` ... ``ep06``; the contract they follow is written in
``helpers/explorers/__init__.py``.
"""

import textwrap
from collections.abc import Sequence

import torch

SUMMARY_WIDTH = 88  # characters: JupyterLab wraps longer output lines mid-word


def wrap_summary(text: str) -> str:
    """A view's printed summary, broken between words into lines of at most SUMMARY_WIDTH."""
    return textwrap.fill(text, SUMMARY_WIDTH, break_long_words=False, break_on_hyphens=False)


def check_index(name: str, value: int, n: int) -> None:
    """Raise a ValueError naming ``name`` and the range 0..n-1 unless value is in it."""
    if not 0 <= value < n:
        raise ValueError(f"{name} must be in 0..{n - 1}, got {value}")


def query_link(tokens: Sequence[str], weights: torch.Tensor, query: int) -> str:
    """Where row ``query`` of weights (T_q, T_k) puts its largest weight, as summary words.

    E.g. "query 5 'f' puts 0.62 on key 4 'e'" (tokens quoted with repr, so a space or a
    newline stays visible).
    """
    key = int(weights[query].argmax())
    return (
        f"query {query} {tokens[query]!r} puts {weights[query, key]:.2f} "
        f"on key {key} {tokens[key]!r}"
    )


def one_head(maps: torch.Tensor, tokens: Sequence[str], layer: int, head: int) -> torch.Tensor:
    """One head's weights (T, T) from a GPT's attention maps of one sequence, checked.

    maps: ``GPT.attention_maps`` of one sequence, (n_layer, n_head, T, T) or
    (1, n_layer, n_head, T, T); tokens: the T characters.
    """
    if maps.dim() == 5 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(
            f"maps must be (n_layer, n_head, T, T) for one sequence, got {tuple(maps.shape)}"
        )
    n_layer, n_head, T, _ = maps.shape
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for a sequence of length {T}")
    check_index("layer", layer, n_layer)
    check_index("head", head, n_head)
    return maps[layer, head]
