"""The corpus, the character tokenizer and training batches (episode 06).

``load_corpus`` reads synopses from .csv, .json, .jsonl or .txt, so a learner can
train episode 06's GPT on their own file. Records are split by story order, never
inside a record: the last 10 % of records are the validation set. Episode 07
fine-tunes on a second, smaller corpus in another register, ``PROFILES_CORPUS``
(character profiles, field 'profile'), split the same way.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"  # git-ignored: everything the notebooks and training write
DEFAULT_CORPUS = DATA_DIR / "one_piece_synopses.csv"
PROFILES_CORPUS = DATA_DIR / "one_piece_profiles.csv"  # episode 07's fine-tuning corpus
SUPPORTED = (".csv", ".json", ".jsonl", ".txt")
DEFAULT_FIELDS = ("synopsis", "summary", "profile")  # tried in this order when none is named
RECORD_SEPARATOR = "\n\n"  # records are joined with a blank line between them


class CorpusError(ValueError):
    """A corpus file that cannot be used, with the file and the problem named."""


@dataclass
class Corpus:
    """The records of a corpus file, in file order (and how many empty ones were dropped)."""

    path: Path
    records: list[str]
    empty_dropped: int = 0  # .csv/.json/.jsonl rows or objects whose text was empty

    @property
    def text(self) -> str:
        """All records joined with a blank line between them."""
        return RECORD_SEPARATOR.join(self.records)

    def stats(self) -> dict:
        """Records, characters and distinct characters; empty records dropped, if there were any."""
        text = self.text
        stats = {
            "records": len(self.records),
            "characters": len(text),
            "vocabulary": len(set(text)),
            "mean_record_chars": round(sum(map(len, self.records)) / len(self.records), 1),
        }
        if self.empty_dropped:
            stats["empty_records_dropped"] = self.empty_dropped
        return stats

    def split(self, val_fraction: float = 0.1) -> tuple[list[str], list[str]]:
        """Split by record: the first (1 - val_fraction) for training, the rest for validation."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        n_val = max(1, round(len(self.records) * val_fraction))
        if n_val >= len(self.records):
            raise CorpusError(
                f"{self.path}: {len(self.records)} record(s) is too few to split into "
                f"training and validation"
            )
        return self.records[:-n_val], self.records[-n_val:]


def _read_text(path: Path) -> str:
    """Read a file as UTF-8 (a leading byte-order mark is dropped), naming the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            guess = "it starts with a UTF-16 byte-order mark, so it was saved as UTF-16; "
        else:
            guess = ""
        raise CorpusError(
            f"{path}: not UTF-8 text: byte 0x{data[e.start]:02x} at byte offset {e.start} "
            f"cannot be decoded ({e.reason}); {guess}re-save the file as UTF-8 "
            f"(most editors offer the encoding under Save As)"
        ) from None


def _json_problem(e: json.JSONDecodeError, text: str, at_end_of_file: bool) -> str:
    """Describe a JSON decode error; one where the text runs out may mean a file cut short."""
    where = f"line {e.lineno} column {e.colno}" if "\n" in text else f"column {e.colno}"
    problem = f"{e.msg} {where}" if e.msg.endswith(" at") else f"{e.msg} at {where}"
    runs_out = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
    if at_end_of_file and runs_out:
        problem += (
            "; the text ends in the middle of a value, so the file may be cut short "
            "(an interrupted download or copy?)"
        )
    return problem


def _field_of(obj: dict, text_field: str | None, path: Path, where: str) -> str:
    """Return the text field of one JSON object, or raise naming the record."""
    candidates = (text_field,) if text_field else DEFAULT_FIELDS
    for name in candidates:
        if name in obj:
            value = obj[name]
            if not isinstance(value, str):
                raise CorpusError(
                    f"{path}: {where}: field {name!r} is {type(value).__name__}, not text"
                )
            return value
    raise CorpusError(
        f"{path}: {where} has no field {' or '.join(map(repr, candidates))}; its fields are "
        f"{sorted(obj)}; name the text field with text_field= (--text-field on the command line)"
    )


def load_corpus(path: str | Path, text_field: str | None = None) -> Corpus:
    """Read the records of a .csv, .json, .jsonl or .txt corpus file.

    .csv: one row per record; .json: a list of objects; .jsonl: one object per
    line. The text is in column/field ``text_field``, by default the first of
    'synopsis', 'summary', 'profile' present. .txt: records separated by blank
    lines. Surrounding whitespace is stripped and empty records are dropped; the
    corpus counts the dropped rows or objects (``stats()['empty_records_dropped']``).
    """
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED:
        raise CorpusError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(SUPPORTED)}"
        )
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    text = _read_text(path)
    if not text.strip():
        raise CorpusError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        candidates = (text_field,) if text_field else DEFAULT_FIELDS
        column = next((c for c in candidates if c in columns), None)
        if column is None:
            raise CorpusError(
                f"{path}: no column {' or '.join(map(repr, candidates))}; the columns are "
                f"{columns}; name the text column with text_field= (--text-field on the command line)"
            )
        records = [row[column] or "" for row in reader]
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}: not valid JSON: {_json_problem(e, text, True)}") from None
        if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
            raise CorpusError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
        records = [_field_of(o, text_field, path, f"object {i}") for i, o in enumerate(data)]
    elif suffix == ".jsonl":
        records = []
        lines = text.splitlines()
        last = max(n for n, line in enumerate(lines, start=1) if line.strip())
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problem = _json_problem(e, line, at_end_of_file=n == last)
                raise CorpusError(f"{path}: line {n} is not valid JSON: {problem}") from None
            if not isinstance(obj, dict):
                raise CorpusError(f"{path}: line {n} is {type(obj).__name__}, not a JSON object")
            records.append(_field_of(obj, text_field, path, f"line {n}"))
    else:  # .txt: extra blank lines between records are not empty records
        records = [r for r in text.replace("\r\n", "\n").split("\n\n") if r.strip()]
    kept = [r.strip() for r in records if r.strip()]
    if not kept:
        raise CorpusError(f"{path}: every record is empty ({len(records)} found)")
    return Corpus(path=path, records=kept, empty_dropped=len(records) - len(kept))


class CharTokenizer:
    """Characters to integer ids and back; the vocabulary is the sorted set of characters seen."""

    def __init__(self, chars: list[str] | str):
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("a tokenizer needs at least one character")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, text: str) -> "CharTokenizer":
        """A tokenizer whose vocabulary is every character in ``text``."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text -> ids; a character outside the vocabulary is an error naming it and where."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            raise ValueError(
                f"character {text[pos]!r} at position {pos} is not in the vocabulary "
                f"({self.vocab_size} characters)"
            ) from None

    def decode(self, ids) -> str:
        """Ids (a list or a 1-D tensor) -> text."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"id {bad[0]} is outside the vocabulary 0..{self.vocab_size - 1}")
        return "".join(self.chars[i] for i in ids)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(
            json.dumps({"chars": self.chars}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> "CharTokenizer":
        """Read a vocabulary written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such tokenizer file")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("chars"), list):
            raise ValueError(f"{path}: expected a JSON object with a 'chars' list")
        return cls(data["chars"])


class Batches:
    """Random training windows from the encoded train and validation texts.

    ``get(split, batch_size, generator)`` returns x (B, T) and y (B, T), where y is x
    shifted one character to the left: at every position the target is the next character.
    """

    def __init__(self, train_ids: torch.Tensor, val_ids: torch.Tensor, block_size: int):
        for name, ids in (("training", train_ids), ("validation", val_ids)):
            if len(ids) < block_size + 1:
                raise CorpusError(
                    f"the {name} text has {len(ids)} characters, shorter than one block of "
                    f"context plus a target ({block_size + 1}); use a smaller block_size or more text"
                )
        self.data = {"train": train_ids, "val": val_ids}
        self.block_size = block_size

    @classmethod
    def from_corpus(
        cls, corpus: Corpus, tokenizer: CharTokenizer, block_size: int, val_fraction: float = 0.1
    ) -> "Batches":
        """Encode the corpus split by record (see ``Corpus.split``)."""
        train, val = corpus.split(val_fraction)
        encode = lambda records: torch.tensor(  # noqa: E731
            tokenizer.encode(RECORD_SEPARATOR.join(records)), dtype=torch.long
        )
        return cls(encode(train), encode(val), block_size)

    def get(
        self, split: str, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of random windows: x, y each (batch_size, block_size)."""
        if split not in self.data:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        ids, T = self.data[split], self.block_size
        starts = torch.randint(len(ids) - T, (batch_size,), generator=generator)  # (B,)
        offsets = torch.arange(T)  # (T,)
        x = ids[starts[:, None] + offsets]  # (B, T)
        y = ids[starts[:, None] + offsets + 1]  # (B, T): the next character of each
        return x, y
