"""The training loop every episode uses, checkpoints, and the ``python -m helpers.train`` CLI.

``train`` takes any model whose ``forward(*batch)`` returns ``(logits, loss)`` and a
``get_batch(split, batch_size, generator)`` that returns such a batch. It runs
AdamW with linear warmup then cosine decay, clips gradients, estimates train and
validation loss every ``eval_interval`` steps, and returns the loss history as
data. Ctrl-C (KeyboardInterrupt) stops it cleanly, keeping the model and the
history so far. Checkpoints are written atomically and resume continues the same
loss curve, bit for bit on the CPU.
"""

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
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


def _gather_states(gen: torch.Generator) -> list[torch.Tensor] | None:
    """Every rank's state of ``gen``, in rank order (a collective call); None in one process."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return None
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, gen.get_state())
    return states


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
    batch_generator_states: list[torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename); return its path.

    Holds the model's weights and config (when it has a ``config`` with ``to_dict``),
    and, when given, the optimiser, step, history, RNG states and ``extra``.
    ``batch_generator_states``: in a multi-process run, every rank's batch generator
    state, in rank order (``batch_generator`` is rank 0's).
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
    device = next(model.parameters()).device
    if device.type == "cuda":  # dropout on a GPU draws from the GPU's generator
        ckpt["rng_cuda"] = torch.cuda.get_rng_state(device)
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if batch_generator is not None:
        ckpt["rng_batches"] = batch_generator.get_state()
    if batch_generator_states is not None:
        ckpt["rng_batches_by_rank"] = list(batch_generator_states)
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
    gen = torch.Generator().manual_seed(cfg.seed)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    world = torch.distributed.get_world_size() if distributed else 1
    if rank:
        gen.manual_seed(cfg.seed + 7919 * rank)  # each process draws different batches
    history, step = History(), 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, model, optimizer, map_location=device)
        step, history = ckpt["step"], History.from_dict(ckpt["history"])
        # RNG states are CPU byte tensors, whatever device the checkpoint was mapped to
        torch.set_rng_state(ckpt["rng_torch"].cpu())
        if device.type == "cuda" and "rng_cuda" in ckpt:
            torch.cuda.set_rng_state(ckpt["rng_cuda"].cpu(), device)
        by_rank = ckpt.get("rng_batches_by_rank") or [ckpt.get("rng_batches")]
        if len(by_rank) == world:
            if by_rank[rank] is not None:  # (a model-only checkpoint has none)
                gen.set_state(by_rank[rank].cpu())
        else:
            warnings.warn(
                f"{resume_from} holds the batch generators of {len(by_rank)} process(es), this "
                f"run has {world}: process {rank} draws its batches afresh from its seed",
                stacklevel=2,
            )
    main = _is_main_process()

    def checkpoint(at: int, every_rank: bool = True) -> None:
        # every_rank: gather each process's batch generator (all processes must be here)
        if not cfg.checkpoint_path:
            return
        states = _gather_states(gen) if every_rank else None
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


# --- the command line: python -m helpers.train ------------------------------------------

PRESETS: dict[str, dict] = {
    # a couple of minutes on a laptop CPU
    "cpu-small": dict(
        n_layer=2,
        n_head=2,
        n_embd=64,
        block_size=64,
        batch_size=32,
        max_steps=500,
        lr=3e-3,
        warmup_steps=50,
        eval_interval=50,
    ),
    # episode 06's reference run (make checkpoints): about 20 minutes on 2 CPU cores
    "reference": dict(
        n_layer=4,
        n_head=4,
        n_embd=128,
        block_size=128,
        dropout=0.1,
        batch_size=32,
        max_steps=2500,
        lr=2e-3,
        min_lr=2e-4,
        warmup_steps=100,
        eval_interval=100,
        eval_iters=10,
        snapshot_steps=(200, 1000),
    ),
    # nanoGPT's shakespeare_char size, for a GPU
    "shakespeare-char": dict(
        n_layer=6,
        n_head=6,
        n_embd=384,
        block_size=256,
        batch_size=64,
        dropout=0.2,
        max_steps=5000,
        lr=1e-3,
        min_lr=1e-4,
        warmup_steps=100,
        eval_interval=250,
        eval_iters=50,
    ),
}


# TrainConfig fields that have flags of their own above (or none: eval_splits)
_NOT_FLAGS = ("device", "bf16", "checkpoint_path", "progress", "eval_splits")


class UsageError(Exception):
    """A bad argument or input file: reported in one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser: every GPTConfig and TrainConfig field is a flag."""
    from helpers.gpt import GPTConfig

    p = argparse.ArgumentParser(
        prog="python -m helpers.train",
        description="Train a character-level GPT on a corpus that helpers.data can read.",
    )
    p.add_argument(
        "--corpus",
        default=None,
        help="a .csv/.json/.jsonl/.txt corpus (default: the One Piece synopses)",
    )
    p.add_argument("--text-field", default=None, help="column or field holding the text")
    p.add_argument(
        "--val-fraction", type=float, default=0.1, help="last fraction of records held out"
    )
    p.add_argument("--preset", default="cpu-small", help=f"one of {', '.join(PRESETS)}")
    p.add_argument(
        "--out-dir", default="runs/train", help="where the checkpoint, history and plot go"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/ckpt.pt")
    p.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        choices=("default", "reduce-overhead", "max-autotune"),
        metavar="MODE",
        help="torch.compile the model; on a GPU, 'reduce-overhead' also replays each step "
        "as a CUDA graph (much faster for small models)",
    )
    p.add_argument(
        "--attention",
        choices=("fused", "written"),
        default="fused",
        help="F.scaled_dot_product_attention or the written-out softmax(q k^T) v",
    )
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="no bf16 autocast on CUDA")
    p.add_argument("--history-format", choices=("json", "csv"), default="json")
    p.add_argument(
        "--snapshot-steps",
        type=lambda s: tuple(int(x) for x in s.split(",") if x),
        default=None,
        help="comma-separated steps at which to save step_N.pt",
    )
    p.add_argument("--ship-to", default=None, help="also copy the snapshots and history here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None)
    model_fields = [f for f in fields(GPTConfig) if f.name != "vocab_size"]
    train_fields = [f for f in fields(TrainConfig) if f.name not in _NOT_FLAGS]
    for f in model_fields + train_fields:
        kind = float if f.default is None else type(f.default)  # only min_lr defaults to None
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=_parse_bool if kind is bool else kind,
            default=None,
            help=f"(default: from the preset, else {f.default})",
        )
    return p


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true or false, got {s!r}")


def _settings(args) -> tuple[dict, dict, tuple[int, ...]]:
    """Merge the preset with the flags given: (model settings, train settings, snapshots)."""
    from helpers.gpt import GPTConfig

    if args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    merged = dict(PRESETS[args.preset])
    model_keys = {f.name for f in fields(GPTConfig)}
    config_keys = model_keys | {f.name for f in fields(TrainConfig) if f.name not in _NOT_FLAGS}
    merged.update({k: v for k, v in vars(args).items() if v is not None and k in config_keys})
    preset_snapshots = merged.pop("snapshot_steps", ())
    snapshots = args.snapshot_steps if args.snapshot_steps is not None else preset_snapshots
    model = {k: v for k, v in merged.items() if k in model_keys}
    train_cfg = {k: v for k, v in merged.items() if k not in model_keys}
    return model, train_cfg, snapshots


def run(argv: list[str] | None = None) -> TrainResult:
    """Parse the command line, train, and write the outputs; errors raise UsageError."""
    import json
    import shutil
    import sys

    from helpers.data import (
        DEFAULT_CORPUS,
        PROJECT_ROOT,
        Batches,
        CharTokenizer,
        CorpusError,
        load_corpus,
    )
    from helpers.gpt import GPT, GPTConfig

    args = build_parser().parse_args(argv)
    model_kw, train_kw, snapshots = _settings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    dist = torch.distributed
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device_name = args.device or "auto"
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        if cuda and local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"process {local_rank} has no GPU of its own: this machine has "
                f"{torch.cuda.device_count()}; start at most that many processes per "
                f"machine (--nproc_per_node), or train on the CPU with --device cpu"
            )
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        if cuda:
            torch.cuda.set_device(local_rank)
            device_name = f"cuda:{local_rank}"
        else:
            device_name = "cpu"
    out_dir = Path(args.out_dir)
    ckpt_path = out_dir / "ckpt.pt"
    try:
        corpus = load_corpus(args.corpus or DEFAULT_CORPUS, text_field=args.text_field)
        tokenizer = CharTokenizer.fit(corpus.text)
        try:
            config = GPTConfig(vocab_size=tokenizer.vocab_size, **model_kw)
            cfg = TrainConfig(
                device=device_name,  # (in a multi-process run: this process's own device)
                checkpoint_path=str(ckpt_path),
                progress=args.progress,
                bf16=args.bf16,
                **train_kw,
            )
        except TypeError as e:
            raise UsageError(str(e)) from None
        if args.resume:
            if not ckpt_path.is_file():
                raise UsageError(f"--resume: no checkpoint at {ckpt_path}")
            saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            saved_chars = saved.get("extra", {}).get("chars")
            if saved_chars is not None and saved_chars != tokenizer.chars:
                raise UsageError(
                    f"--resume: {ckpt_path} was made for another vocabulary "
                    f"({len(saved_chars)} characters, this corpus has {tokenizer.vocab_size})"
                )
        batches = Batches.from_corpus(corpus, tokenizer, config.block_size, args.val_fraction)
    except (CorpusError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None

    torch.manual_seed(cfg.seed)
    model = GPT(config)
    for block in model.blocks:
        block.attn.fused = args.attention == "fused"
    device = choose_device(cfg.device)
    model.to(device)
    wrapped: nn.Module = model
    if distributed:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if args.compile:
        wrapped = torch.compile(wrapped, mode=args.compile)
    main = _is_main_process()
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save(out_dir / "tokenizer.json")
        print(f"corpus: {corpus.path} {corpus.stats()}")
        print(f"model: {config} ({model.num_params():,} parameters) on {device}")

    # every checkpoint carries its vocabulary, so sampling and resuming can check it
    where = corpus.path.resolve()
    if where.is_relative_to(PROJECT_ROOT):
        where = where.relative_to(PROJECT_ROOT)  # no machine-specific paths in shipped files
    extra = {
        "chars": tokenizer.chars,
        "corpus": str(where),
        "val_fraction": args.val_fraction,
    }
    result = train(
        wrapped,
        batches.get,
        cfg,
        resume_from=ckpt_path if args.resume else None,
        snapshot_steps=snapshots,
        snapshot_dir=out_dir,
        checkpoint_extra=extra,
    )
    if main:
        _write_outputs(result.history, out_dir, args.history_format)
        if args.ship_to:
            ship = Path(args.ship_to)
            ship.mkdir(parents=True, exist_ok=True)
            for step in (*snapshots, result.step):
                src = out_dir / f"step_{step}.pt"
                if step == result.step and not src.exists():
                    save_checkpoint(src, model, step=step, history=result.history, extra=extra)
                shutil.copy(src, ship / src.name)
            shutil.copy(out_dir / f"history.{args.history_format}", ship)
            shutil.copy(out_dir / "loss.png", ship)
            (ship / "settings.json").write_text(
                json.dumps(
                    {
                        "command": "python -m helpers.train "
                        + " ".join(sys.argv[1:] if argv is None else argv),
                        "model": config.to_dict(),
                        "train": {k: v for k, v in vars(cfg).items()},
                        "snapshots": list(snapshots),
                        "torch": torch.__version__,
                        "threads": torch.get_num_threads(),
                    },
                    indent=2,
                    default=str,
                )
                + "\n"
            )
        h = result.history
        print(
            f"step {result.step}: train loss {h.last('train'):.3f}, val loss {h.last('val'):.3f}"
            + (" (interrupted)" if result.interrupted else "")
        )
    if distributed:
        dist.destroy_process_group()
    return result


def _write_outputs(history: History, out_dir: Path, fmt: str) -> None:
    """History as JSON or CSV, and the loss curve as a PNG."""
    import csv
    import json

    import matplotlib

    matplotlib.use("Agg")
    from helpers.plots import plot_losses

    if fmt == "json":
        (out_dir / "history.json").write_text(json.dumps(history.to_dict()) + "\n")
    else:
        with open(out_dir / "history.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "train", "val", "lr", "seconds"])
            w.writerows(
                zip(
                    history.step,
                    history.train,
                    history.val,
                    history.lr,
                    history.seconds,
                    strict=True,
                )
            )
    fig = plot_losses(history, title=f"Training loss ({out_dir.name})")
    fig.savefig(out_dir / "loss.png", dpi=100, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with a one-line error on bad input."""
    import sys

    try:
        run(argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # run main from the imported module, so its classes are the ones helpers.plots and
    # the tests know (``python -m`` would otherwise load this file twice)
    from helpers.train import main as _main

    raise SystemExit(_main())
