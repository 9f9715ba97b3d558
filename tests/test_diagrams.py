"""helpers.diagrams: data-flow diagrams (episode 02's Q/K/V flow, episode 01's dependencies,
episode 03's head split)."""

import re

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import FancyBboxPatch

from helpers.diagrams import plot_dependencies, plot_head_split, plot_qkv_flow


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


# --- plot_dependencies (episode 01) -------------------------------------------------


def _arrows(ax):
    """(start, end) of every arrow drawn with annotate, in data coordinates."""
    return [(a.xyann, a.xy) for a in ax.texts if getattr(a, "arrow_patch", None) is not None]


def test_rnn_dependencies_are_a_chain_one_step_per_character():
    fig = plot_dependencies("Luffy", "RNN")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert [f"$h_{t}$" for t in range(5)] == [
        t for t in texts if t.startswith("$h_") and "-1" not in t
    ]
    assert [f"step {t}" for t in range(1, 6)] == [t for t in texts if t.startswith("step")]
    assert "predict 'u'" in texts and "predict ?" in texts  # the last one has nothing to predict
    chain = [(s, e) for s, e in _arrows(ax) if s[1] == e[1] == 0]  # horizontal: h_{t-1} -> h_t
    assert len(chain) == 5 and len(_arrows(ax)) == 3 * 5
    assert ax.get_title() == "An RNN unrolled: 5 steps, each waiting for the one before"
    plt.close(fig)


def test_attention_dependencies_read_every_earlier_input_directly_in_one_step():
    fig = plot_dependencies("abcd", "attention")
    ax = fig.axes[0]
    arrows = _arrows(ax)
    assert len(arrows) == 1 + 2 + 3 + 4  # output t reads inputs 0..t
    assert all(start[0] <= end[0] for start, end in arrows)  # never from a later input
    assert {end[1] for _, end in arrows} == {0.38}  # every arrow ends at an output box
    assert "step 1 (all outputs at once)" in [t.get_text() for t in ax.texts]
    assert ax.get_title() == "Causal attention: every output reads its inputs directly"
    plt.close(fig)


def test_dependencies_draw_on_the_axes_they_are_given():
    fig, (top, bottom) = plt.subplots(2, 1)
    assert plot_dependencies("ab", "attention", ax=bottom) is fig
    assert not top.texts and bottom.texts
    plt.close(fig)


@pytest.mark.parametrize(
    ("chars", "kind", "message"), [("ab", "LSTM", "kind must be"), ("", "RNN", "non-empty")]
)
def test_dependencies_reject_an_unknown_kind_and_no_characters(chars, kind, message):
    with pytest.raises(ValueError, match=message):
        plot_dependencies(chars, kind)


def _cell_texts(ax):
    """The "t,c" labels of the cells, in drawing order."""
    return [t.get_text() for t in ax.texts if re.fullmatch(r"\d+,\d+", t.get_text())]


def test_head_split_puts_every_token_in_every_head_with_that_head_s_features():
    tokens, C, n_head = ["the", "cat", "sat", "down"], 4, 2
    fig = plot_head_split(tokens, C, n_head, show_wrong=True)
    ax = fig.axes[0]
    cells = _cell_texts(ax)
    T, hs = len(tokens), C // n_head
    assert len(cells) == 4 * T * C  # four panels of T x C numbers each
    # the split and wrong panels must say what view + transpose and a bare view give
    q = torch.tensor([[10 * t + c for c in range(C)] for t in range(T)])[None]  # (1, T, C)
    right = q.view(1, T, n_head, hs).transpose(1, 2)[0]  # (h, T, hs)
    wrong = q.view(1, n_head, T, hs)[0]  # (h, T, hs): the mistake
    as_text = lambda blocks: [f"{v // 10},{v % 10}" for v in blocks.flatten().tolist()]  # noqa: E731
    panel = T * C
    assert cells[2 * panel : 3 * panel] == as_text(right)
    assert cells[3 * panel :] == as_text(wrong)
    assert cells[:panel] == as_text(q[0])
    texts = _texts(fig)
    assert "transpose(1, 2)\n(h, T, hs) = (2, 4, 2)" in texts
    assert any(t.startswith("wrong: view(B, h, T, hs)") for t in texts)
    plt.close(fig)


def test_head_split_colours_each_cell_by_its_feature_s_head_and_can_leave_out_the_mistake():
    fig = plot_head_split(list("abc"), 6, 3, show_wrong=False)
    ax = fig.axes[0]
    cells = [p for p in ax.patches if p.get_width() == 1.0]
    assert len(cells) == 3 * 3 * 6  # three panels
    colours = {}
    for patch, label in zip(cells, _cell_texts(ax), strict=True):
        head = int(label.split(",")[1]) // 2
        colours.setdefault(head, set()).add(patch.get_facecolor())
    assert all(len(c) == 1 for c in colours.values()) and len(colours) == 3
    assert len({next(iter(c)) for c in colours.values()}) == 3  # one colour per head
    assert not any(t.startswith("wrong") for t in _texts(fig))
    plt.close(fig)


@pytest.mark.parametrize(
    ("args", "message"),
    [((["a"], 5, 2), "divisible"), (([], 4, 2), "at least one token"), ((["a"], 4, 0), "n_head")],
)
def test_head_split_rejects_sizes_that_do_not_split(args, message):
    with pytest.raises(ValueError, match=message):
        plot_head_split(*args)
