"""helpers.train.history: losses as data, and the JSON and CSV files a run writes."""

import csv
import json

import pytest

from helpers.train import History, write_history


def example() -> History:
    return History(
        step=[0, 10],
        train=[2.0, 1.5],
        val=[2.1, 1.7],
        lr=[0.1, 0.05],
        seconds=[0.0, 1.25],
        batch_loss=[2.0] * 10,
    )


def test_round_trip_through_a_dict():
    h = example()
    assert History.from_dict(h.to_dict()) == h
    assert History.from_dict(json.loads(json.dumps(h.to_dict()))) == h


def test_last_gives_the_latest_estimate_and_names_an_empty_split():
    assert example().last() == 1.7 and example().last("train") == 1.5
    with pytest.raises(ValueError, match="no val loss has been recorded yet"):
        History().last()


def test_json_holds_every_list(tmp_path):
    path = write_history(example(), tmp_path / "history.json")
    assert History.from_dict(json.loads(path.read_text())) == example()


def test_csv_holds_one_row_per_estimate(tmp_path):
    path = write_history(example(), tmp_path / "history.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["step", "train", "val", "lr", "seconds"]
    assert rows[1:] == [["0", "2.0", "2.1", "0.1", "0.0"], ["10", "1.5", "1.7", "0.05", "1.25"]]


def test_other_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match="history.txt"):
        write_history(example(), tmp_path / "history.txt")
