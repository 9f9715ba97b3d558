"""helpers.explorers.common: the summary's width, range checks and picking one GPT head."""

import pytest
import torch

from helpers.explorers.common import SUMMARY_WIDTH, check_index, one_head, wrap_summary


def test_wrap_summary_breaks_long_summaries_between_words_only():
    text = "layer 0, head 0: " + "; ".join(f"weight {i} on key {i} 'x'" for i in range(12))
    wrapped = wrap_summary(text)
    assert len(text) > SUMMARY_WIDTH and "\n" in wrapped
    assert all(len(line) <= SUMMARY_WIDTH for line in wrapped.splitlines())
    assert " ".join(wrapped.split()) == text  # nothing lost, no word split
    assert wrap_summary("short summary") == "short summary"


def test_wrap_summary_keeps_a_long_word_whole():
    word = "x" * (SUMMARY_WIDTH + 5)
    assert wrap_summary(f"a {word} b").splitlines() == ["a", word, "b"]


def test_check_index_accepts_the_range_and_names_it_otherwise():
    check_index("head", 0, 2)
    check_index("head", 1, 2)
    for bad in (-1, 2):
        with pytest.raises(ValueError, match=rf"head must be in 0\.\.1, got {bad}"):
            check_index("head", bad, 2)


def test_one_head_picks_layer_and_head_with_or_without_the_batch_axis():
    maps = torch.arange(2 * 3 * 4 * 4.0).view(2, 3, 4, 4)  # (n_layer, n_head, T, T)
    assert torch.equal(one_head(maps, list("abcd"), 1, 2), maps[1, 2])
    assert torch.equal(one_head(maps[None], list("abcd"), 0, 1), maps[0, 1])


def test_one_head_rejects_bad_shapes_tokens_and_indices():
    maps = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\(n_layer, n_head, T, T\)"):
        one_head(maps[0], list("abcd"), 0, 0)
    with pytest.raises(ValueError, match="3 tokens for a sequence of length 4"):
        one_head(maps, list("abc"), 0, 0)
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.1, got 2"):
        one_head(maps, list("abcd"), 2, 0)
    with pytest.raises(ValueError, match=r"head must be in 0\.\.2, got 3"):
        one_head(maps, list("abcd"), 0, 3)
