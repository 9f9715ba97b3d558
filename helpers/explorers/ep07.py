"""Explorers of episode 07, ``07_pretrained.ipynb``.

Section 4 ("In-context learning, small enough to watch", "Explore the heads") uses
``induction_head_view`` and ``plot_induction_head``: one head of the two-layer
attention-only model on one row of a repeated random string, with the cells an induction
head should light up outlined. The contract is in ``helpers/explorers/__init__.py``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.explorers.common import check_index, wrap_summary
from helpers.induction import AttentionOnlyTransformer, induction_scores, previous_token_scores
from helpers.plots import plot_attention

TOKEN_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # a name for each id


def token_names(ids: Sequence[int] | torch.Tensor) -> list[str]:
    """Token ids as letters (0 -> 'a', 26 -> 'A'), so a repeated string reads on an axis."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    bad = [i for i in ids if not 0 <= i < len(TOKEN_LETTERS)]
    if bad:
        raise ValueError(f"token id {bad[0]} has no letter (ids 0..{len(TOKEN_LETTERS) - 1})")
    return [TOKEN_LETTERS[i] for i in ids]


@dataclass(frozen=True)
class InductionHeadView:
    """One head of an attention-only model on one row: a string of ``length`` tokens, repeated.

    tokens (T,) label the row; weights (T, T) are the head's attention; induction is its
    mean weight from each second-copy position t (L .. 2L-1) on t - L + 1, the token after
    the previous occurrence; previous its mean weight on t - 1; correct counts the
    second-copy positions whose next token the model's likeliest guess gets right.
    """

    tokens: list[str]
    weights: torch.Tensor
    length: int
    layer: int
    head: int
    induction: float
    previous: float
    correct: int

    @property
    def induction_cells(self) -> list[tuple[int, int]]:
        """(second-copy query t, key t - L + 1): where an induction head puts its weight."""
        L = self.length
        return [(t, t - L + 1) for t in range(L, 2 * L)]

    def summary(self) -> str:
        """Where this head looks from the second copy, and how well the model continues it."""
        return wrap_summary(
            f"layer {self.layer}, head {self.head}, a string of {self.length} tokens repeated: "
            f"induction score {self.induction:.2f} (weight from the second copy on the token "
            f"after the previous occurrence), previous-token score {self.previous:.2f}; the "
            f"model predicts {self.correct} of the {self.length} second-copy tokens"
        )


@torch.no_grad()
def induction_head_view(
    model: AttentionOnlyTransformer, row: torch.Tensor, length: int, layer: int, head: int
) -> InductionHeadView:
    """Run ``model`` on ``row`` (T,) or (1, T), which begins with a string of ``length``
    tokens and its repeat; keep head ``head`` of layer ``layer``."""
    idx = row[None] if row.dim() == 1 else row  # (1, T)
    if idx.dim() != 2 or idx.shape[0] != 1:
        raise ValueError(f"row must be one sequence, (T,) or (1, T), got {tuple(row.shape)}")
    check_index("layer", layer, model.n_layer)
    check_index("head", head, model.n_head)
    T = idx.shape[1]
    if not 2 <= length <= T // 2:
        raise ValueError(f"length must be in 2..{T // 2} for a row of {T} tokens, got {length}")
    if not torch.equal(idx[0, length : 2 * length], idx[0, :length]):
        raise ValueError(f"the row does not repeat its first {length} tokens right after them")
    was_training = model.training
    model.eval()
    weights = model.attention_maps(idx)[0, layer, head]  # (T, T)
    guesses = model(idx)[0][0].argmax(dim=-1)  # (T,): the likeliest next token at each position
    model.train(was_training)
    second = torch.arange(length, 2 * length)  # queries of the second copy
    targets = idx[0, second - length + 1]  # the next token, told by the first copy
    return InductionHeadView(
        tokens=token_names(idx[0]),
        weights=weights,
        length=length,
        layer=layer,
        head=head,
        induction=float(induction_scores(weights, length)),
        previous=float(previous_token_scores(weights)),
        correct=int((guesses[second] == targets).sum()),
    )


def plot_induction_head(view: InductionHeadView, ax: plt.Axes | None = None) -> Figure:
    """The view's head on its row, the induction cells outlined in red, on ``ax``."""
    return plot_attention(
        view.weights,
        view.tokens,
        title=(
            f"layer {view.layer}, head {view.head}: induction score {view.induction:.2f}\n"
            f"(red: the token after the previous occurrence)"
        ),
        ax=ax,
        outline_cells=view.induction_cells,
    )
