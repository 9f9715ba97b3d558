"""helpers.explorers.ep07: one head of the attention-only model on a repeated string."""

import matplotlib.pyplot as plt
import pytest
import torch

from helpers.explorers.common import SUMMARY_WIDTH
from helpers.explorers.ep07 import (
    InductionHeadView,
    induction_head_view,
    plot_induction_head,
    token_names,
)
from helpers.induction import AttentionOnlyTransformer, RepeatedTokensTask

TASK = RepeatedTokensTask(vocab_size=12, min_length=3, max_length=6, n_tokens=14)


def model(seed=0):
    torch.manual_seed(seed)
    return AttentionOnlyTransformer(12, TASK.seq_len, n_layer=2, n_head=2, d_model=16)


def row(length=5, seed=0):
    x, _ = TASK.fixed(1, length, torch.Generator().manual_seed(seed))
    return x[0]  # (T,)


def induction_model():
    """A model whose layer-1 head 0 is a perfect induction head, built by hand.

    Its attention is replaced by a fixed pattern: from every position t >= L it looks at
    t - L + 1, where L is read off the row; other heads look at the previous token.
    """
    m = model()

    def fixed_maps(idx):
        T = idx.shape[1]
        L = next(p for p in range(1, T) if torch.equal(idx[0, p:], idx[0, :-p]))
        previous = torch.zeros(T, T)
        induction = torch.zeros(T, T)
        for t in range(T):
            previous[t, max(t - 1, 0)] = 1.0
            induction[t, t - L + 1 if t >= L else 0] = 1.0
        heads = torch.stack([torch.stack([previous, previous]), torch.stack([induction, previous])])
        return heads[None]  # (1, n_layer, n_head, T, T)

    m.attention_maps = fixed_maps
    return m


def test_token_names_are_letters():
    assert token_names([0, 1, 25, 26, 51]) == ["a", "b", "z", "A", "Z"]
    assert token_names(torch.tensor([2, 3])) == ["c", "d"]
    with pytest.raises(ValueError, match="token id 52 has no letter"):
        token_names([52])


def test_view_of_an_induction_head_scores_one_and_outlines_its_cells():
    r = row(5)
    view = induction_head_view(induction_model(), r, 5, layer=1, head=0)
    assert isinstance(view, InductionHeadView)
    assert view.induction == 1.0 and view.previous == pytest.approx(1 / 12, abs=1e-6)
    assert view.induction_cells == [(t, t - 4) for t in range(5, 10)]
    assert view.tokens == token_names(r) and view.weights.shape == (13, 13)
    prev = induction_head_view(induction_model(), r, 5, layer=0, head=0)
    assert prev.induction == 0.0 and prev.previous == 1.0


def test_view_of_an_untrained_model_and_its_summary():
    view = induction_head_view(model(), row(4), 4, layer=0, head=1)
    assert 0.0 <= view.induction <= 1.0 and 0 <= view.correct <= 4
    assert torch.allclose(view.weights.sum(-1), torch.ones(13), atol=1e-6)
    text = view.summary()
    assert text.startswith("layer 0, head 1, a string of 4 tokens repeated: induction score")
    assert f"the model predicts {view.correct} of the 4 second-copy tokens" in " ".join(
        text.split()
    )
    assert max(map(len, text.splitlines())) <= SUMMARY_WIDTH


def test_view_leaves_the_model_in_its_mode():
    m = model().train()
    induction_head_view(m, row(), 5, 0, 0)
    assert m.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(layer=2), "layer must be in 0..1"),
        (dict(head=-1), "head must be in 0..1"),
        (dict(length=7), r"length must be in 2\.\.6"),
        (dict(length=4), "does not repeat its first 4 tokens"),
    ],
)
def test_bad_controls_are_named(kwargs, message):
    args = dict(layer=0, head=0, length=5) | kwargs
    with pytest.raises(ValueError, match=message):
        induction_head_view(model(), row(5), args["length"], args["layer"], args["head"])


def test_view_takes_a_batch_of_one_only():
    with pytest.raises(ValueError, match="row must be one sequence"):
        induction_head_view(model(), torch.stack([row(), row()]), 5, 0, 0)


def test_plot_draws_the_head_with_red_outlines_on_the_given_axes():
    view = induction_head_view(induction_model(), row(5), 5, 1, 0)
    fig, ax = plt.subplots()
    assert plot_induction_head(view, ax) is fig
    assert "induction score 1.00" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == view.tokens
    red = [p for p in ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert len(red) == 5, "one outline per second-copy query"
