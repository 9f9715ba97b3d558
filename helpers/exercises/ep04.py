"""Episode 04's "Your turn" exercises: the sinusoidal encoding table, tokens plus positions.

The episode ("Positional encoding") writes the sinusoidal encoding by hand in section 2
(``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(same angle)``) and adds
learned position vectors to token vectors in sections 4 and 5. The exercises ask the
learner to write the whole (T, d_model) table without loops, and the input of a GPT:
each token's row of the token table plus its position's row of the position table.
The references are ``helpers``' own code, so nothing is defined twice; the mistakes are
written out here, one small function each.
"""

import torch

from helpers.exercises.core import Args, Case, Close, Exercise, Mistake
from helpers.positional import SINUSOID_BASE, sinusoidal_encoding


def sinusoidal_table(T: int, d_model: int) -> torch.Tensor:
    """Reference: the (T, d_model) sinusoidal encoding of positions 0..T-1 (d_model even)."""
    return sinusoidal_encoding(T, d_model)


def token_plus_position(
    idx: torch.Tensor, tok_table: torch.Tensor, pos_table: torch.Tensor
) -> torch.Tensor:
    """Reference: a GPT's input, tok_table[idx] + pos_table[0..T-1].

    idx (B, T) token ids, tok_table (V, C), pos_table (max_len, C) with T <= max_len;
    returns (B, T, C).
    """
    T = idx.shape[-1]
    return tok_table[idx] + pos_table[:T]  # (B, T, C) + (T, C) broadcasts over the batch


# --- sinusoidal_table: the mistakes ------------------------------------------------


def _pairs(T: int, d_model: int, base: float = SINUSOID_BASE, exponent=None):
    """Positions (T, 1) and the pair frequencies (d/2,) the formula gives (or a wrong exponent)."""
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d/2,)
    power = two_i / d_model if exponent is None else exponent(two_i, d_model)
    return pos, 1.0 / base**power  # (T, 1), (d/2,)


def _interleave(sines: torch.Tensor, cosines: torch.Tensor) -> torch.Tensor:
    """Columns sin, cos, sin, cos, ... from two (T, d/2) halves: (T, d)."""
    return torch.stack([sines, cosines], dim=-1).flatten(-2).float()


def _sin_cos_swapped(T, d_model):
    pos, omega = _pairs(T, d_model)
    return _interleave(torch.cos(pos * omega), torch.sin(pos * omega))


def _halves_not_interleaved(T, d_model):
    pos, omega = _pairs(T, d_model)
    return torch.cat([torch.sin(pos * omega), torch.cos(pos * omega)], dim=-1).float()


def _exponent_i_not_2i(T, d_model):
    # the pair index i in the exponent, where the formula has 2i
    pos, omega = _pairs(T, d_model, exponent=lambda two_i, d: (two_i / 2) / d)
    return _interleave(torch.sin(pos * omega), torch.cos(pos * omega))


def _frequency_per_column(T, d_model):
    # every column j gets base^(j/d), so a pair's sine and cosine turn at different speeds
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    j = torch.arange(d_model, dtype=torch.float64)  # (d,)
    angles = pos / SINUSOID_BASE ** (j / d_model)  # (T, d)
    pe = torch.where(j.long() % 2 == 0, torch.sin(angles), torch.cos(angles))
    return pe.float()


def _frequencies_rise(T, d_model):
    # pos * base^(2i/d): later pairs turn faster instead of slower
    pos, omega = _pairs(T, d_model)
    return _interleave(torch.sin(pos / omega), torch.cos(pos / omega))


def _base_1000(T, d_model):
    pos, omega = _pairs(T, d_model, base=1000.0)
    return _interleave(torch.sin(pos * omega), torch.cos(pos * omega))


def _base_e_10000(T, d_model):
    # exp(-2i * 10000 / d): the exp form with the log of the base forgotten
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    omega = torch.exp(-torch.arange(0, d_model, 2, dtype=torch.float64) * 10000.0 / d_model)
    return _interleave(torch.sin(pos * omega), torch.cos(pos * omega))


def _exponent_without_parentheses(T, d_model):
    # pos / 10000 ** 2 * i / d, which Python reads as ((pos / 10000**2) * i) / d
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = pos / SINUSOID_BASE**2 * i / d_model  # (T, d/2)
    return _interleave(torch.sin(angles), torch.cos(angles))


SINUSOIDAL_TABLE = Exercise(
    name="sinusoidal_table",
    reference=sinusoidal_table,
    cases=(
        Case("T=1 (position 0 only), d_model=2", lambda: Args(1, 2)),
        Case("T=4, d_model=6 (the table of section 2)", lambda: Args(4, 6)),
        Case("T=10, d_model=8", lambda: Args(10, 8)),
        Case("T=50, d_model=16", lambda: Args(50, 16)),
        Case("T=64, d_model=64 (the heatmap of section 2)", lambda: Args(64, 64)),
    ),
    mistakes=(
        Mistake(
            "sine and cosine are swapped",
            "Compare your row for position 0 with the one printed in section 2: which of "
            "sin and cos is 0 at angle 0, and which dimension of each pair holds it?",
            _sin_cos_swapped,
        ),
        Mistake(
            "all the sines come first and all the cosines after them",
            "The right numbers in the wrong columns: in the formula the pair that shares "
            "one frequency is dimensions 2i and 2i+1, side by side.",
            _halves_not_interleaved,
        ),
        Mistake(
            "the exponent uses the pair index i where the formula has 2i",
            "Your slower pairs turn too fast: over all pairs, the exponent of the base "
            "should run from 0 up to nearly 1.",
            _exponent_i_not_2i,
        ),
        Mistake(
            "each column gets its own frequency, so a pair's sine and cosine differ",
            "In a pair (2i, 2i+1) the sine and the cosine share one angle; in yours the "
            "cosine column turns at another speed than its sine.",
            _frequency_per_column,
        ),
        Mistake(
            "the frequencies rise with the dimension instead of falling",
            "Later pairs should turn more slowly than pair 0 (longer wavelengths); in "
            "yours they turn faster. Divide or multiply?",
            _frequencies_rise,
        ),
        Mistake(
            "the base is not 10000",
            "Pair 0 is right, the others turn at other speeds: check the number raised "
            "to the power 2i/d (in the exp form, the factor in front of 2i/d is the log "
            "of that number).",
            _base_1000,
            also=(_base_e_10000,),
        ),
        Mistake(
            "the exponent is missing its parentheses",
            "Python reads `a / b ** c * d` as `((a / b**c) * d)`: print your angle for "
            "pair 1 at position 1 and compare it with the formula.",
            _exponent_without_parentheses,
        ),
    ),
    compare=Close(atol=1e-4, rtol=0.0),  # float32 angles up to 63 radians are off by ~1e-5
)


# --- token_plus_position: the mistakes -----------------------------------------------


def _positions_by_token_id(idx, tok_table, pos_table):
    return tok_table[idx] + pos_table[idx]


def _no_positions(idx, tok_table, pos_table):
    return tok_table[idx]


def _concatenated(idx, tok_table, pos_table):
    tok = tok_table[idx]  # (B, T, C)
    pos = pos_table[: idx.shape[-1]].expand(*idx.shape, -1)  # (B, T, C)
    return torch.cat([tok, pos], dim=-1)  # (B, T, 2C)


def _positions_from_one(idx, tok_table, pos_table):
    T = idx.shape[-1]
    return tok_table[idx] + pos_table[1 : T + 1]  # a broadcast error when T == max_len


def _positions_from_one_indexed(idx, tok_table, pos_table):
    positions = torch.arange(1, idx.shape[-1] + 1)  # an IndexError when T == max_len
    return tok_table[idx] + pos_table[positions]


def _whole_table(idx, tok_table, pos_table):
    return tok_table[idx] + pos_table  # right only when T == max_len


def _length_from_batch_axis(idx, tok_table, pos_table):
    T = idx.shape[0]  # the batch size, not the length
    return tok_table[idx] + pos_table[:T]


def _tables(B: int, T: int, V: int, C: int, max_len: int) -> Args:
    """Random ids (B, T) below V, a token table (V, C) and a position table (max_len, C)."""
    return Args(torch.randint(V, (B, T)), torch.randn(V, C), torch.randn(max_len, C))


TOKEN_PLUS_POSITION = Exercise(
    name="token_plus_position",
    reference=token_plus_position,
    cases=(
        Case("B=2, T=3, V=5, C=4, a table of 8 positions", lambda: _tables(2, 3, 5, 4, 8), seed=1),
        Case(
            "B=1, T=6, V=4, C=3, a table of 6 positions (T = max_len)",
            lambda: _tables(1, 6, 4, 3, 6),
            seed=2,
        ),
        Case(
            "B=3, T=5, V=7, C=8, a table of 16 positions", lambda: _tables(3, 5, 7, 8, 16), seed=3
        ),
        Case(
            "B=4, T=1 (one position), V=3, C=2, a table of 4 positions",
            lambda: _tables(4, 1, 3, 2, 4),
            seed=4,
        ),
    ),
    mistakes=(
        Mistake(
            "the position table is indexed by the token ids",
            "The position table is read by where a token stands, not by which token it "
            "is: the same letter at two places should get two different position vectors.",
            _positions_by_token_id,
        ),
        Mistake(
            "no position vectors are added",
            "The output is the token vectors alone, so a token looks the same wherever it "
            "stands: attention is blind to order again (section 1).",
            _no_positions,
        ),
        Mistake(
            "the position vectors are concatenated, not added",
            "Your output is twice as wide. GPT keeps the width C: token and position "
            "vectors share the same C dimensions (section 5).",
            _concatenated,
        ),
        Mistake(
            "the positions are counted from 1",
            "Which row of the position table belongs to the first token of the sequence?",
            _positions_from_one,
            also=(_positions_from_one_indexed,),
        ),
        Mistake(
            "the whole position table is added, whatever the sequence's length",
            "A sequence can be shorter than the table (T <= max_len): it uses only as many "
            "rows as it has tokens.",
            _whole_table,
        ),
        Mistake(
            "the sequence length is read from the batch axis",
            "idx is (B, T): which of its axes counts the positions?",
            _length_from_batch_axis,
        ),
    ),
)

EXERCISES = (SINUSOIDAL_TABLE, TOKEN_PLUS_POSITION)
