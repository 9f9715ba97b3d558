"""The browser test's expectations, checked without a browser (part of `make unit`).

Each expectation reads the summary that helpers.widgets prints; here the same helpers
make the summaries before and after the change the browser test makes, so a change of
wording or behaviour shows up in seconds, and each check is shown to fail on the
opposite change.
"""

from __future__ import annotations

import re

import pytest
import torch
from expectations import EXPECTATIONS, Expect
from lab_harness import REPO, stored_widget_cells

from helpers.sample import REFERENCE_CHECKPOINT, load_gpt
from helpers.widgets import (
    gpt_head_view,
    influence_view,
    next_char_summary,
    next_char_view,
    position_view,
    query_attention,
    query_attention_summary,
)

COURSE_NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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


def test_lstm_influence_shrinks_with_length():
    expect = EXPECTATIONS["01_rnn_vs_transformer"][0]
    short, long = influence_view("LSTM", 64)[1], influence_view("LSTM", 68)[1]
    assert verdict(expect, short, long)
    assert not verdict(expect, long, short)


def test_temperature_flattens_the_hand_made_attention():
    expect = EXPECTATIONS["02_attention_by_hand"][0]
    g = torch.Generator().manual_seed(0)
    q, keys = torch.randn(4, generator=g), torch.randn(4, 4, generator=g)  # (d_k,), (T, d_k)
    tokens = ["the", "cat", "sat", "down"]
    cold = query_attention_summary(query_attention(q, keys, 1.0), tokens, "cat")
    hot = query_attention_summary(query_attention(q, keys, 10.0), tokens, "cat")
    assert verdict(expect, cold, hot)
    assert not verdict(expect, hot, cold)


def test_similarity_depends_on_distance_not_position():
    expect = EXPECTATIONS["04_positional_encoding"][0]
    here, next_one = position_view(20, 6, 64).summary(), position_view(21, 6, 64).summary()
    assert verdict(expect, here, next_one)
    narrower = position_view(21, 6, 32).summary()  # another width: other similarities
    assert not verdict(expect, here, narrower)


@pytest.fixture(scope="module")
def reference():
    model, tokenizer, _ = load_gpt(str(REFERENCE_CHECKPOINT))
    return model, tokenizer


def test_temperature_raises_the_entropy_of_the_next_character(reference):
    expect = EXPECTATIONS["06_gpt_one_piece"][0]
    model, tokenizer = reference

    def summary(temperature):
        view = next_char_view(model, tokenizer, "Zoro drew his ", temperature, 5, n_new=10)
        return next_char_summary(view)

    assert verdict(expect, summary(0.8), summary(2.0))
    assert not verdict(expect, summary(2.0), summary(0.8))


def test_layer_1_head_0_looks_back_further_than_layer_0_head_0(reference):
    expect = EXPECTATIONS["06_gpt_one_piece"][1]
    model, tokenizer = reference
    sentence = "Luffy answered with a wide grin."
    with torch.no_grad():
        maps = model.attention_maps(torch.tensor([tokenizer.encode(sentence)]))[0]
    tokens = list(sentence)
    first, word_start = (gpt_head_view(maps, tokens, layer, 0)[1] for layer in (0, 1))
    assert verdict(expect, first, word_start)
    assert not verdict(expect, word_start, first)
