"""helpers.train: the loop, the schedule, checkpoints, resume and a clean Ctrl-C."""

import pytest
import torch

from helpers.gpt import GPT, GPTConfig
from helpers.train import (
    History,
    TrainConfig,
    load_checkpoint,
    lr_at,
    save_checkpoint,
    train,
)

TEXT = torch.tensor([i % 7 for i in range(400)])


def get_batch(split, batch_size, gen):
    start = torch.randint(0, len(TEXT) - 9, (batch_size,), generator=gen)
    x = torch.stack([TEXT[s : s + 8] for s in start])
    y = torch.stack([TEXT[s + 1 : s + 9] for s in start])
    return x, y


def model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


def cfg(**kw):
    base = dict(max_steps=30, batch_size=8, lr=1e-2, warmup_steps=5, eval_interval=10,
                eval_iters=2, device="cpu", progress=False)
    base.update(kw)
    return TrainConfig(**base)


def test_schedule_warms_up_then_decays_to_min_lr():
    c = cfg(max_steps=100, warmup_steps=10, lr=1.0, min_lr=0.1)
    lrs = [lr_at(s, c) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_training_lowers_the_loss_and_records_history():
    result = train(model(), get_batch, cfg(max_steps=60))
    h = result.history
    assert h.step == [0, 10, 20, 30, 40, 50, 60]
    assert len(h.batch_loss) == 60
    assert h.val[-1] < h.val[0] - 1.0, h.val


def test_checkpoint_round_trip(tmp_path):
    m = model()
    h = History(step=[0], train=[1.0], val=[2.0], lr=[0.1], seconds=[0.0])
    save_checkpoint(tmp_path / "c.pt", m, step=5, history=h)
    m2 = model(seed=1)
    ckpt = load_checkpoint(tmp_path / "c.pt", m2)
    assert ckpt["step"] == 5 and History.from_dict(ckpt["history"]) == h
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True))
    assert not (tmp_path / "c.pt.tmp").exists()


def test_missing_and_mismatched_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    save_checkpoint(tmp_path / "c.pt", model())
    with pytest.raises(ValueError, match="n_embd: checkpoint 16 vs model 32"):
        load_checkpoint(tmp_path / "c.pt", model(n_embd=32))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


class Interrupt:
    """A get_batch that raises KeyboardInterrupt (as Ctrl-C would) before training step n."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, split, batch_size, gen):
        if split == "train" and torch.is_grad_enabled():  # a training batch, not an estimate
            if self.calls == self.at:
                raise KeyboardInterrupt
            self.calls += 1
        return get_batch(split, batch_size, gen)


def test_ctrl_c_keeps_the_model_and_history(tmp_path):
    result = train(model(), Interrupt(at=13), cfg(checkpoint_path=str(tmp_path / "c.pt")))
    assert result.interrupted and result.step == 13
    assert len(result.history.batch_loss) == 13 and result.history.step == [0, 10]
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 13


def test_resume_continues_the_same_loss_curve(tmp_path):
    full = train(model(), get_batch, cfg())
    path = str(tmp_path / "c.pt")
    first = train(model(), Interrupt(at=17), cfg(checkpoint_path=path))
    assert first.interrupted
    resumed = train(model(seed=5), get_batch, cfg(checkpoint_path=path), resume_from=path)
    assert resumed.history.batch_loss == full.history.batch_loss
    assert resumed.history.step == full.history.step
    assert resumed.history.val == full.history.val


def test_snapshots_hold_the_model_at_those_steps(tmp_path):
    train(model(), get_batch, cfg(max_steps=20), snapshot_steps=(10, 20), snapshot_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path / "step_10.pt", model())
    assert ckpt["step"] == 10 and "optimizer" not in ckpt


def test_bad_train_config():
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
