"""helpers.diagrams: data-flow diagrams (episode 02's Q/K/V flow)."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import FancyBboxPatch

from helpers.diagrams import plot_qkv_flow


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_qkv_flow_draws_every_step_with_its_shape_in_symbols():
    fig = plot_qkv_flow()
    texts = "\n".join(_texts(fig))
    for wanted in (
        "Q = x @ W_Q\n(T, d_k)",
        "K = x @ W_K\n(T, d_k)",
        "V = x @ W_V\n(T, d_v)",
        "scores = Q @ K.T\n(T, T)",
        "softmax(scores / √d_k)",
        "out = weights @ V\n(T, d_v)",
        "W_O\n(d_v, C)",
        "y = out @ W_O\n(T, C)",
    ):
        assert wanted in texts, wanted
    assert "=" not in texts.split("W_O\n")[1].split("\n")[0]  # no numbers without sizes
    ax = fig.axes[0]
    assert len([p for p in ax.patches if isinstance(p, FancyBboxPatch)]) == 12  # one per box
    assert len(ax.texts) == 12 + 13  # the box labels and one (empty) annotation per arrow
    assert ax.get_title() == "One attention head: where queries, keys and values go"
    plt.close(fig)


def test_qkv_flow_with_sizes_shows_the_numbers_of_episode_02s_example():
    fig = plot_qkv_flow(T=4, C=4, d_k=3, d_v=3)
    texts = _texts(fig)
    assert "W_O\n(d_v, C) = (3, 4)" in texts
    assert "x: one row per token\n(T, C) = (4, 4)" in texts
    assert any(t.startswith("weights (T, T) = (4, 4)") for t in texts)
    plt.close(fig)


def test_qkv_flow_draws_on_the_axes_it_is_given():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_qkv_flow(ax=right, title="mine") is fig
    assert right.get_title() == "mine" and not left.texts
    plt.close(fig)


@pytest.mark.parametrize(("kwargs", "message"), [({"T": 0}, "T must be"), ({"d_k": 2.5}, "d_k")])
def test_qkv_flow_rejects_sizes_that_are_not_positive_ints(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_qkv_flow(**kwargs)
