"""helpers.train.loop: the schedule, the optimiser, loss estimates, the loop, Ctrl-C, resume."""

import pytest
import torch

from helpers.train import (
    TrainConfig,
    estimate_loss,
    load_checkpoint,
    lr_at,
    make_optimizer,
    train,
)


class Interrupt:
    """A get_batch that raises KeyboardInterrupt (as Ctrl-C would) before training step n."""

    def __init__(self, get_batch, at):
        self.get_batch, self.at, self.calls = get_batch, at, 0

    def __call__(self, split, batch_size, gen):
        if split == "train" and torch.is_grad_enabled():  # a training batch, not an estimate
            if self.calls == self.at:
                raise KeyboardInterrupt
            self.calls += 1
        return self.get_batch(split, batch_size, gen)


def test_schedule_warms_up_then_decays_to_min_lr(quick_config):
    c = quick_config(max_steps=100, warmup_steps=10, lr=1.0, min_lr=0.1)
    lrs = [lr_at(s, c) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_min_lr_defaults_to_a_tenth_of_lr():
    assert TrainConfig(lr=0.5).final_lr == pytest.approx(0.05)


def test_weight_decay_applies_to_matrices_only(tiny_gpt, quick_config):
    model = tiny_gpt()
    decay, no_decay = make_optimizer(model, quick_config(weight_decay=0.3)).param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and decay["params"]
    assert all(p.dim() < 2 for p in no_decay["params"]) and no_decay["params"]
    n = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n == model.num_params()


def test_estimates_use_the_same_batches_and_restore_the_mode(
    tiny_gpt, periodic_batch, quick_config
):
    model = tiny_gpt(dropout=0.5).train()
    cfg = quick_config()
    first = estimate_loss(model, periodic_batch, cfg, torch.device("cpu"))
    second = estimate_loss(model, periodic_batch, cfg, torch.device("cpu"))
    assert first == second and set(first) == {"train", "val"}
    assert model.training, "estimate_loss puts the model back in training mode"


def test_training_lowers_the_loss_and_records_history(tiny_gpt, periodic_batch, quick_config):
    seen = []
    result = train(
        tiny_gpt(), periodic_batch, quick_config(max_steps=60), on_eval=lambda s, _: seen.append(s)
    )
    h = result.history
    assert h.step == seen == [0, 10, 20, 30, 40, 50, 60]
    assert len(h.batch_loss) == 60 and result.step == 60 and not result.interrupted
    assert h.val[-1] < h.val[0] - 1.0, h.val


def test_ctrl_c_keeps_the_model_and_history(tmp_path, tiny_gpt, periodic_batch, quick_config):
    cfg = quick_config(checkpoint_path=str(tmp_path / "c.pt"))
    result = train(tiny_gpt(), Interrupt(periodic_batch, at=13), cfg)
    assert result.interrupted and result.step == 13
    assert len(result.history.batch_loss) == 13 and result.history.step == [0, 10]
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 13


def test_resume_continues_the_same_loss_curve(tmp_path, tiny_gpt, periodic_batch, quick_config):
    full = train(tiny_gpt(), periodic_batch, quick_config())
    path = str(tmp_path / "c.pt")
    first = train(tiny_gpt(), Interrupt(periodic_batch, at=17), quick_config(checkpoint_path=path))
    assert first.interrupted
    resumed = train(
        tiny_gpt(seed=5), periodic_batch, quick_config(checkpoint_path=path), resume_from=path
    )
    assert resumed.history.batch_loss == full.history.batch_loss
    assert resumed.history.step == full.history.step
    assert resumed.history.val == full.history.val


def test_a_run_stopped_early_resumes_into_the_same_curve(
    tmp_path, tiny_gpt, periodic_batch, quick_config
):
    full = train(tiny_gpt(), periodic_batch, quick_config())
    path = str(tmp_path / "c.pt")
    first = train(tiny_gpt(), periodic_batch, quick_config(checkpoint_path=path, stop_at=17))
    assert first.step == 17 and not first.interrupted
    resumed = train(
        tiny_gpt(seed=5), periodic_batch, quick_config(checkpoint_path=path), resume_from=path
    )
    assert resumed.history.batch_loss == full.history.batch_loss
    assert resumed.history.step == full.history.step


def test_snapshots_hold_the_model_at_those_steps(tmp_path, tiny_gpt, periodic_batch, quick_config):
    result = train(
        tiny_gpt(),
        periodic_batch,
        quick_config(max_steps=20),
        snapshot_steps=(10, 20),
        snapshot_dir=tmp_path,
    )
    ckpt = load_checkpoint(tmp_path / "step_10.pt", tiny_gpt())
    assert ckpt["step"] == 10 and "optimizer" not in ckpt
    final = load_checkpoint(tmp_path / "step_20.pt")["model"]
    assert all(torch.equal(v, final[k]) for k, v in result.model.state_dict().items())
    assert not torch.equal(ckpt["model"]["tok_emb.weight"], final["tok_emb.weight"])


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(max_steps=0), "max_steps must be a positive int"),
        (dict(lr=0), "lr must be > 0"),
        (dict(max_steps=10, stop_at=11), "stop_at"),
        (dict(warmup_steps=-1), "warmup_steps must be >= 0"),
    ],
)
def test_bad_train_config_is_named(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)
