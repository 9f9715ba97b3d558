"""The training loop every episode uses, checkpoints, and the ``python -m helpers.train`` CLI.

``train`` takes any model whose ``forward(*batch)`` returns ``(logits, loss)`` and a
``get_batch(split, batch_size, generator)`` that returns such a batch. It runs
AdamW with linear warmup then cosine decay, clips gradients, estimates train and
validation loss every ``eval_interval`` steps, and returns the loss history as
data. Ctrl-C (KeyboardInterrupt) stops it cleanly, keeping the model and the
history so far. Checkpoints are written atomically and resume continues the same
loss curve, bit for bit on the CPU.
"""

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from helpers.device import choose_device

Batch = tuple[torch.Tensor, ...]
GetBatch = Callable[[str, int, torch.Generator], Batch]
CHECKPOINT_FORMAT = "transformers-from-scratch/1"


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
    progress: bool = True  # a tqdm progress bar

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        for name in ("warmup_steps", "checkpoint_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        self.eval_splits = tuple(self.eval_splits)

    @property
    def final_lr(self) -> float:
        return self.lr / 10 if self.min_lr is None else self.min_lr


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warmup to cfg.lr, then cosine decay to final_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * progress))


@dataclass
class History:
    """Losses as data: evaluated estimates every eval_interval steps, and every batch's loss."""

    step: list[int] = field(default_factory=list)  # when the estimates below were taken
    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time so far, at each estimate
    batch_loss: list[float] = field(default_factory=list)  # one per optimiser step

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})

    def last(self, split: str = "val") -> float:
        """The most recent estimate of ``split``'s loss."""
        values = getattr(self, split)
        if not values:
            raise ValueError(f"no {split} loss has been recorded yet")
        return values[-1]


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
        gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)  # same batches every time
        losses = []
        for _ in range(cfg.eval_iters):
            batch = tuple(t.to(device) for t in get_batch(split, cfg.batch_size, gen))
            with _autocast(device, cfg):
                losses.append(model(*batch)[1].float().item())
        out[split] = sum(losses) / len(losses)
    model.train(was_training)
    return out


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or compiled wrapper."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _is_main_process() -> bool:
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    history: History | None = None,
    batch_generator: torch.Generator | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename); return its path.

    Holds the model's weights and config (when it has a ``config`` with ``to_dict``),
    and, when given, the optimiser, step, history, RNG states and ``extra``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _unwrap(model)
    config = getattr(model, "config", None)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "model_config": config.to_dict() if hasattr(config, "to_dict") else None,
        "step": step,
        "history": (history or History()).to_dict(),
        "rng_torch": torch.get_rng_state(),
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if batch_generator is not None:
        ckpt["rng_batches"] = batch_generator.get_state()
    if extra:
        ckpt["extra"] = extra
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)  # atomic: a crash leaves the old file or the new, never half of one
    return path


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> dict:
    """Read a checkpoint (``weights_only=True``); load it into ``model`` and ``optimizer`` if given.

    A missing file, a file that is not a checkpoint, or one made for a model of a
    different configuration raises an error that says so.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle errors, truncated files, non-checkpoint files
        raise ValueError(f"{path} is not a readable checkpoint: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by helpers.train.save_checkpoint")
    if model is not None:
        inner = _unwrap(model)
        config = getattr(inner, "config", None)
        saved = ckpt.get("model_config")
        if saved is not None and hasattr(config, "to_dict"):
            mine = config.to_dict()
            diff = {k: (saved.get(k), mine.get(k)) for k in mine if saved.get(k) != mine.get(k)}
            if diff:
                detail = ", ".join(
                    f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in diff.items()
                )
                raise ValueError(f"{path} was made for a different model config ({detail})")
        try:
            inner.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise ValueError(f"{path} does not fit this model: {e}") from None
    if optimizer is not None:
        if "optimizer" not in ckpt:
            raise ValueError(f"{path} holds no optimizer state, so training cannot resume from it")
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


def train(
    model: nn.Module,
    get_batch: GetBatch,
    cfg: TrainConfig,
    resume_from: str | Path | None = None,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    snapshot_steps: tuple[int, ...] = (),
    snapshot_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` for cfg.max_steps optimiser steps; return the model and its history.

    resume_from: a checkpoint written by an earlier run; training continues from its
    step with its optimiser, RNG states and history, so the loss curve carries on.
    snapshot_steps: also save a model-only checkpoint ``step_{n}.pt`` in snapshot_dir
    at these steps (episode 06's reference checkpoints).
    """
    from tqdm.auto import tqdm  # imported here: only a run with a progress bar needs it

    device = choose_device(cfg.device)
    model.to(device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank:
        gen.manual_seed(cfg.seed + 7919 * rank)  # each process draws different batches
    history, step = History(), 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, model, optimizer, map_location=device)
        step, history = ckpt["step"], History.from_dict(ckpt["history"])
        torch.set_rng_state(ckpt["rng_torch"])
        if "rng_batches" in ckpt and not rank:
            gen.set_state(ckpt["rng_batches"])
    main = _is_main_process()

    def checkpoint(at: int) -> None:
        if cfg.checkpoint_path and main:
            save_checkpoint(cfg.checkpoint_path, model, optimizer, at, history, gen)

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
    try:
        while step < cfg.max_steps:
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
                    Path(snapshot_dir) / f"step_{step}.pt", model, step=step, history=history
                )
            if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0:
                checkpoint(step)
        if history.step[-1] != step:
            evaluate(step, seconds0 + time.perf_counter() - t0)
    except KeyboardInterrupt:
        interrupted = True  # keep what was learned; the caller gets the model and history
    finally:
        bar.close()
    checkpoint(step)
    return TrainResult(model, optimizer, history, step, interrupted)
