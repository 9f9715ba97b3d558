"""Checkpoints: a model, its optimiser, the history and every RNG state, in one file.

Episode 06 loads the shipped ones (section 7, "training longer: the reference
checkpoints"); ``helpers.sample.load_gpt`` rebuilds a GPT from one. A checkpoint is
written atomically, read with ``weights_only=True``, and checked against the model it
is loaded into. Resuming restores the RNG states too, so on the CPU the loss curve
carries on bit for bit.
"""

import os
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from helpers.train.history import History

CHECKPOINT_FORMAT = "transformers-from-scratch/1"


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or torch.compile wrapper."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


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
    model = unwrap(model)
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


def _config_differences(config, saved: dict) -> dict[str, tuple]:
    """Fields where ``saved`` (a stored config dict) and ``config`` disagree: name -> (saved, mine).

    Fields added to the config class since the checkpoint was written take their
    defaults, and fields the class lists in RUNTIME_FIELDS (how to compute, not what)
    never count.
    """
    if hasattr(type(config), "from_dict"):
        saved = type(config).from_dict(saved).to_dict()
    mine = config.to_dict()
    skip = getattr(config, "RUNTIME_FIELDS", ())
    return {k: (saved.get(k), v) for k, v in mine.items() if k not in skip and saved.get(k) != v}


def _why_unreadable(path: Path, error: Exception) -> str:
    """One line on why torch.load could not read ``path`` (its own messages run to many lines)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
    text = str(error)
    if size == 0:
        return "the file is empty (0 bytes)"
    if not head.startswith(b"PK"):
        return (
            "it is not a file written by torch.save (those are zip archives; "
            f"this one starts with {head!r})"
        )
    if isinstance(error, pickle.UnpicklingError) and "Unsupported global:" in text:
        name = text.split("Unsupported global:", 1)[1].split(" was not", 1)[0].strip()
        return (
            f"it holds a Python object that is not plain data ({name}), "
            "which loading with weights_only=True refuses"
        )
    if isinstance(error, (EOFError, RuntimeError, OSError)):
        return f"it looks cut short or damaged ({size:,} bytes); copy it again or re-create it"
    first = text.strip().splitlines()[0][:120] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


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
        raise ValueError(f"{path} is not a readable checkpoint: {_why_unreadable(path, e)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by helpers.train.save_checkpoint")
    if model is not None:
        inner = unwrap(model)
        config = getattr(inner, "config", None)
        saved = ckpt.get("model_config")
        if saved is not None and hasattr(config, "to_dict"):
            diff = _config_differences(config, saved)
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


def restore_rng_states(
    ckpt: dict,
    device: torch.device,
    batch_generator: torch.Generator,
    rank: int = 0,
    world: int = 1,
    source: str = "the checkpoint",
) -> None:
    """Set torch's (and the GPU's) RNG and this rank's batch generator to the checkpoint's.

    A checkpoint from a run with another number of processes cannot say which batches
    this rank would draw: ``batch_generator`` is left as it is, with a warning.
    """
    # RNG states are CPU byte tensors, whatever device the checkpoint was mapped to
    torch.set_rng_state(ckpt["rng_torch"].cpu())
    if device.type == "cuda" and "rng_cuda" in ckpt:
        torch.cuda.set_rng_state(ckpt["rng_cuda"].cpu(), device)
    by_rank = ckpt.get("rng_batches_by_rank") or [ckpt.get("rng_batches")]
    if len(by_rank) != world:
        warnings.warn(
            f"{source} holds the batch generators of {len(by_rank)} process(es), this "
            f"run has {world}: process {rank} draws its batches afresh from its seed",
            stacklevel=3,
        )
    elif by_rank[rank] is not None:  # (a model-only checkpoint has none)
        batch_generator.set_state(by_rank[rank].cpu())
