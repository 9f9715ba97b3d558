"""helpers.explorers.ep02: one query against every key, scaled, softmaxed, with a temperature."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from helpers.attention import scaled_dot_product_attention
from helpers.explorers.ep02 import plot_query_attention, query_attention

TOKENS = ["the", "cat", "sat", "down"]


def test_query_attention_gives_scores_scaled_scores_and_weights_by_hand():
    qa = query_attention(
        torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]), "ab", "q"
    )
    assert qa.scores.tolist() == [0.0, 2.0]  # q . k
    assert torch.allclose(qa.scaled, torch.tensor([0.0, 2.0 / math.sqrt(2)]))  # / sqrt(d_k=2)
    e = math.exp(2.0 / math.sqrt(2))
    assert torch.allclose(qa.weights, torch.tensor([1 / (1 + e), e / (1 + e)]))


def test_query_attention_is_one_row_of_helpers_attention():
    q, k, v = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    _, weights = scaled_dot_product_attention(q, k, v)  # (5, 5)
    for i in range(5):
        qa = query_attention(q[i], k, "abcde", "abcde"[i])
        assert torch.allclose(qa.weights, weights[i], atol=1e-6)
        assert torch.allclose(qa.weights.sum(), torch.tensor(1.0))


def test_temperature_flattens_or_sharpens_the_weights_but_keeps_their_order():
    q, k = torch.randn(4), torch.randn(6, 4)
    base = query_attention(q, k, "abcdef", "q")
    hot = query_attention(q, k, "abcdef", "q", temperature=100.0)
    cold = query_attention(q, k, "abcdef", "q", temperature=0.01)
    assert torch.allclose(hot.weights, torch.full((6,), 1 / 6), atol=0.01)  # nearly uniform
    assert cold.weights.max() > 0.99 and cold.best == base.best
    assert torch.equal(hot.weights.argsort(), base.weights.argsort())
    assert torch.equal(hot.scaled, base.scaled)  # temperature acts after the scaling


@pytest.mark.parametrize(
    "query, keys, tokens, temperature, message",
    [
        (torch.randn(2, 3), torch.randn(4, 3), TOKENS, 1.0, "one vector"),
        (torch.randn(3), torch.randn(4, 2), TOKENS, 1.0, r"\(T_k, 3\)"),
        (torch.randn(3), torch.randn(4, 3), TOKENS[:3], 1.0, "3 tokens for 4 keys"),
        (torch.randn(3), torch.randn(4, 3), TOKENS, 0.0, "temperature must be > 0"),
    ],
)
def test_query_attention_rejects_bad_input_with_a_clear_message(
    query, keys, tokens, temperature, message
):
    with pytest.raises(ValueError, match=message):
        query_attention(query, keys, tokens, "cat", temperature)


def test_summary_names_the_key_with_the_largest_weight():
    qa = query_attention(
        torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]), "ab", "q"
    )
    assert qa.summary() == (
        "query 'q' (temperature 1.00): largest weight 0.80 on 'b' (score 2.00, scaled 1.41)"
    )


def test_a_higher_temperature_lowers_the_largest_weight_in_the_summary():
    # scores 0, 2, 1; scaled by sqrt(2); weight on 'b' = e^(√2/T) / (1 + e^(√2/T) + e^(√2/2T))
    q, keys = torch.tensor([1.0, 1.0]), torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    cold = query_attention(q, keys, "abc", "q", temperature=0.5).summary()
    hot = query_attention(q, keys, "abc", "q", temperature=5.0).summary()
    end = "on 'b' (score 2.00, scaled 1.41)"
    assert cold == f"query 'q' (temperature 0.50): largest weight 0.77 {end}"
    assert hot == f"query 'q' (temperature 5.00): largest weight 0.38 {end}"


def test_plot_query_attention_draws_scores_and_weights_per_key():
    qa = query_attention(torch.tensor([1.0, 1.0, 1.0]), torch.randn(4, 3), TOKENS, "cat")
    fig = plot_query_attention(qa)
    ax_s, ax_w = fig.axes
    assert "cat" in ax_s.get_title() and ax_w.get_ylabel() == "attention weight"
    assert [t.get_text() for t in ax_w.get_xticklabels()] == TOKENS
    heights = [bar.get_height() for bar in ax_w.patches]
    assert heights == pytest.approx(qa.weights.tolist())
    score_heights = [bar.get_height() for bar in ax_s.patches]
    assert score_heights == pytest.approx(qa.scores.tolist() + qa.scaled.tolist())


def test_plot_query_attention_draws_on_the_axes_it_is_given():
    qa = query_attention(torch.tensor([1.0, 1.0, 1.0]), torch.randn(4, 3), TOKENS, "cat")
    fig, axes = plt.subplots(1, 3)
    assert plot_query_attention(qa, axes[1:], title="t") is fig
    assert not axes[0].patches and len(axes[1].patches) == 8 and len(axes[2].patches) == 4
    with pytest.raises(ValueError, match="two Axes"):
        plot_query_attention(qa, axes)
