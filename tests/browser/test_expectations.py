"""The browser test's expectations, checked without a browser (part of `make unit`).

Each expectation reads the summary that an explorer view of ``helpers.explorers`` prints.
Here the same explorers make the summaries before and after the change the browser test
makes, so a change of wording or behaviour shows up in seconds; and every expectation is
shown to hold for the change the notebook describes and to fail on the opposite change
(``CASES`` has one entry per expectation, and a test checks that none is missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import pytest
import torch
from expectations import EXPECTATIONS, Expect
from lab_harness import REPO, stored_widget_cells

from helpers.explorers.ep00 import similarity_view
from helpers.explorers.ep01 import gpt_attention_view, influence_view
from helpers.explorers.ep02 import query_attention
from helpers.explorers.ep03 import head_view
from helpers.explorers.ep04 import ReversalView, position_view
from helpers.explorers.ep05 import StackTrace, stack_view
from helpers.explorers.ep06 import gpt_head_view, next_char_view
from helpers.explorers.ep07 import InductionHeadView
from helpers.gpt import GPT, GPTConfig
from helpers.multihead import MultiHeadAttention
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt

COURSE_NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

Pair = tuple[str, str]  # the summaries before and after one change of a control


def verdict(expect: Expect, before: str, after: str) -> bool:
    """Whether ``expect`` holds for these two summaries (both must match its pattern)."""
    problem = expect.problem(before, after)
    assert problem is None or problem.startswith("the notebook says"), problem
    return problem is None


@pytest.mark.parametrize("notebook", COURSE_NOTEBOOKS, ids=[nb.stem for nb in COURSE_NOTEBOOKS])
def test_every_widget_of_a_course_notebook_has_an_expectation(notebook):
    widgets = stored_widget_cells(notebook)
    assert widgets, f"{notebook.name} has no widget in its saved outputs"
    assert len(EXPECTATIONS.get(notebook.stem, [])) == len(widgets)


def test_every_pattern_compiles_and_names_what_it_reads():
    for expects in EXPECTATIONS.values():
        for expect in expects:
            assert re.compile(expect.pattern).groupindex, expect.pattern
            assert expect.says and expect.control


def test_read_turns_numbers_into_floats_and_ignores_line_breaks():
    expect = Expect("x", r"size (?P<size>[0-9.]+) at (?P<where>\w+)", lambda b, a: True, "x")
    assert expect.read("stream\nsize 9.50 at\nend") == {"size": 9.5, "where": "end"}
    assert expect.read("no numbers here") is None


# --- one case per expectation: (the change the notebook describes, opposite changes) ---


def similarity_temperature() -> tuple[Pair, list[Pair]]:
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))  # (T, C) word embeddings
    words = ["the", "a", "cat", "dog", "sat", "ran"]
    cold, hot = (similarity_view(x, words, t, query=2).summary() for t in (1.0, 10.0))
    return (cold, hot), [(hot, cold)]


def lstm_length() -> tuple[Pair, list[Pair]]:
    short, long = (influence_view("LSTM", T).summary() for T in (64, 68))
    attention = influence_view("attention", 68).summary()  # another model, whose ratio grows
    return (short, long), [(long, short), (short, attention)]


def gpt_query() -> tuple[Pair, list[Pair]]:
    config = GPTConfig(vocab_size=5, block_size=8, n_layer=2, n_head=2, n_embd=8)
    torch.manual_seed(0)
    with torch.no_grad():
        maps = GPT(config).eval().attention_maps(torch.tensor([[0, 1, 2, 3, 4, 0]]))
    tokens = list("abcdea")
    at = [gpt_attention_view(maps, tokens, 1, 0, q).summary() for q in (3, 4)]
    looks_ahead = torch.zeros(1, 1, 6, 6)
    looks_ahead[..., -1] = 1.0  # every query on the last key: what a causal mask forbids
    ahead = [gpt_attention_view(looks_ahead, tokens, 0, 0, q).summary() for q in (3, 4)]
    return (at[0], at[1]), [(at[1], at[0]), (ahead[0], ahead[1])]


def temperature_by_hand() -> tuple[Pair, list[Pair]]:
    g = torch.Generator().manual_seed(0)
    q, keys = torch.randn(4, generator=g), torch.randn(4, 4, generator=g)  # (d_k,), (T, d_k)
    tokens = ["the", "cat", "sat", "down"]
    cold, hot = (query_attention(q, keys, tokens, "cat", t).summary() for t in (1.0, 10.0))
    return (cold, hot), [(hot, cold)]


def mask_off() -> tuple[Pair, list[Pair]]:
    torch.manual_seed(0)
    attn, x = MultiHeadAttention(8, 2).eval(), torch.randn(6, 8)
    masked, free = (
        head_view(attn, x, list("abcdef"), 4, 1, kind, query=2).summary()
        for kind in ("padding + causal", "none")
    )
    return (masked, free), [(free, masked)]


def position_step() -> tuple[Pair, list[Pair]]:
    here, next_one = (position_view(p, 6, 64).summary() for p in (20, 21))
    narrower = position_view(21, 6, 32).summary()  # another width: other similarities
    return (here, next_one), [(here, narrower)]


def reversal_string() -> tuple[Pair, list[Pair]]:
    def summary(letters: str, predicted: str) -> str:
        tokens = list(letters + predicted)
        view = ReversalView(tokens, torch.eye(len(tokens)), letters, predicted, 0.9, 0, 0)
        return view.summary()

    first, second = summary("fcacec", "cecacf"), summary("abdeff", "ffedba")
    misread = summary("abdeff", "ffedab")  # the next string, no longer reversed exactly
    return (first, second), [(first, misread), (first, first)]


def stream_layer() -> tuple[Pair, list[Pair]]:
    weights = torch.full((3, 2, 4, 4), 0.25)  # (L, n_head, T, T): uniform heads
    growing = torch.tensor([1.0, 1.5, 2.25, 3.375])[:, None].expand(4, 4)  # (L + 1, T)
    traces = {
        "residual": StackTrace(weights, growing),  # every block adds to the stream
        "neither": StackTrace(weights, 1 / growing),  # the stream shrinks block by block
    }
    grow, shrink = (
        [stack_view(traces, name, layer, 0, list("abcd")).summary() for layer in (0, 1)]
        for name in traces
    )
    return (grow[0], grow[1]), [(grow[1], grow[0]), (shrink[0], shrink[1])]


@cache
def reference() -> tuple:
    model, tokenizer, _ = load_gpt(str(REFERENCE_CHECKPOINT))
    return model, tokenizer


def reference_temperature() -> tuple[Pair, list[Pair]]:
    model, tokenizer = reference()
    cold, hot = (
        next_char_view(model, tokenizer, "Zoro drew his ", t, 5, n_new=10).summary()
        for t in (0.8, 2.0)
    )
    return (cold, hot), [(hot, cold)]


def reference_heads() -> tuple[Pair, list[Pair]]:
    model, tokenizer = reference()
    sentence = "Luffy answered with a wide grin."
    with torch.no_grad():
        maps = model.attention_maps(torch.tensor([tokenizer.encode(sentence)]))[0]
    near, boundary = (gpt_head_view(maps, list(sentence), layer, 0).summary() for layer in (0, 2))
    return (boundary, near), [(near, boundary)]


def induction_layer() -> tuple[Pair, list[Pair]]:
    def summary(layer: int, head: int, score: float, length: int = 8) -> str:
        tokens = list("abcdefgh"[:length] * 2)
        eye = torch.eye(2 * length)
        return InductionHeadView(tokens, eye, length, layer, head, score, 0.1, length).summary()

    layer0, layer1 = summary(0, 0, 0.05), summary(1, 0, 0.75)
    no_induction = summary(1, 0, 0.3)  # a layer-1 head that does not look at the answers
    other_row = summary(1, 0, 0.75, length=6)
    return (layer0, layer1), [(layer1, layer0), (layer0, no_induction), (layer0, other_row)]


CASES: dict[tuple[str, int], Callable[[], tuple[Pair, list[Pair]]]] = {
    ("00_pytorch_primer", 0): similarity_temperature,
    ("01_rnn_vs_transformer", 0): lstm_length,
    ("01_rnn_vs_transformer", 1): gpt_query,
    ("02_attention_by_hand", 0): temperature_by_hand,
    ("03_multi_head_attention", 0): mask_off,
    ("04_positional_encoding", 0): position_step,
    ("04_positional_encoding", 1): reversal_string,
    ("05_transformer_block", 0): stream_layer,
    ("06_gpt_one_piece", 0): reference_temperature,
    ("06_gpt_one_piece", 1): reference_heads,
    ("07_pretrained", 0): induction_layer,
}


def test_every_expectation_has_a_case():
    listed = {(nb, i) for nb, expects in EXPECTATIONS.items() for i in range(len(expects))}
    assert set(CASES) == listed


@pytest.mark.parametrize("key", list(CASES), ids=[f"{nb}[{i}]" for nb, i in CASES])
def test_expectation_holds_as_the_notebook_says_and_fails_on_the_opposite(key):
    notebook, index = key
    expect = EXPECTATIONS[notebook][index]
    (before, after), opposites = CASES[key]()
    assert verdict(expect, before, after), expect.problem(before, after)
    assert opposites, "each expectation needs at least one opposite change"
    for wrong_before, wrong_after in opposites:
        assert not verdict(expect, wrong_before, wrong_after), (wrong_before, wrong_after)
