"""The loss history of a training run, as data, and how it is written out.

Episode 01 plots its first one (section 8, "the race"); every later episode's loss
curve is a ``History`` drawn by ``helpers.plots.plot_losses``. ``python -m
helpers.train`` writes it as ``history.json`` or ``history.csv``.
"""

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

HISTORY_FORMATS = ("json", "csv")
CSV_COLUMNS = ("step", "train", "val", "lr", "seconds")  # batch_loss has another length


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
        """The history as a dict of lists (stored in checkpoints and history.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """Rebuild a history from ``to_dict``'s output."""
        return cls(**{k: list(v) for k, v in d.items()})

    def last(self, split: str = "val") -> float:
        """The most recent estimate of ``split``'s loss."""
        values = getattr(self, split)
        if not values:
            raise ValueError(f"no {split} loss has been recorded yet")
        return values[-1]


def write_history(history: History, path: str | Path) -> Path:
    """Write ``history`` to ``path``: JSON (every list) for .json, CSV (the estimates) for .csv."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in HISTORY_FORMATS:
        raise ValueError(f"a history is written as .json or .csv, got {path.name!r}")
    if fmt == "json":
        path.write_text(json.dumps(history.to_dict()) + "\n")
        return path
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        w.writerows(zip(*(getattr(history, c) for c in CSV_COLUMNS), strict=True))
    return path
