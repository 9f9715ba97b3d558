"""helpers.exercises.ep04: the "sinusoidal_table" and "token_plus_position" exercises of episode 04."""

import math

import pytest
import torch

from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, WRONG_VALUES, validate
from helpers.exercises.ep04 import sinusoidal_table, token_plus_position


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


@pytest.mark.parametrize("name", ["sinusoidal_table", "token_plus_position"])
def test_each_exercise_tells_its_mistakes_apart(name):
    validate(EXERCISES[name])
    assert len(EXERCISES[name].mistakes) >= 2


# --- sinusoidal_table ----------------------------------------------------------------


def test_sinusoidal_reference_is_the_formula_of_section_2():
    # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(the same angle)
    table = sinusoidal_table(5, 6)
    for pos in range(5):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)


def _loops(T, d_model):
    pe = torch.zeros(T, d_model)
    for pos in range(T):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


def _float32_exp_form(T, d_model):
    # the usual vectorised form, entirely in float32
    pos = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def _stacked_float64(T, d_model):
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([torch.sin(pos * omega), torch.cos(pos * omega)], -1).view(T, d_model)


@pytest.mark.parametrize(
    "learner", [_loops, _float32_exp_form, _stacked_float64], ids=["loops", "float32 exp", "f64"]
)
def test_other_correct_ways_of_writing_the_table_pass(learner):
    assert quiet_check("sinusoidal_table", learner).passed


def _learner_swapped_slices(T, d_model):
    pos = torch.arange(T).float()[:, None]
    omega = 1 / 10000 ** (torch.arange(0, d_model, 2).float() / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 1::2] = torch.sin(pos * omega)  # sin into the odd columns
    pe[:, 0::2] = torch.cos(pos * omega)
    return pe


def _learner_cat_halves(T, d_model):
    pos = torch.arange(T).float()[:, None]
    omega = 1 / 10000 ** (torch.arange(0, d_model, 2).float() / d_model)
    return torch.cat([(pos * omega).sin(), (pos * omega).cos()], dim=1)


def _learner_loop_over_columns(T, d_model):
    pe = torch.zeros(T, d_model)
    for pos in range(T):
        for j in range(d_model):
            angle = pos / 10000 ** (j / d_model)  # j where the pair's 2i belongs
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize(
    ("learner", "mistake"),
    [
        (_learner_swapped_slices, "sine and cosine are swapped"),
        (_learner_cat_halves, "all the sines come first"),
        (_learner_loop_over_columns, "each column gets its own frequency"),
    ],
    ids=["slices swapped", "torch.cat halves", "loop over columns"],
)
def test_sinusoidal_mistakes_as_learners_write_them_are_named(learner, mistake):
    result = quiet_check("sinusoidal_table", learner)
    assert result.status == MISTAKE and result.mistake.startswith(mistake)


def test_sinusoidal_wrong_shape_names_both_shapes():
    result = quiet_check("sinusoidal_table", lambda T, d_model: sinusoidal_table(T, d_model).T)
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 2), got (2, 1)" in result.message


def test_sinusoidal_exception_names_type_message_and_case():
    def learner(T, d_model):
        if T > 10:
            raise ValueError("too long for me")
        return sinusoidal_table(T, d_model)

    result = quiet_check("sinusoidal_table", learner)
    assert result.status == ERROR and "ValueError: too long for me" in result.message
    assert "case 4 of 5 (T=50, d_model=16)" in result.message
    with pytest.raises(ValueError, match="too long for me"):
        quiet_check("sinusoidal_table", learner, raise_errors=True)


@pytest.mark.parametrize(
    "learner",
    [
        lambda T, d_model: sinusoidal_table(T, d_model) * 0.5,
        lambda T, d_model: torch.randn(T, d_model),
        # two known mistakes at once (swapped and halves) is neither of them
        lambda T, d_model: torch.cat(
            [sinusoidal_table(T, d_model)[:, 1::2], sinusoidal_table(T, d_model)[:, 0::2]], 1
        ),
    ],
    ids=["half size", "random numbers", "swapped and not interleaved"],
)
def test_an_unrelated_wrong_table_gets_no_hint(learner):
    result = quiet_check("sinusoidal_table", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


def test_sinusoidal_tolerance_accepts_float32_and_rejects_a_small_real_error():
    # float32 rounding of the angles is far inside the tolerance; a base of 10001 is not
    assert quiet_check("sinusoidal_table", _float32_exp_form).passed

    def base_10001(T, d_model):
        pos = torch.arange(T, dtype=torch.float64)[:, None]
        omega = 10001.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        return torch.stack([torch.sin(pos * omega), torch.cos(pos * omega)], -1).view(T, -1)

    assert not quiet_check("sinusoidal_table", base_10001).passed


# --- token_plus_position -------------------------------------------------------------


def test_token_plus_position_reference_is_what_gpt_computes():
    from helpers.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=4))
    idx = torch.randint(5, (2, 6))
    ours = token_plus_position(idx, model.tok_emb.weight, model.pos_emb.table.weight)
    theirs = model.tok_emb(idx) + model.pos_emb(torch.arange(6))
    assert torch.equal(ours, theirs)


def _learner_one_hot(idx, tok_table, pos_table):
    V = tok_table.shape[0]
    one_hot = torch.nn.functional.one_hot(idx, V).float()  # (B, T, V)
    positions = torch.arange(idx.shape[1])
    return one_hot @ tok_table + pos_table[positions]


def _learner_embedding_modules(idx, tok_table, pos_table):
    tok = torch.nn.Embedding.from_pretrained(tok_table)
    pos = torch.nn.Embedding.from_pretrained(pos_table)
    return tok(idx) + pos(torch.arange(idx.size(1)))[None]


@pytest.mark.parametrize(
    "learner", [_learner_one_hot, _learner_embedding_modules], ids=["one-hot", "nn.Embedding"]
)
def test_other_correct_ways_of_adding_positions_pass(learner):
    assert quiet_check("token_plus_position", learner).passed


def _learner_len_idx(idx, tok_table, pos_table):
    return tok_table[idx] + pos_table[: len(idx)]  # len() of a (B, T) tensor is B


def _learner_arange_from_one(idx, tok_table, pos_table):
    positions = torch.arange(1, idx.shape[1] + 1)
    return tok_table[idx] + pos_table[positions]


@pytest.mark.parametrize(
    ("learner", "mistake"),
    [
        (_learner_len_idx, "the sequence length is read from the batch axis"),
        (_learner_arange_from_one, "the positions are counted from 1"),
    ],
    ids=["len(idx)", "arange(1, T + 1)"],
)
def test_token_plus_position_mistakes_as_learners_write_them_are_named(learner, mistake):
    result = quiet_check("token_plus_position", learner)
    assert result.status == MISTAKE and result.mistake == mistake


def test_token_plus_position_wrong_shape_and_exception():
    flat = quiet_check(
        "token_plus_position", lambda i, t, p: token_plus_position(i, t, p).flatten(0, 1)
    )
    assert flat.status == WRONG_SHAPE and "expected shape (2, 3, 4), got (6, 4)" in flat.message

    def learner(idx, tok_table, pos_table):
        if idx.shape[0] == 1:
            raise KeyError("one string only")
        return token_plus_position(idx, tok_table, pos_table)

    broken = quiet_check("token_plus_position", learner)
    assert broken.status == ERROR and "KeyError" in broken.message
    assert "case 2 of 4 (B=1, T=6" in broken.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda idx, tok, pos: tok[idx] - pos[: idx.shape[1]],
        lambda idx, tok, pos: 2 * tok[idx] + pos[: idx.shape[1]],
        lambda idx, tok, pos: tok[idx] * pos[: idx.shape[1]],
    ],
    ids=["subtracted", "token counted twice", "multiplied"],
)
def test_an_unrelated_wrong_sum_gets_no_hint(learner):
    result = quiet_check("token_plus_position", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


@pytest.mark.parametrize("offset", ["1", "2", "3"])
def test_mistakes_are_named_under_other_seeds(monkeypatch, offset):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    for name in ("sinusoidal_table", "token_plus_position"):
        assert quiet_check(name, EXERCISES[name].reference).passed
        for mistake in EXERCISES[name].mistakes:
            assert quiet_check(name, mistake.fn).mistake == mistake.name


def test_verdicts_that_the_notebook_shows_are_the_same_under_any_seed(monkeypatch):
    def stub(*args):
        raise NotImplementedError

    seen = set()
    for offset in ("0", "7"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        seen.add(
            tuple(
                (
                    quiet_check(name, EXERCISES[name].reference).message,
                    quiet_check(name, stub).message,
                )
                for name in ("sinusoidal_table", "token_plus_position")
            )
        )
    assert len(seen) == 1
