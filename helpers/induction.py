"""In-context learning in miniature: repeated random tokens and induction heads (episode 07).

Episode 07, section "In-context learning, small enough to watch", builds it. A sequence
is a random string of tokens followed by the same string again. The first copy cannot
be predicted; the second can, but only by reading the context: "the last time I saw
this token, what came next?" A two-layer, attention-only transformer learns that rule
with two heads working together (Olsson et al., 2022, "In-context learning and
induction heads"):

- a **previous-token head** in layer 0 copies into each position the token before it;
- an **induction head** in layer 1 looks for the position whose previous token is the
  current token, that is the position just *after* the current token's previous
  occurrence, and copies the token found there into the prediction.

Positions in ``x``: the first copy is ``0 .. L-1``, the second copy ``L .. 2L-1``. At a
second-copy position ``t`` the current token last occurred at ``t - L``, so an induction
head attends to ``t - L + 1``, which holds the token to predict (for ``t = 2L - 1`` that
is position L: the string's first token, with which the third copy begins).
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from helpers.multihead import MultiHeadAttention


@dataclass(frozen=True)
class RepeatedTokensTask:
    """Rows of ``n_tokens`` tokens: a random string of L tokens, repeated until the row is full.

    The first copy cannot be predicted: its tokens are uniformly random. Every later token
    can, by anyone who reads the context: it is the token that followed the current token
    last time. L is drawn from ``min_length .. max_length`` for each row. It must vary:
    with one fixed L a head could find "the token after the previous occurrence" by its
    position alone (always L - 1 back), without reading the tokens, and that is not the
    rule we want the model to learn.

    A ``get_batch`` for ``helpers.train.train``: ``task(split, batch_size, generator)``
    returns ``x`` and ``y``, each (B, n_tokens - 1), y being x shifted by one token. Both
    splits draw fresh strings (there are vocab_size ** L of them, so validation strings are
    new to the model too).
    """

    vocab_size: int = 32
    min_length: int = 4
    max_length: int = 10
    n_tokens: int = 24

    def __post_init__(self):
        for name in ("vocab_size", "min_length", "max_length", "n_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"RepeatedTokensTask.{name} must be an int >= 2, got {value!r}")
        if self.min_length > self.max_length:
            raise ValueError(
                f"RepeatedTokensTask.min_length ({self.min_length}) must not exceed "
                f"max_length ({self.max_length})"
            )
        if self.n_tokens < 2 * self.max_length:
            raise ValueError(
                f"RepeatedTokensTask.n_tokens ({self.n_tokens}) must be at least twice "
                f"max_length ({2 * self.max_length}), so that every string is seen twice"
            )

    @property
    def seq_len(self) -> int:
        """Length of x and y: a row less one token."""
        return self.n_tokens - 1

    def sequences(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        length: int | None = None,
    ) -> torch.Tensor:
        """(B, n_tokens) rows; ``length`` fixes L for every row (None: drawn per row).

        Any L from 2 to (n_tokens - 1) // 2 may be fixed (x then holds both copies whole),
        also one that training never draws.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if length is None:
            span = self.max_length - self.min_length + 1
            lengths = self.min_length + torch.randint(span, (batch_size,), generator=generator)
        elif not isinstance(length, int) or not 2 <= length <= (self.n_tokens - 1) // 2:
            raise ValueError(
                f"length must be an int in 2..{(self.n_tokens - 1) // 2}, so that x (a row of "
                f"{self.n_tokens} tokens less one) holds two whole copies, got {length!r}"
            )
        else:
            lengths = torch.full((batch_size,), length)
        strings = torch.randint(
            self.vocab_size, (batch_size, self.n_tokens), generator=generator
        )  # (B, n_tokens): only the first L of each row are used
        pos = torch.arange(self.n_tokens)  # (n_tokens,)
        return strings.gather(1, pos % lengths[:, None])  # position t holds token t mod L

    def __call__(
        self, split: str, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y each (B, n_tokens - 1): y is x shifted by one token."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        seq = self.sequences(batch_size, generator)
        return seq[:, :-1], seq[:, 1:]

    def fixed(
        self, batch_size: int, length: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch whose strings all have ``length`` tokens: x, y each (B, n_tokens - 1)."""
        seq = self.sequences(batch_size, generator, length)
        return seq[:, :-1], seq[:, 1:]


def copy_positions(length: int) -> tuple[slice, slice]:
    """Positions of x in the first copy whose next token is new and random (0 .. L-2), and
    the positions of the second copy (L .. 2L-1), whose next token the first copy tells."""
    if not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an int >= 2, got {length!r}")
    return slice(0, length - 1), slice(length, 2 * length)


class AttentionOnlyBlock(nn.Module):
    """Pre-LN causal self-attention with a residual add, and no feed-forward network."""

    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_head, fused=False)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        """(B, T, C) -> (B, T, C), and the weights (B, n_head, T, T) when asked for."""
        a, w = self.attn(self.ln(x), causal=True, need_weights=need_weights)
        return x + a, w


class AttentionOnlyTransformer(nn.Module):
    """Token and learned position embeddings, ``n_layer`` attention-only blocks, an unembedding."""

    def __init__(
        self, vocab_size: int, block_size: int, n_layer: int = 2, n_head: int = 4, d_model: int = 64
    ):
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("block_size", block_size),
            ("n_layer", n_layer),
            ("n_head", n_head),
            ("d_model", d_model),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.block_size, self.n_layer, self.n_head = block_size, n_layer, n_head
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(AttentionOnlyBlock(d_model, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def _run(self, idx: torch.Tensor, need_weights: bool):
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.block_size}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C)
        maps = []
        for block in self.blocks:
            x, w = block(x, need_weights=need_weights)
            maps.append(w)
        return self.unembed(self.ln_f(x)), maps  # (B, T, V)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token ids (B, T) -> logits (B, T, V), and the mean cross-entropy when targets are given."""
        logits, _ = self._run(idx, need_weights=False)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Attention weights of every layer and head: (B, n_layer, n_head, T, T)."""
        _, maps = self._run(idx, need_weights=True)
        return torch.stack(maps, dim=1)


@torch.no_grad()
def per_position_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at every position, averaged over the batch: (T,) from x, y (B, T)."""
    logits, _ = model(x)  # (B, T, V)
    losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (B, T)
    return losses.mean(dim=0)


def induction_scores(weights: torch.Tensor, length: int) -> torch.Tensor:
    """Mean attention from each second-copy position t to t - length + 1: (...,) from (..., T, T).

    weights: attention over rows that begin with a string of ``length`` tokens and its
    repeat, e.g. (B, n_layer, n_head, T, T); the leading axes are kept (the batch is yours
    to average). The second copy is positions L .. 2L-1; at t the current token last
    occurred at t - L, and t - L + 1 holds the token after it. A perfect induction head
    scores 1.
    """
    T = _check_square(weights)
    if not isinstance(length, int) or length < 2 or 2 * length > T:
        raise ValueError(
            f"weights over {T} positions cannot hold a string of length {length} and its "
            f"repeat (need length >= 2 and 2 * length <= T)"
        )
    queries = torch.arange(length, 2 * length)  # the second copy
    return weights[..., queries, queries - length + 1].mean(dim=-1)


def previous_token_scores(weights: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position t >= 1 to t - 1: (...,) from (..., T, T)."""
    T = _check_square(weights)
    if T < 2:
        raise ValueError("a previous-token score needs at least 2 positions")
    queries = torch.arange(1, T)
    return weights[..., queries, queries - 1].mean(dim=-1)


def _check_square(weights: torch.Tensor) -> int:
    if weights.dim() < 2 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be (..., T, T), got {tuple(weights.shape)}")
    return weights.shape[-1]
