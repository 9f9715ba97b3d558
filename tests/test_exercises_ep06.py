"""helpers.exercises.ep06: gpt_forward, train_step, next_token_probs, and the capstone."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.data import DEFAULT_CORPUS, RECORD_SEPARATOR, load_corpus
from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, NOT_WRITTEN, WRONG_SHAPE, WRONG_VALUES, validate
from helpers.exercises.ep06 import (
    AGREES_BELOW,
    CapstoneReport,
    as_attention_fn,
    attention_in_model,
    gpt_forward,
    next_token_probs,
    train_step,
)
from helpers.gpt import GPT, GPTConfig
from helpers.multihead import MultiHeadAttention
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt

NAMES = ("gpt_forward", "train_step", "next_token_probs")


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


def all_mistakes(name):
    """(mistake name, hint, function) for every way of writing each known mistake."""
    return [
        pytest.param(m.name, m.hint, fn, id=f"{m.name}[{i}]")
        for m in EXERCISES[name].mistakes
        for i, fn in enumerate((m.fn, *m.also))
    ]


@pytest.fixture(autouse=True)
def one_thread():
    """The cases are tiny: one thread is faster and does not fight other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_tells_its_mistakes_apart(name):
    validate(EXERCISES[name])
    assert len(EXERCISES[name].mistakes) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_with_one_short_verdict(name, capsys):
    result = check(name, EXERCISES[name].reference)
    assert result.passed
    assert capsys.readouterr().out.count("\n") == 1, "one short verdict"


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_not_written_yet(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = quiet_check(name, stub)
    assert result.status == NOT_WRITTEN and "not written yet" in result.message


@pytest.mark.parametrize("offset", ["1", "2", "3"])
def test_mistakes_are_named_under_other_seeds(monkeypatch, offset):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    for name in NAMES:
        assert quiet_check(name, EXERCISES[name].reference).passed
        for mistake in EXERCISES[name].mistakes:
            assert quiet_check(name, mistake.fn).mistake == mistake.name


def test_verdicts_that_the_notebook_shows_are_the_same_under_any_seed(monkeypatch):
    def stub(*args, **kwargs):
        raise NotImplementedError

    seen = set()
    for offset in ("0", "7"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        seen.add(
            tuple(
                (quiet_check(n, EXERCISES[n].reference).message, quiet_check(n, stub).message)
                for n in NAMES
            )
        )
    assert len(seen) == 1


# --- next_token_probs -------------------------------------------------------------------


def test_next_token_probs_reference_is_softmax_of_logits_over_temperature_with_top_k():
    logits = torch.tensor([2.0, 0.0, 1.0, -1.0])
    probs = next_token_probs(logits, 0.5, top_k=2)
    expected = torch.tensor([math.exp(4), 0.0, math.exp(2), 0.0])
    assert torch.allclose(probs, expected / expected.sum())
    assert torch.allclose(next_token_probs(logits, 1.0, top_k=10), torch.softmax(logits, -1))


def _sorting_learner(logits, temperature=1.0, top_k=None):
    scaled = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        values, order = scaled.sort(dim=-1, descending=True)
        values[..., top_k:] = float("-inf")
        scaled = torch.empty_like(scaled).scatter(-1, order, values)
    return F.softmax(scaled, dim=-1)


def _renormalising_learner(logits, temperature=1.0, top_k=None):
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_k is not None:
        kth = probs.topk(min(top_k, probs.shape[-1]), dim=-1).values[..., -1:]
        probs = probs * (probs >= kth)
        probs = probs / probs.sum(dim=-1, keepdim=True)  # zeroed after the softmax, renormalised
    return probs


@pytest.mark.parametrize("learner", [_sorting_learner, _renormalising_learner])
def test_other_correct_ways_of_writing_next_token_probs_pass(learner):
    assert quiet_check("next_token_probs", learner).passed


@pytest.mark.parametrize(("name", "hint", "fn"), all_mistakes("next_token_probs"))
def test_each_next_token_probs_mistake_is_named_with_its_own_hint(name, hint, fn):
    result = quiet_check("next_token_probs", fn)
    assert not result.passed and result.status == MISTAKE and result.mistake == name
    assert hint in result.message


def test_next_token_probs_top_k_beyond_the_vocabulary_is_an_error_with_its_case():
    def learner(logits, temperature=1.0, top_k=None):
        scaled = logits / temperature
        if top_k is not None:  # topk(k) with k > V raises
            kth = scaled.topk(top_k, dim=-1).values[..., -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        return torch.softmax(scaled, dim=-1)

    result = quiet_check("next_token_probs", learner)
    assert result.status == ERROR and "RuntimeError" in result.message
    assert "case 6 of 6 (one row of 7 logits, temperature 1, top-k 20" in result.message


def test_next_token_probs_wrong_shape_names_both_shapes():
    result = quiet_check(
        "next_token_probs", lambda logits, temperature=1.0, top_k=None: logits[..., :-1]
    )
    assert result.status == WRONG_SHAPE and "expected shape (6,), got (5,)" in result.message


def test_an_unrelated_wrong_distribution_gets_no_hint():
    def uniform(logits, temperature=1.0, top_k=None):
        return torch.full_like(logits, 1.0 / logits.shape[-1])

    result = quiet_check("next_token_probs", uniform)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


# --- train_step ---------------------------------------------------------------------------


def _learner_step(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    logits, _ = model(x)  # the loss by hand from the logits
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss  # a 0-d tensor counts as the number


def test_a_correct_step_written_another_way_passes():
    assert quiet_check("train_step", _learner_step).passed


def test_train_step_reference_is_one_step_of_helpers_train():
    from helpers.train import TrainConfig, train

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=1, n_embd=8))
    twin = GPT(model.config)
    twin.load_state_dict(model.state_dict())
    x, y = torch.randint(7, (2, 6)), torch.randint(7, (2, 6))
    cfg = TrainConfig(
        max_steps=1,
        warmup_steps=0,
        lr=0.01,
        eval_interval=1,
        eval_iters=1,
        progress=False,
        device="cpu",
        weight_decay=0.0,
    )
    train(twin, lambda split, B, g: (x, y), cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.95), weight_decay=0.0)
    train_step(model, optimizer, x, y, max_norm=cfg.grad_clip)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-7), name


@pytest.mark.parametrize(("name", "hint", "fn"), all_mistakes("train_step"))
def test_each_train_step_mistake_is_named_with_its_own_hint(name, hint, fn):
    result = quiet_check("train_step", fn)
    assert not result.passed and result.status == MISTAKE and result.mistake == name
    assert hint in result.message


def test_train_step_exception_names_type_message_and_case():
    def learner(model, optimizer, x, y, max_norm=1.0):
        logits, _ = model(x)
        loss = F.cross_entropy(logits, y)  # (B, T, V) read as (N, C, d): a shape error
        loss.backward()
        optimizer.step()
        return loss.item()

    result = quiet_check("train_step", learner)
    assert result.status == ERROR and "RuntimeError" in result.message
    assert "case 1 of 4 (a new 2-layer GPT" in result.message
    with pytest.raises(RuntimeError):
        quiet_check("train_step", learner, raise_errors=True)


def test_a_step_with_the_wrong_learning_rate_gets_no_hint():
    def learner(model, optimizer, x, y, max_norm=1.0):
        for group in optimizer.param_groups:
            group["lr"] = 0.1
        return train_step(model, optimizer, x, y, max_norm)

    result = quiet_check("train_step", learner)
    assert not result.passed and result.mistake is None and result.status == WRONG_VALUES


def test_train_step_returning_nothing_says_so():
    def learner(model, optimizer, x, y, max_norm=1.0):
        train_step(model, optimizer, x, y, max_norm)

    result = quiet_check("train_step", learner)
    assert not result.passed and "got None" in result.message


# --- gpt_forward --------------------------------------------------------------------------


def _learner_forward(state_dict, idx, config):
    """A correct forward pass written the way a learner might: einsum, F.linear, -1e9."""
    sd = state_dict
    B, T = idx.shape
    C, nh = config.n_embd, config.n_head
    x = F.embedding(idx, sd["tok_emb.weight"]) + sd["pos_emb.table.weight"][:T]
    hidden = torch.tril(torch.ones(T, T)) == 0
    for i in range(config.n_layer):
        p = f"blocks.{i}."
        h = F.layer_norm(x, (C,), sd[p + "ln1.weight"], sd[p + "ln1.bias"])
        qkv = F.linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        q, k, v = (t.reshape(B, T, nh, C // nh) for t in qkv.chunk(3, dim=-1))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(C // nh)
        weights = scores.masked_fill(hidden, -1e9).softmax(-1)
        y = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(B, T, C)
        x = x + F.linear(y, sd[p + "attn.out.weight"], sd[p + "attn.out.bias"])
        h = F.layer_norm(x, (C,), sd[p + "ln2.weight"], sd[p + "ln2.bias"])
        u = F.gelu(F.linear(h, sd[p + "ffn.up.weight"], sd[p + "ffn.up.bias"]))
        x = x + F.linear(u, sd[p + "ffn.down.weight"], sd[p + "ffn.down.bias"])
    x = F.layer_norm(x, (C,), sd["ln_f.weight"], sd["ln_f.bias"])
    return F.linear(x, sd["lm_head.weight"])


def test_a_correct_forward_written_another_way_passes():
    assert quiet_check("gpt_forward", _learner_forward).passed


def test_gpt_forward_reference_gives_the_course_models_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=9, block_size=8, n_layer=2, n_head=2, n_embd=8)).eval()
    idx = torch.randint(9, (2, 5))
    assert torch.equal(gpt_forward(model.state_dict(), idx, model.config), model(idx)[0])


@pytest.mark.parametrize(("name", "hint", "fn"), all_mistakes("gpt_forward"))
def test_each_gpt_forward_mistake_is_named_with_its_own_hint(name, hint, fn):
    result = quiet_check("gpt_forward", fn)
    assert not result.passed and result.status == MISTAKE and result.mistake == name
    assert hint in result.message


def test_gpt_forward_wrong_shape_names_both_shapes():
    result = quiet_check(
        "gpt_forward", lambda sd, idx, config: _learner_forward(sd, idx, config)[:, -1]
    )
    assert (
        result.status == WRONG_SHAPE and "expected shape (1, 5, 11), got (1, 11)" in result.message
    )


def test_two_mistakes_at_once_get_no_hint():
    from helpers.exercises.ep06 import _forward

    def learner(sd, idx, config):
        return _forward(sd, idx, config, causal=False, positions=False)

    result = quiet_check("gpt_forward", learner)
    assert not result.passed and result.mistake is None and result.status == WRONG_VALUES


# --- the capstone ---------------------------------------------------------------------------


def _attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _not_scaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


@pytest.fixture(scope="module")
def reference():
    """The shipped reference model and a stretch of its validation text (ids)."""
    model, tokenizer, _ = load_gpt(str(REFERENCE_CHECKPOINT))
    _, val_records = load_corpus(DEFAULT_CORPUS).split(0.1)
    ids = torch.tensor(tokenizer.encode(RECORD_SEPARATOR.join(val_records)[:2000]))
    return model, ids


def _snapshot(model):
    params = {k: v.clone() for k, v in model.state_dict().items()}
    attn = [(m.fused, m.attention_fn) for m in model.modules() if isinstance(m, MultiHeadAttention)]
    return params, attn, model.training


def test_a_correct_attention_reproduces_the_course_model(reference):
    model, ids = reference
    report = attention_in_model(_attention, ids, course=model, n_new=40, n_windows=2)
    assert report.agrees and report.same_text
    assert len(report.layer_diffs) == model.config.n_layer
    assert max(report.layer_diffs) < AGREES_BELOW
    assert abs(report.loss_yours - report.loss_course) < 1e-5
    assert "greedy generation: the same 40 characters" in report.summary()
    assert report.summary().count("(rounding)") == model.config.n_layer


def test_helpers_own_attention_returning_a_pair_is_accepted(reference):
    from helpers.attention import scaled_dot_product_attention

    model, ids = reference
    report = attention_in_model(
        scaled_dot_product_attention, ids, course=model, n_new=20, n_windows=1
    )
    assert report.agrees


def test_a_known_wrong_attention_changes_the_text_and_the_loss(reference):
    model, ids = reference
    report = attention_in_model(_not_scaled, ids, course=model, n_new=40, n_windows=2)
    assert not report.agrees and not report.same_text
    assert min(report.layer_diffs) > 0.1 and report.loss_yours > report.loss_course + 0.05
    summary = report.summary()
    assert "greedy generation: differs from character" in summary
    assert "yours:" in summary and "course's:" in summary


@pytest.mark.parametrize("fn", [_attention, _not_scaled], ids=["correct", "wrong"])
def test_the_course_model_is_left_as_it_was(reference, fn):
    model, ids = reference
    x = ids[:64][None]
    before_logits = model(x)[0]
    model.train()  # a training-mode model comes back in training mode
    before = _snapshot(model)
    attention_in_model(fn, ids, course=model, n_new=10, n_windows=1)
    after = _snapshot(model)
    model.eval()
    assert after[2] is True and before[1] == after[1]
    for name, tensor in before[0].items():
        assert torch.equal(tensor, after[0][name]), name
    assert torch.equal(model(x)[0], before_logits)


def test_without_a_course_model_it_loads_the_checkpoint_itself(reference):
    _, ids = reference
    report = attention_in_model(_attention, ids, n_new=10, n_windows=1)
    assert report.agrees


def test_a_course_model_with_other_weights_is_refused(reference):
    _, ids = reference
    other, _, _ = load_gpt(str(REFERENCE_CHECKPOINT))
    with torch.no_grad():
        other.ln_f.bias.add_(1.0)
    with pytest.raises(ValueError, match=r"ln_f.bias\) are not those of"):
        attention_in_model(_attention, ids, course=other, n_new=5, n_windows=1)


def test_the_stub_and_a_wrong_shape_raise_clear_errors(reference):
    model, ids = reference

    def stub(q, k, v, mask=None):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        attention_in_model(stub, ids, course=model, n_new=5, n_windows=1)
    with pytest.raises(ValueError, match=r"returned \(1, 4, 128, 128\) .* expected the output"):
        attention_in_model(
            lambda q, k, v, mask=None: q @ k.transpose(-2, -1), ids, course=model, n_windows=1
        )
    with pytest.raises(ValueError, match="windows of 128 need"):
        attention_in_model(_attention, ids[:100], course=model)


def test_as_attention_fn_gives_the_model_out_and_no_weights():
    q, k, v = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 6, 5), torch.randn(2, 3, 6, 7)
    out, weights = as_attention_fn(_attention)(q, k, v, None)
    assert out.shape == (2, 3, 4, 7) and weights is None


def test_summary_of_a_report_names_where_the_texts_part():
    report = CapstoneReport("ab", (0.5, 2e-7), 2.0, 1.5, 3, "abcdef", "abcxyz")
    lines = report.summary().splitlines()
    assert lines[1] == "  layer 0: 0.50" and lines[2] == "  layer 1: < 1e-4 (rounding)"
    assert lines[3] == "validation loss on 3 windows: yours 1.500, the course's 2.000"
    assert lines[4] == "greedy generation: differs from character 2 of 4 on"


def test_try_attention_in_model_prints_the_summary_or_why_not(reference, capsys):
    from helpers.exercises.ep06 import try_attention_in_model

    model, ids = reference

    def my_attention(q, k, v, mask=None):
        raise NotImplementedError

    assert try_attention_in_model(my_attention, ids, course=model) is None
    assert capsys.readouterr().out.startswith("my_attention: not written yet")

    def broken(q, k, v, mask=None):
        raise KeyError("oops")

    assert try_attention_in_model(broken, ids, course=model, n_windows=1) is None
    assert "broken raised KeyError: 'oops'" in capsys.readouterr().out
    with pytest.raises(KeyError):
        try_attention_in_model(broken, ids, course=model, n_windows=1, raise_errors=True)
    report = try_attention_in_model(_attention, ids, course=model, n_new=10, n_windows=1)
    assert report.agrees and capsys.readouterr().out == report.summary() + "\n"
