"""The training loop every episode uses: ``TrainConfig``, the schedule, AdamW, ``train``.

Episode 01 calls it first (section 8, "the race"); episode 06 opens it up (section 6,
"training live"). ``train`` takes any model whose ``forward(*batch)`` returns
``(logits, loss)`` and a ``get_batch(split, batch_size, generator)`` that returns such
a batch. It runs AdamW with linear warmup then cosine decay, clips gradients,
estimates train and validation loss every ``eval_interval`` steps, and returns the
loss history as data. Ctrl-C (KeyboardInterrupt) stops it cleanly, keeping the model
and the history so far. In a multi-process run (``helpers.train.distributed``) each
process draws its own batches and only rank 0 writes checkpoints.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import helpers.train.distributed as distributed
from helpers.device import choose_device
from helpers.train.checkpoints import load_checkpoint, restore_rng_states, save_checkpoint
from helpers.train.history import History

Batch = tuple[torch.Tensor, ...]
GetBatch = Callable[[str, int, torch.Generator], Batch]
EVAL_SEED_OFFSET = 1_000_003  # estimates draw from seed + this: the same batches every time


@dataclass
class TrainConfig:
    """How to train: steps, batch, optimiser, schedule, evaluation and checkpoints."""

    max_steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    min_lr: float | None = None  # end of the cosine decay; None means lr / 10
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 turns clipping off
    eval_interval: int = 100
    eval_iters: int = 10
    eval_splits: tuple[str, ...] = ("train", "val")
    seed: int = 0
    device: str = "auto"
    bf16: bool = True  # autocast to bfloat16 on CUDA (ignored elsewhere)
    checkpoint_path: str | None = None  # where to save (None: never)
    checkpoint_interval: int = 0  # also save every N steps (0: only at the end)
    stop_at: int = 0  # end this run at that step (0: at max_steps); resuming continues it
    progress: bool = True  # a tqdm progress bar

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        for name in ("warmup_steps", "checkpoint_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.stop_at <= self.max_steps:
            raise ValueError(
                f"TrainConfig.stop_at must be 0 (run to max_steps) or a step up to "
                f"max_steps={self.max_steps}, got {self.stop_at!r}"
            )
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        self.eval_splits = tuple(self.eval_splits)

    @property
    def final_lr(self) -> float:
        """Where the cosine decay ends: min_lr, or lr / 10 when it is None."""
        return self.lr / 10 if self.min_lr is None else self.min_lr


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warmup to cfg.lr, then cosine decay to final_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * progress))


@dataclass
class TrainResult:
    """What ``train`` hands back: the model, its optimiser, the history, and how it ended."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    step: int
    interrupted: bool = False


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms' gains or 1-D params)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def _autocast(device: torch.device, cfg: TrainConfig):
    """bf16 autocast on CUDA when cfg.bf16, a no-op context elsewhere."""
    enabled = cfg.bf16 and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    get_batch: GetBatch,
    cfg: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """Mean loss over cfg.eval_iters batches of each split, always the same batches."""
    was_training = model.training
    model.eval()
    out = {}
    for split in cfg.eval_splits:
        gen = torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET)
        losses = []
        for _ in range(cfg.eval_iters):
            batch = tuple(t.to(device) for t in get_batch(split, cfg.batch_size, gen))
            with _autocast(device, cfg):
                losses.append(model(*batch)[1].float().item())
        out[split] = sum(losses) / len(losses)
    model.train(was_training)
    return out


def train(
    model: nn.Module,
    get_batch: GetBatch,
    cfg: TrainConfig,
    resume_from: str | Path | None = None,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    snapshot_steps: tuple[int, ...] = (),
    snapshot_dir: str | Path | None = None,
    checkpoint_extra: dict | None = None,
) -> TrainResult:
    """Train ``model`` for cfg.max_steps optimiser steps; return the model and its history.

    resume_from: a checkpoint written by an earlier run; training continues from its
    step with its optimiser, RNG states and history, so the loss curve carries on (in a
    multi-process run each rank gets its own batch generator back).
    snapshot_steps: also save a model-only checkpoint ``step_{n}.pt`` in snapshot_dir
    at these steps (episode 06's reference checkpoints).
    checkpoint_extra: stored in every checkpoint (the CLI stores the vocabulary there).
    """
    from tqdm.auto import tqdm  # imported here: only a run with a progress bar needs it

    device = choose_device(cfg.device)
    model.to(device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    rank, world = distributed.rank_and_world()
    gen = torch.Generator().manual_seed(distributed.rank_seed(cfg.seed, rank))
    history, step = History(), 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, model, optimizer, map_location=device)
        step, history = ckpt["step"], History.from_dict(ckpt["history"])
        restore_rng_states(ckpt, device, gen, rank, world, source=str(resume_from))
    main = rank == 0

    def checkpoint(at: int, every_rank: bool = True) -> None:
        # every_rank: gather each process's batch generator (all processes must be here)
        if not cfg.checkpoint_path:
            return
        states = distributed.gather_generator_states(gen) if every_rank else None
        if main:
            save_checkpoint(
                cfg.checkpoint_path, model, optimizer, at, history, gen, checkpoint_extra, states
            )

    def evaluate(at: int, seconds: float) -> None:
        losses = estimate_loss(model, get_batch, cfg, device)
        history.step.append(at)
        history.train.append(losses.get("train", float("nan")))
        history.val.append(losses.get("val", float("nan")))
        history.lr.append(lr_at(min(at, cfg.max_steps - 1), cfg))
        history.seconds.append(round(seconds, 3))
        if on_eval is not None:
            on_eval(at, losses)

    seconds0 = history.seconds[-1] if history.seconds else 0.0
    t0 = time.perf_counter()
    bar = tqdm(
        total=cfg.max_steps, initial=step, disable=not (cfg.progress and main), desc="training"
    )
    interrupted = False
    end = cfg.stop_at or cfg.max_steps
    try:
        while step < end:
            if step % cfg.eval_interval == 0 and (not history.step or history.step[-1] != step):
                evaluate(step, seconds0 + time.perf_counter() - t0)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            batch = tuple(t.to(device) for t in get_batch("train", cfg.batch_size, gen))
            with _autocast(device, cfg):
                _, loss = model(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
            history.batch_loss.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if step in snapshot_steps and snapshot_dir is not None and main:
                save_checkpoint(
                    Path(snapshot_dir) / f"step_{step}.pt",
                    model,
                    step=step,
                    history=history,
                    extra=checkpoint_extra,
                )
            if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0:
                checkpoint(step)
        if step == cfg.max_steps and history.step[-1] != step:
            evaluate(step, seconds0 + time.perf_counter() - t0)  # (a stopped run goes on later)
    except KeyboardInterrupt:
        interrupted = True  # keep what was learned; the caller gets the model and history
    finally:
        bar.close()
    checkpoint(step, every_rank=not interrupted)  # after Ctrl-C the other processes may be gone
    return TrainResult(model, optimizer, history, step, interrupted)
