"""Toy tasks that the episodes train small models on, as ``get_batch`` functions.

Each task returns batches in the form ``helpers.train.train`` expects:
``get_batch(split, batch_size, generator) -> (inputs..., targets)``. Each episode's
tasks sit in their own section below: key-value lookup (episode 02, section 9), two
relations (episode 03, section 6), causal reversal (episode 04, section 6), reversal
and BERT's masking (episode 05, section 7).

``IGNORE_INDEX`` marks a target with no answer; it is ``F.cross_entropy``'s default
``ignore_index``, so every model's loss (``helpers.gpt`` included) skips those positions.
"""

import torch

IGNORE_INDEX = -100  # cross_entropy's default ignore_index: "no answer here"


class HeldOutStrings:
    """Random strings of ``length`` letters, with a fixed validation bank training never draws.

    ``draw('val', ...)`` samples rows of the bank; ``draw('train', ...)`` draws fresh strings
    and re-draws any that happen to be in the bank, so validation is always unseen.
    """

    def __init__(self, vocab_size: int, length: int, n_val: int, seed: int):
        self.vocab_size, self.length = vocab_size, length
        gen = torch.Generator().manual_seed(seed)
        self.val = torch.randint(0, vocab_size, (n_val, length), generator=gen)  # (n_val, L)
        self._val_codes = self.codes(self.val)

    def codes(self, idx: torch.Tensor) -> torch.Tensor:
        """One integer per string (its letters read as a base-vocab_size number): (B,)."""
        powers = self.vocab_size ** torch.arange(self.length - 1, -1, -1)  # int64
        return (idx * powers).sum(dim=-1)

    def draw(self, split: str, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` strings (B, L) of ``split``: 'train' or 'val'."""
        if split == "val":
            rows = torch.randint(0, len(self.val), (batch_size,), generator=generator)
            return self.val[rows]
        if split != "train":
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        shape = (batch_size, self.length)
        idx = torch.randint(0, self.vocab_size, shape, generator=generator)
        while (clash := torch.isin(self.codes(idx), self._val_codes)).any():
            idx[clash] = torch.randint(
                0, self.vocab_size, (int(clash.sum()), self.length), generator=generator
            )
        return idx


# --- Episode 01: RNN vs transformer -------------------------------------------------

# --- Episode 02: attention by hand --------------------------------------------------


class KeyValueLookupTask:
    """Retrieval by key: a row of (key, value) pairs and a query key; answer its value.

    A ``get_batch`` for ``helpers.train.train``: ``task(split, batch_size, generator)``
    returns ``keys`` (B, P) key ids, all different within a row, ``values`` (B, P) value
    ids, ``query`` (B,) one of the row's keys, and ``answer`` (B,) the value paired with
    it. Keys are letters A, B, ... and values digits 0, 1, ...; the answer sits at a
    random position, so a model must look it up by matching the query to the keys.
    Validation rows are a fixed bank drawn from ``seed``; training rows are fresh draws
    (with the default sizes there are about 3e10 possible rows, so a training row
    practically never repeats a validation one).
    """

    def __init__(
        self, n_keys: int = 8, n_values: int = 8, n_pairs: int = 6, n_val: int = 512, seed: int = 2
    ):
        if not 2 <= n_keys <= 26:
            raise ValueError(f"n_keys must be in 2..26 (letters A-Z), got {n_keys}")
        if not 2 <= n_values <= 10:
            raise ValueError(f"n_values must be in 2..10 (digits 0-9), got {n_values}")
        if not 2 <= n_pairs <= n_keys:
            raise ValueError(
                f"n_pairs must be in 2..n_keys={n_keys} (keys in a row are all different), "
                f"got {n_pairs}"
            )
        if n_val < 1:
            raise ValueError(f"n_val must be positive, got {n_val}")
        self.n_keys, self.n_values, self.n_pairs = n_keys, n_values, n_pairs
        self.key_names = [chr(ord("A") + i) for i in range(n_keys)]
        gen = torch.Generator().manual_seed(seed)
        self.val = self.sample(n_val, gen)  # (keys, values, query, answer)

    def sample(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fresh random rows: keys (B, P), values (B, P), query (B,), answer (B,)."""
        B, P = batch_size, self.n_pairs
        keys = torch.rand(B, self.n_keys, generator=generator).argsort(dim=-1)[:, :P]  # (B, P)
        values = torch.randint(0, self.n_values, (B, P), generator=generator)  # (B, P)
        where = torch.randint(0, P, (B,), generator=generator)  # (B,): position of the answer
        rows = torch.arange(B)
        return keys, values, keys[rows, where], values[rows, where]

    def __call__(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch of ``split`` ('train' or 'val'): keys, values, query, answer."""
        if split == "train":
            return self.sample(batch_size, generator)
        if split == "val":
            rows = torch.randint(0, len(self.val[0]), (batch_size,), generator=generator)
            return tuple(t[rows] for t in self.val)
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")

    def position_of_query(self, keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Where each row's query key sits among its keys: (B,) positions."""
        return (keys == query[:, None]).int().argmax(dim=-1)

    def pair_labels(self, keys: torch.Tensor, values: torch.Tensor) -> list[str]:
        """One row's pairs as labels: keys (P,), values (P,) -> ['C=4', 'A=7', ...]."""
        return [f"{self.key_names[int(k)]}={int(v)}" for k, v in zip(keys, values, strict=True)]

    def query_label(self, query: torch.Tensor | int) -> str:
        """A query key as a label, e.g. '?C'."""
        return f"?{self.key_names[int(query)]}"


# --- Episode 03: multi-head attention and masks -------------------------------------


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
            raise ValueError(
                f"seq_len must be at least 2 (a previous letter to find), got {seq_len}"
            )
        if vocab_size**seq_len >= 2**63:
            raise ValueError(
                f"vocab_size**seq_len must fit in int64 (sequences are told apart by number), "
                f"got {vocab_size}**{seq_len}"
            )
        if n_val < 1:
            raise ValueError(f"n_val must be positive, got {n_val}")
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.pad_id = vocab_size  # one extra id for padding; no batch contains it
        self.letters = [chr(ord("a") + i) for i in range(vocab_size)] + ["_"]
        self._held_out = HeldOutStrings(vocab_size, seq_len, n_val, seed)
        self.val = self._held_out.val  # (n_val, T)

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
        idx = self._held_out.draw(split, batch_size, generator)  # (B, T)
        return idx, self.targets(idx)

    def decode(self, idx: torch.Tensor) -> list[str]:
        """Letter ids (T,) -> a list of T one-letter strings ('_' for padding)."""
        return [self.letters[int(i)] for i in idx]


# --- Episode 04: positional encoding ------------------------------------------------


REVERSE_SEPARATOR = ">"  # written between the letters and their reversal


class CausalReverseTask:
    """Letters, a separator, then the same letters backwards (``cafd>dfac``), for a causal GPT.

    ``task(split, batch_size, generator)`` returns ``idx`` (B, 2n) and ``targets`` (B, 2n)
    for ``helpers.train.train``: the whole sequence is n letters, '>', the n letters
    reversed (2n + 1 tokens); ``idx`` is it without its last token and ``targets`` without
    its first, so every position's target is the next token. Only the n reversed letters
    are answers; the other targets are IGNORE_INDEX (-100, cross-entropy's default), as the
    input letters are random and cannot be predicted. Reversing needs to know where each
    letter stands: the letter to write at answer position t sits at position 2n - 1 - t.
    Validation sequences are a fixed bank drawn from ``seed``; training never repeats one.
    """

    def __init__(self, vocab_size: int = 8, n_letters: int = 6, n_val: int = 512, seed: int = 4321):
        if not 2 <= vocab_size <= 26:
            raise ValueError(f"vocab_size must be in 2..26 (letters a-z), got {vocab_size}")
        if not 1 <= n_letters <= 20:
            raise ValueError(f"n_letters must be in 1..20, got {n_letters}")
        if n_val < 1:
            raise ValueError(f"n_val must be positive, got {n_val}")
        self.n_letters, self.n_val = n_letters, n_val
        self.n_letter_kinds = vocab_size
        self.sep_id = vocab_size  # the separator's id comes after the letters'
        self.vocab_size = vocab_size + 1  # letters and the separator: the model's vocabulary
        self.tokens = [chr(ord("a") + i) for i in range(vocab_size)] + [REVERSE_SEPARATOR]
        self._held_out = HeldOutStrings(self.n_letter_kinds, n_letters, n_val, seed)
        self.val_letters = self._held_out.val  # (n_val, n)

    @property
    def seq_len(self) -> int:
        """Length T of ``idx``: n letters, the separator, n - 1 reversed letters."""
        return 2 * self.n_letters

    def make(self, letters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Letter ids (B, n) -> ``idx`` (B, 2n) and ``targets`` (B, 2n) (IGNORE_INDEX off answers)."""
        if letters.dim() != 2 or letters.shape[1] != self.n_letters:
            raise ValueError(f"letters must be (B, {self.n_letters}), got {tuple(letters.shape)}")
        B, n = letters.shape
        sep = torch.full((B, 1), self.sep_id, dtype=letters.dtype)
        seq = torch.cat([letters, sep, letters.flip(1)], dim=1)  # (B, 2n + 1)
        idx = seq[:, :-1]  # (B, 2n)
        targets = seq[:, 1:].clone()  # (B, 2n): the next token at every position
        targets[:, :n] = IGNORE_INDEX  # the next input letter or the separator: not an answer
        return idx, targets

    def __call__(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of ``split`` ('train' or 'val'): idx (B, 2n) and targets (B, 2n)."""
        return self.make(self._held_out.draw(split, batch_size, generator))

    def decode(self, idx: torch.Tensor) -> list[str]:
        """Token ids (T,) -> a list of T one-character strings."""
        return [self.tokens[int(i)] for i in idx]


def answer_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """(share of answers right, share of sequences with every answer right) for argmax predictions.

    logits (B, T, V), targets (B, T) with IGNORE_INDEX where a position is not an answer.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (B, T, V) and targets (B, T) disagree: {tuple(logits.shape)} vs "
            f"{tuple(targets.shape)}"
        )
    counted = targets != IGNORE_INDEX  # (B, T)
    if not counted.any():
        raise ValueError(f"targets hold no answers (every position is {IGNORE_INDEX})")
    right = logits.argmax(dim=-1) == targets  # (B, T)
    per_answer = right[counted].float().mean().item()
    per_sequence = (right | ~counted).all(dim=1).float().mean().item()
    return per_answer, per_sequence


# --- Episode 05: the transformer block ----------------------------------------------


class ReverseTask:
    """Random letter strings whose answer is the same string backwards ("abcd" -> "dcba").

    Two ways to ask for a batch, one per kind of model:

    - ``task(split, batch_size, generator)`` -> ``idx`` (B, T) and ``targets`` (B, T) with
      ``targets[:, t] = idx[:, T - 1 - t]``: for an encoder-only stack that answers at
      every position at once.
    - ``task.seq2seq(split, batch_size, generator)`` -> ``src`` (B, T), ``tgt_in`` (B, T)
      and ``targets`` (B, T) for ``helpers.blocks.EncoderDecoder``: the decoder reads
      ``tgt_in`` = BOS followed by the reversed string shifted right, and predicts the
      reversed string one token at a time.

    Validation strings are a fixed bank drawn from ``seed``; training strings never
    repeat one of them, so the validation loss measures generalisation.
    """

    def __init__(self, vocab_size: int = 8, seq_len: int = 8, n_val: int = 256, seed: int = 505):
        if not 2 <= vocab_size <= 26:
            raise ValueError(f"vocab_size must be in 2..26 (letters a-z), got {vocab_size}")
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2 (something to reverse), got {seq_len}")
        if vocab_size**seq_len >= 2**63:
            raise ValueError(
                f"vocab_size**seq_len must fit in int64 (strings are told apart by number), "
                f"got {vocab_size}**{seq_len}"
            )
        if not 1 <= n_val <= vocab_size**seq_len // 2:
            raise ValueError(
                f"n_val must be in 1..{vocab_size**seq_len // 2} (at most half the "
                f"{vocab_size**seq_len} strings, the rest are for training), got {n_val}"
            )
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.bos_id = vocab_size  # the decoder's start token; never in a source string
        self.letters = [chr(ord("a") + i) for i in range(vocab_size)] + ["<s>"]
        self._held_out = HeldOutStrings(vocab_size, seq_len, n_val, seed)
        self.val = self._held_out.val  # (n_val, T)

    def strings(self, split: str, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` letter strings (B, T) of ``split`` ('train' or 'val')."""
        return self._held_out.draw(split, batch_size, generator)

    def __call__(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder-only batch: strings (B, T) and their reverses (B, T)."""
        idx = self.strings(split, batch_size, generator)
        return idx, idx.flip(1)

    def seq2seq(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder-decoder batch: src (B, T), tgt_in = BOS + targets[:, :-1] (B, T), targets (B, T)."""
        src = self.strings(split, batch_size, generator)
        targets = src.flip(1)  # (B, T)
        bos = torch.full((batch_size, 1), self.bos_id, dtype=torch.long)
        tgt_in = torch.cat([bos, targets[:, :-1]], dim=1)  # (B, T): teacher forcing
        return src, tgt_in, targets

    def decode(self, idx: torch.Tensor) -> list[str]:
        """Letter ids (T,) -> a list of T strings ('<s>' for BOS)."""
        return [self.letters[int(i)] for i in idx]


BERT_MIX = (0.8, 0.1, 0.1)  # BERT's rule for the chosen positions: [MASK], a random token, kept


def mask_tokens(
    idx: torch.Tensor,
    mask_id: int,
    p: float = 0.15,
    generator: torch.Generator | None = None,
    mix: tuple[float, float, float] = (1.0, 0.0, 0.0),
    vocab_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-language-model input: choose about a fraction ``p`` of the tokens to predict.

    idx: token ids (B, T). Returns ``inputs`` (B, T) and ``targets`` (B, T): the original
    token at the chosen positions and IGNORE_INDEX (-100, cross-entropy's default)
    everywhere else, so the loss is taken only at the chosen positions. At least one
    position per sequence is chosen. ``mix`` = (mask, random, keep) says what a chosen
    position's input becomes: ``mask_id`` with the first probability, a random token
    below ``vocab_size`` (never ``mask_id``) with the second, itself with the third. The
    default hides every chosen token behind ``mask_id``; ``BERT_MIX`` (0.8, 0.1, 0.1) is
    BERT's rule, so that the model cannot rely on seeing ``[MASK]`` wherever it is asked.
    """
    if idx.dim() != 2:
        raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if (idx == mask_id).any():
        raise ValueError(f"mask_id {mask_id} already occurs in idx; it must be a token of its own")
    if len(mix) != 3 or min(mix) < 0 or abs(sum(mix) - 1.0) > 1e-6:
        raise ValueError(
            f"mix must be three probabilities (mask, random, keep) that sum to 1, got {mix}"
        )
    if mix[1] > 0:
        if vocab_size is None or vocab_size < 2:
            raise ValueError(
                f"mix {mix} swaps in random tokens: give vocab_size (at least 2), got {vocab_size}"
            )
        if int(idx.max()) >= vocab_size:
            raise ValueError(f"idx holds token {int(idx.max())}, not below vocab_size {vocab_size}")
    chosen = torch.rand(idx.shape, generator=generator) < p  # (B, T)
    empty = ~chosen.any(dim=1)  # rows where nothing was chosen get one random position
    if empty.any():
        pick = torch.randint(0, idx.shape[1], (int(empty.sum()),), generator=generator)
        chosen[empty.nonzero().squeeze(1), pick] = True
    targets = idx.masked_fill(~chosen, IGNORE_INDEX)
    if tuple(mix) == (1.0, 0.0, 0.0):
        return idx.masked_fill(chosen, mask_id), targets
    u = torch.rand(idx.shape, generator=generator)  # (B, T): which change a chosen position gets
    to_mask = chosen & (u < mix[0])
    to_random = chosen & (u >= mix[0]) & (u < mix[0] + mix[1])
    inputs = idx.masked_fill(to_mask, mask_id)
    n_random = int(to_random.sum())
    if n_random:
        skip_mask = 0 <= mask_id < vocab_size  # draw from the other vocab_size - 1 tokens
        random = torch.randint(0, vocab_size - skip_mask, (n_random,), generator=generator)
        if skip_mask:
            random = random + (random >= mask_id).long()
        inputs[to_random] = random.to(inputs.dtype)
    return inputs, targets
