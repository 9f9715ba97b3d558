"""A character-level recurrent language model: the baseline of episode 01.

Episode 01 builds it (section 2, "how an RNN reads") and races it against a tiny
transformer (section 8).

An RNN reads one token after another; step t needs the hidden state of step t-1,
so a sequence of T tokens takes T sequential steps however many cores there are.
"""

import torch
from torch import nn
from torch.nn import functional as F


class CharRNN(nn.Module):
    """Embedding -> RNN or LSTM -> linear head over the vocabulary."""

    def __init__(self, vocab_size: int, d_model: int = 64, cell: str = "lstm", n_layer: int = 1):
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}")
        if vocab_size < 1 or d_model < 1 or n_layer < 1:
            raise ValueError(
                f"vocab_size, d_model and n_layer must be positive, got {vocab_size}, {d_model}, {n_layer}"
            )
        self.vocab_size = vocab_size
        self.emb = nn.Embedding(vocab_size, d_model)
        recurrent = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = recurrent(d_model, d_model, num_layers=n_layer, batch_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token ids (B, T) -> next-token logits (B, T, V), and the loss when targets are given."""
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        h, _ = self.rnn(self.emb(idx))  # (B, T, C)
        logits = self.head(h)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss
