"""Toy tasks that the episodes train small models on, as ``get_batch`` functions.

Each task returns batches in the form ``helpers.train.train`` expects:
``get_batch(split, batch_size, generator) -> (inputs..., targets)``.
Each episode's tasks sit in their own section below.
"""

# --- Episode 01: RNN vs transformer -------------------------------------------------

# --- Episode 02: attention by hand --------------------------------------------------

# --- Episode 03: multi-head attention and masks -------------------------------------

import torch  # noqa: E402  (each episode's section imports what it uses)

IGNORE_INDEX = -100  # cross_entropy's default ignore_index: "no answer here"


class TwoRelationTask:
    """Random letters in; at every position two answers out: the previous letter and the first.

    A ``get_batch`` for ``helpers.train.train``: ``task(split, batch_size, generator)``
    returns ``idx`` (B, T) letter ids and ``targets`` (B, T, 2), where
    ``targets[..., 0]`` is the previous letter (IGNORE_INDEX at position 0, which has
    none) and ``targets[..., 1]`` is the sequence's first letter. Answering both needs
    two relations at once: "one position back" and "position 0". Validation sequences
    are a fixed bank drawn from ``seed``; training sequences never repeat one of them.
    """

    def __init__(self, vocab_size: int = 16, seq_len: int = 12, n_val: int = 512, seed: int = 1234):
        if not 2 <= vocab_size <= 26:
            raise ValueError(f"vocab_size must be in 2..26 (letters a-z), got {vocab_size}")
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2 (a previous letter to find), got {seq_len}")
        if n_val < 1:
            raise ValueError(f"n_val must be positive, got {n_val}")
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.pad_id = vocab_size  # one extra id for padding; no batch contains it
        self.letters = [chr(ord("a") + i) for i in range(vocab_size)] + ["_"]
        gen = torch.Generator().manual_seed(seed)
        self.val = torch.randint(0, vocab_size, (n_val, seq_len), generator=gen)  # (n_val, T)
        self._val_codes = self._codes(self.val)

    def _codes(self, idx: torch.Tensor) -> torch.Tensor:
        """One integer per sequence (its letters read as a base-vocab_size number): (B,)."""
        powers = self.vocab_size ** torch.arange(self.seq_len - 1, -1, -1, dtype=torch.float64)
        return (idx.double() @ powers).long()  # exact below 2**53

    def targets(self, idx: torch.Tensor) -> torch.Tensor:
        """The two answers for letter ids ``idx`` (B, T): (B, T, 2) = (previous, first)."""
        prev = torch.full_like(idx, IGNORE_INDEX)
        prev[:, 1:] = idx[:, :-1]  # (B, T): position t's previous letter
        first = idx[:, :1].expand_as(idx)  # (B, T): the letter at position 0, everywhere
        return torch.stack([prev, first], dim=-1)  # (B, T, 2)

    def __call__(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of ``split`` ('train' or 'val'): idx (B, T) and targets (B, T, 2)."""
        if split == "val":
            rows = torch.randint(0, len(self.val), (batch_size,), generator=generator)
            idx = self.val[rows]
        elif split == "train":
            idx = torch.randint(0, self.vocab_size, (batch_size, self.seq_len), generator=generator)
            while (clash := torch.isin(self._codes(idx), self._val_codes)).any():
                idx[clash] = torch.randint(
                    0, self.vocab_size, (int(clash.sum()), self.seq_len), generator=generator
                )
        else:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return idx, self.targets(idx)

    def decode(self, idx: torch.Tensor) -> list[str]:
        """Letter ids (T,) -> a list of T one-letter strings ('_' for padding)."""
        return [self.letters[int(i)] for i in idx]

# --- Episode 04: positional encoding ------------------------------------------------

# --- Episode 05: the transformer block ----------------------------------------------
