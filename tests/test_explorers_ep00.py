"""helpers.explorers.ep00: the primer's word-similarity explorer."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.explorers.common import SUMMARY_WIDTH  # noqa: E402
from helpers.explorers.ep00 import SimilarityView, plot_similarity, similarity_view  # noqa: E402

TOKENS = ["the", "a", "cat", "dog", "sat", "ran"]
X = torch.tensor(
    [
        [0.0, 0.0, 2.0, 1.0],
        [0.0, 0.0, 2.0, -1.0],
        [2.0, 0.0, 0.0, 1.0],
        [2.0, 0.0, 0.0, -1.0],
        [0.0, 2.0, 0.0, 1.0],
        [0.0, 2.0, 0.0, -1.0],
    ]
)  # (T, C): three pairs of similar words


def test_scores_are_x_times_x_transposed_and_rows_are_softmaxes():
    view = similarity_view(X, TOKENS, temperature=2.0, query=2)
    assert torch.equal(view.scores, X @ X.T)
    assert torch.allclose(view.weights, torch.softmax(X @ X.T / 2.0, dim=-1))
    assert torch.allclose(view.weights.sum(-1), torch.ones(6))
    assert view.tokens == tuple(TOKENS) and view.query == 2 and view.temperature == 2.0


def test_view_is_frozen():
    view = similarity_view(X, TOKENS)
    with pytest.raises(AttributeError):
        view.temperature = 3.0  # type: ignore[misc]
    assert isinstance(view, SimilarityView)


def test_summary_names_self_weight_and_nearest_other_word():
    view = similarity_view(X, TOKENS, temperature=1.0, query=2)  # 'cat'
    w = torch.softmax(X @ X.T, dim=-1)[2]
    text = " ".join(view.summary().split())
    assert text.startswith(
        f"temperature 1.00: 'cat' puts {w[2]:.3f} on itself and {w[3]:.3f} on 'dog'"
    )
    assert f"uniform over 6 words: {math.log(6):.2f}" in text
    assert all(len(line) <= SUMMARY_WIDTH for line in view.summary().splitlines())


def test_temperature_flattens_and_sharpens():
    cold, warm, hot = (similarity_view(X, TOKENS, t, query=0) for t in (0.1, 1.0, 100.0))
    assert cold.weights[0, 0] > 0.999, "a low temperature puts everything on the best match"
    assert cold.entropy() < warm.entropy() < hot.entropy()
    assert abs(hot.entropy() - math.log(6)) < 0.01, "a high temperature is close to uniform"


def test_entropy_of_a_one_hot_row_is_zero_and_of_uniform_is_log_t():
    one_hot = SimilarityView(("a", "b"), torch.zeros(2, 2), torch.eye(2), 1.0, 0)
    uniform = SimilarityView(("a", "b"), torch.zeros(2, 2), torch.full((2, 2), 0.5), 1.0, 1)
    assert one_hot.entropy() == 0.0
    assert math.isclose(uniform.entropy(), math.log(2), rel_tol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": torch.zeros(6)}, "must be a (T, C) tensor"),
        ({"x": [[1.0]]}, "must be a (T, C) tensor"),
        ({"tokens": TOKENS[:5]}, "5 tokens for 6 rows"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"query": 6}, "query must be in 0..5"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {"x": X, "tokens": TOKENS, "temperature": 1.0, "query": 0} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        similarity_view(**args)


def test_plot_draws_the_weights_with_token_labels_on_the_given_ax():
    view = similarity_view(X, TOKENS, temperature=1.0, query=3)
    fig, ax = plt.subplots()
    assert plot_similarity(view, ax) is fig
    image = ax.get_images()[0].get_array()
    assert torch.allclose(torch.tensor(image.data).float(), view.weights)
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    outline = ax.patches[-1]
    assert outline.get_y() == 2.5 and outline.get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    assert "1.00" in ax.get_title()
    plt.close(fig)


def test_plot_makes_its_own_figure_without_an_ax():
    fig = plot_similarity(similarity_view(X, TOKENS))
    assert fig.axes and fig.axes[0].get_images()
    plt.close(fig)
