"""The command line ``python -m helpers.train``: presets, flags, and the files a run writes.

Not a notebook's code: the README's "Training outside the notebooks" documents it,
and ``make checkpoints`` runs it to make episode 06's reference checkpoints (section
7). Every GPTConfig and TrainConfig field is a flag; a preset (``helpers.train.presets``)
fills in the rest. A run writes ``ckpt.pt``, ``history.json`` (or ``.csv``),
``loss.png`` and ``tokenizer.json`` to ``--out-dir``. Bad input ends the program with a
one-line error and exit code 2.
"""

import argparse
import json
import shutil
import sys
from dataclasses import fields
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import helpers.train.distributed as distributed
from helpers.data import (
    DEFAULT_CORPUS,
    PROJECT_ROOT,
    Batches,
    CharTokenizer,
    CorpusError,
    load_corpus,
)
from helpers.device import DEVICE_CHOICES, choose_device
from helpers.gpt import GPT, GPTConfig
from helpers.plots import plot_losses
from helpers.train.checkpoints import load_checkpoint, save_checkpoint
from helpers.train.history import HISTORY_FORMATS, History, write_history
from helpers.train.loop import TrainConfig, TrainResult, train
from helpers.train.presets import PRESETS, split_settings

# fields set by flags of their own below (or by none: eval_splits, vocab_size)
_NOT_FLAGS = ("device", "bf16", "checkpoint_path", "progress", "eval_splits")
_MODEL_NOT_FLAGS = ("vocab_size", "attention")


class UsageError(Exception):
    """A bad argument or input file: reported in one line, exit code 2."""


def _parse_bool(s: str) -> bool:
    """'true'/'yes'/'1' or 'false'/'no'/'0', for the boolean config flags."""
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true or false, got {s!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser: every GPTConfig and TrainConfig field is a flag."""
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
        default=None,
        help="F.scaled_dot_product_attention or the written-out softmax(q k^T) v "
        "(GPTConfig.attention; default fused)",
    )
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="no bf16 autocast on CUDA")
    p.add_argument("--history-format", choices=HISTORY_FORMATS, default="json")
    p.add_argument(
        "--snapshot-steps",
        type=lambda s: tuple(int(x) for x in s.split(",") if x),
        default=None,
        help="comma-separated steps at which to save step_N.pt",
    )
    p.add_argument("--ship-to", default=None, help="also copy the snapshots and history here")
    p.add_argument(
        "--ship-history-only",
        action="store_true",
        help="with --ship-to: copy the history, plot and settings but no model files",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--device", choices=DEVICE_CHOICES, default=None)
    model_fields = [f for f in fields(GPTConfig) if f.name not in _MODEL_NOT_FLAGS]
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


def settings(args: argparse.Namespace) -> tuple[dict, dict, tuple[int, ...]]:
    """Merge the preset with the flags given: (model settings, train settings, snapshots)."""
    if args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    merged = dict(PRESETS[args.preset])
    model_keys = {f.name for f in fields(GPTConfig)}
    config_keys = model_keys | {f.name for f in fields(TrainConfig) if f.name not in _NOT_FLAGS}
    merged.update({k: v for k, v in vars(args).items() if v is not None and k in config_keys})
    model, train_cfg, preset_snapshots = split_settings(merged)
    snapshots = args.snapshot_steps if args.snapshot_steps is not None else preset_snapshots
    return model, train_cfg, snapshots


def write_outputs(history: History, out_dir: Path, fmt: str) -> None:
    """The history as ``history.json`` or ``history.csv``, and the loss curve as ``loss.png``."""
    write_history(history, out_dir / f"history.{fmt}")
    fig = plot_losses(history, title=f"Training loss ({out_dir.name})")
    fig.savefig(out_dir / "loss.png", dpi=100, bbox_inches="tight")
    plt.close(fig)  # a file, not a window


def _check_resume_vocabulary(ckpt_path: Path, tokenizer: CharTokenizer) -> None:
    """--resume needs a checkpoint, made for this corpus's characters."""
    if not ckpt_path.is_file():
        raise UsageError(f"--resume: no checkpoint at {ckpt_path}")
    saved_chars = load_checkpoint(ckpt_path).get("extra", {}).get("chars")
    if saved_chars is not None and saved_chars != tokenizer.chars:
        raise UsageError(
            f"--resume: {ckpt_path} was made for another vocabulary "
            f"({len(saved_chars)} characters, this corpus has {tokenizer.vocab_size})"
        )


def _ship(ship: Path, out_dir: Path, result: TrainResult, model, snapshots, extra, fmt, command):
    """Copy the snapshots, the final model, the history and the settings to ``ship``.

    ``snapshots=None`` ships no model at all (``--ship-history-only``).
    """
    ship.mkdir(parents=True, exist_ok=True)
    for step in () if snapshots is None else (*snapshots, result.step):
        src = out_dir / f"step_{step}.pt"
        if step == result.step and not src.exists():
            save_checkpoint(src, model, step=step, history=result.history, extra=extra)
        shutil.copy(src, ship / src.name)
    shutil.copy(out_dir / f"history.{fmt}", ship)
    shutil.copy(out_dir / "loss.png", ship)
    (ship / "settings.json").write_text(json.dumps(command, indent=2, default=str) + "\n")


def run(argv: list[str] | None = None) -> TrainResult:
    """Parse the command line, train, and write the outputs; errors raise UsageError."""
    args = build_parser().parse_args(argv)
    model_kw, train_kw, snapshots = settings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device_name = args.device or "auto"
    if distributed.launched_by_torchrun():
        try:
            device_name = distributed.start(device_name)  # this process's own device
        except ValueError as e:
            raise UsageError(str(e)) from None
    out_dir = Path(args.out_dir)
    ckpt_path = out_dir / "ckpt.pt"
    try:
        corpus = load_corpus(args.corpus or DEFAULT_CORPUS, text_field=args.text_field)
        tokenizer = CharTokenizer.fit(corpus.text)
        try:
            config = GPTConfig(vocab_size=tokenizer.vocab_size, **model_kw)
            cfg = TrainConfig(
                device=device_name,
                checkpoint_path=str(ckpt_path),
                progress=args.progress,
                bf16=args.bf16,
                **train_kw,
            )
        except TypeError as e:
            raise UsageError(str(e)) from None
        if args.resume:
            _check_resume_vocabulary(ckpt_path, tokenizer)
        batches = Batches.from_corpus(corpus, tokenizer, config.block_size, args.val_fraction)
    except (CorpusError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None

    torch.manual_seed(cfg.seed)
    model = GPT(config)
    device = choose_device(cfg.device)
    model.to(device)
    wrapped = distributed.wrap(model, device) if distributed.is_distributed() else model
    if args.compile:
        wrapped = torch.compile(wrapped, mode=args.compile)
    main = distributed.is_main_process()
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save(out_dir / "tokenizer.json")
        print(f"corpus: {corpus.path} {corpus.stats()}")
        print(f"model: {config} ({model.num_params():,} parameters) on {device}")

    # every checkpoint carries its vocabulary, so sampling and resuming can check it
    where = corpus.path.resolve()
    if where.is_relative_to(PROJECT_ROOT):
        where = where.relative_to(PROJECT_ROOT)  # no machine-specific paths in shipped files
    extra = {"chars": tokenizer.chars, "corpus": str(where), "val_fraction": args.val_fraction}
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
        write_outputs(result.history, out_dir, args.history_format)
        if args.ship_to:
            command = {
                "command": "python -m helpers.train "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "model": config.to_dict(),
                "train": dict(vars(cfg)),
                "snapshots": list(snapshots),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
            _ship(
                Path(args.ship_to),
                out_dir,
                result,
                model,
                None if args.ship_history_only else snapshots,
                extra,
                args.history_format,
                command,
            )
        h = result.history
        print(
            f"step {result.step}: train loss {h.last('train'):.3f}, val loss {h.last('val'):.3f}"
            + (" (interrupted)" if result.interrupted else "")
        )
    distributed.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with a one-line error on bad input."""
    try:
        run(argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
