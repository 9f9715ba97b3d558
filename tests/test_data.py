"""helpers.data: every corpus format, every bad input, the tokenizer, the split and batches."""

import json

import pytest
import torch

from helpers.data import (
    DEFAULT_CORPUS,
    PROFILES_CORPUS,
    Batches,
    CharTokenizer,
    CorpusError,
    load_corpus,
)

RECORDS = ["Luffy sets out to sea.", "Zoro joins the crew.", "Nami steals a map.", "Usopp lies."]
# The synopses' character set as the data card gives it: the reference checkpoints'
# tokenizer is fitted on it, so a fix to the text must not add or remove a character.
SYNOPSES_CHARS = "\n !\"',-.0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- every format loads ---------------------------------------------------------------


def test_csv_default_and_named_column(tmp_path):
    rows = "".join(f'{i},"Arc","T{i}","{r}"\n' for i, r in enumerate(RECORDS))
    path = write(tmp_path, "c.csv", "id,arc,title,synopsis\n" + rows)
    assert load_corpus(path).records == RECORDS
    assert load_corpus(path, text_field="title").records == ["T0", "T1", "T2", "T3"]


def test_csv_without_synopsis_falls_back_to_profile(tmp_path):
    rows = "".join(f'{i},"Name {i}","{r}"\n' for i, r in enumerate(RECORDS))
    path = write(tmp_path, "p.csv", "id,name,profile\n" + rows)
    assert load_corpus(path).records == RECORDS
    both = write(tmp_path, "b.csv", 'id,profile,synopsis\n1,"the profile","the synopsis"\n')
    assert load_corpus(both).records == ["the synopsis"]  # 'synopsis' comes first


def test_json_with_synopsis_or_summary_or_named_field(tmp_path):
    path = write(tmp_path, "a.json", json.dumps([{"synopsis": r} for r in RECORDS]))
    assert load_corpus(path).records == RECORDS
    path = write(tmp_path, "b.json", json.dumps([{"summary": r} for r in RECORDS]))
    assert load_corpus(path).records == RECORDS
    path = write(tmp_path, "c.json", json.dumps([{"text": r} for r in RECORDS]))
    assert load_corpus(path, text_field="text").records == RECORDS


def test_jsonl_skips_blank_lines(tmp_path):
    lines = "\n".join(json.dumps({"synopsis": r}) for r in RECORDS)
    assert load_corpus(write(tmp_path, "a.jsonl", lines + "\n\n")).records == RECORDS


def test_txt_records_are_separated_by_blank_lines(tmp_path):
    path = write(tmp_path, "a.txt", "\n\n".join(RECORDS) + "\n")
    assert load_corpus(path).records == RECORDS
    path = write(tmp_path, "b.txt", "\r\n\r\n".join(RECORDS))  # Windows line ends
    assert load_corpus(path).records == RECORDS


# --- bad input: a clear error naming the file and the problem ------------------------


@pytest.mark.parametrize(
    "name, content, field, message",
    [
        ("empty.csv", "", None, "the file is empty"),
        ("blank.txt", "  \n\n \n", None, "the file is empty"),
        ("a.docx", "hello", None, "unsupported file type '.docx'"),
        ("bad.txt", b"Luffy \xff\xfe", None, "byte 0xff at byte offset 6"),
        (
            "latin1.csv",
            "id,synopsis\n1,Caf\xe9\n".encode("latin-1"),
            None,
            "re-save the file as UTF-8",
        ),
        ("u16.txt", "Luffy".encode("utf-16"), None, "saved as UTF-16; re-save the file as UTF-8"),
        ("a.csv", "id,text\n1,hello\n", None, "no column 'synopsis'"),
        ("b.csv", "id,synopsis\n1,hi\n", "summary", "no column 'summary'"),
        ("a.json", '{"synopsis": "x"}', None, "expected a JSON list of objects"),
        ("b.json", '["x", "y"]', None, "expected a JSON list of objects"),
        ("c.json", '[{"title": "x"}]', None, "object 0 has no field 'synopsis' or 'summary'"),
        ("e.json", '[{"text": "x", "id": 1}]', None, r"its fields are \['id', 'text'\]"),
        (
            "f.json",
            '[{"synopsis": "x"}]',
            "body",
            r"no field 'body'; its fields are \['synopsis'\]",
        ),
        ("c.jsonl", '{"title": "x"}\n', None, r"line 1 has no field .*its fields are \['title'\]"),
        ("d.json", "[{", None, "not valid JSON"),
        ("a.jsonl", '{"synopsis": "x"}\n[1]\n', None, "line 2 is list"),
        ("b.jsonl", '{"synopsis": "x"}\n{"synopsis": \n', None, "line 2 is not valid JSON"),
        ("c.csv", "id,synopsis\n1,\n2,  \n", None, r"every record is empty \(2 found\)"),
    ],
)
def test_bad_files_are_named(tmp_path, name, content, field, message):
    path = write(tmp_path, name, content)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CorpusError, match=message) as err:
        load_corpus(path, text_field=field)
    assert name in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_json_cut_short_says_so(tmp_path):
    whole = json.dumps([{"synopsis": r} for r in RECORDS])
    for cut in (
        len(whole) - 1,
        len(whole) - 12,
        len(whole) // 2,
    ):  # after ] / in a string / mid-file
        with pytest.raises(CorpusError, match="may be cut short") as err:
            load_corpus(write(tmp_path, "cut.json", whole[:cut]), text_field=None)
        assert "not valid JSON" in str(err.value) and "\n" not in str(err.value)
    lines = [json.dumps({"synopsis": r}) for r in RECORDS]
    cut_last = "\n".join(lines)[:-5] + "\n\n"  # the last line is cut; blank lines after it
    with pytest.raises(CorpusError, match=r"line 4 is not valid JSON: .*may be cut short"):
        load_corpus(write(tmp_path, "cut.jsonl", cut_last))


def test_json_error_inside_the_file_does_not_blame_a_cut(tmp_path):
    bad = '[{"synopsis": "a"} {"synopsis": "b"}]'  # a missing comma, not a cut
    with pytest.raises(CorpusError, match="Expecting ',' delimiter at column 20") as err:
        load_corpus(write(tmp_path, "a.json", bad))
    assert "cut short" not in str(err.value)
    lines = [json.dumps({"synopsis": r}) for r in RECORDS]
    lines[1] = lines[1][:-3]  # broken in the middle of the file
    with pytest.raises(CorpusError, match="line 2 is not valid JSON: .* at column") as err:
        load_corpus(write(tmp_path, "b.jsonl", "\n".join(lines)))
    assert "cut short" not in str(err.value)


def test_empty_records_are_dropped_and_counted(tmp_path):
    rows = 'id,synopsis\n1,"Luffy sets out."\n2,\n3,"   "\n4,"Zoro joins."\n'
    corpus = load_corpus(write(tmp_path, "a.csv", rows))
    assert corpus.records == ["Luffy sets out.", "Zoro joins."]
    assert corpus.stats()["empty_records_dropped"] == 2
    objs = [{"synopsis": "Nami."}, {"synopsis": ""}, {"synopsis": "Usopp."}]
    assert load_corpus(write(tmp_path, "a.json", json.dumps(objs))).empty_dropped == 1
    lines = "\n".join(json.dumps(o) for o in objs)
    assert load_corpus(write(tmp_path, "a.jsonl", lines)).empty_dropped == 1
    # extra blank lines between .txt records are spacing, not empty records; nothing is reported
    txt = load_corpus(write(tmp_path, "a.txt", "Nami.\n\n\n\n\nUsopp.\n\n \n\n"))
    assert txt.records == ["Nami.", "Usopp."] and "empty_records_dropped" not in txt.stats()


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffsynopsis,id\nLuffy.,1\n".encode("utf-8"))
    assert load_corpus(path).records == ["Luffy."]


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="nope.csv: no such file"):
        load_corpus(tmp_path / "nope.csv")


def test_corpus_shorter_than_one_block(tmp_path):
    corpus = load_corpus(write(tmp_path, "a.txt", "\n\n".join(RECORDS)))
    tok = CharTokenizer.fit(corpus.text)
    with pytest.raises(CorpusError, match="shorter than one block of context"):
        Batches.from_corpus(corpus, tok, block_size=64, val_fraction=0.25)


# --- split, tokenizer, batches ----------------------------------------------------------


def test_split_is_by_record_and_keeps_story_order(tmp_path):
    records = [f"record number {i}." for i in range(20)]
    corpus = load_corpus(write(tmp_path, "a.txt", "\n\n".join(records)))
    train, val = corpus.split()
    assert train == records[:18] and val == records[18:]
    assert corpus.stats()["records"] == 20


def test_tokenizer_round_trip_save_load_and_unknown_character(tmp_path):
    tok = CharTokenizer.fit("hello world")
    assert tok.decode(tok.encode("hello")) == "hello"
    tok.save(tmp_path / "tok.json")
    assert CharTokenizer.load(tmp_path / "tok.json").chars == tok.chars
    with pytest.raises(ValueError, match=r"character 'z' at position 3 is not in the vocabulary"):
        tok.encode("helz")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([99])


def test_batches_are_shifted_by_one_and_reproducible():
    ids = torch.arange(100)
    batches = Batches(ids[:80], ids[80:], block_size=8)
    x, y = batches.get("train", 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)
    x2, _ = batches.get("train", 4, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    xv, _ = batches.get("val", 4, torch.Generator().manual_seed(0))
    assert xv.min() >= 80
    with pytest.raises(ValueError, match="split"):
        batches.get("test", 4)


# --- the shipped corpus -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    if not DEFAULT_CORPUS.exists():
        pytest.fail(f"the shipped corpus {DEFAULT_CORPUS} is missing")
    return load_corpus(DEFAULT_CORPUS)


def test_shipped_corpus_size(shipped):
    stats = shipped.stats()
    assert stats["records"] >= 400, stats
    assert sum(map(len, shipped.records)) >= 300_000, stats
    assert stats["vocabulary"] <= 90, stats


def test_shipped_corpus_is_ascii_without_duplicates(shipped):
    assert all(r.isascii() for r in shipped.records)
    assert len(set(shipped.records)) == len(shipped.records)


def test_shipped_corpus_columns_and_ids():
    import csv

    with open(DEFAULT_CORPUS, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "arc", "title", "synopsis"]
    assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["arc"] == "Romance Dawn"


def test_shipped_corpus_round_trips_through_the_tokenizer(shipped):
    tok = CharTokenizer.fit(shipped.text)
    assert tok.decode(tok.encode(shipped.text)) == shipped.text


def test_shipped_corpus_character_set_is_unchanged(shipped):
    assert "".join(sorted(set(shipped.text))) == SYNOPSES_CHARS


# --- episode 07's profiles corpus ---------------------------------------------------------


@pytest.fixture(scope="module")
def profiles():
    if not PROFILES_CORPUS.exists():
        pytest.fail(f"the profiles corpus {PROFILES_CORPUS} is missing")
    return load_corpus(PROFILES_CORPUS)


def test_profiles_columns_ids_and_names():
    import csv

    with open(PROFILES_CORPUS, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "name", "profile"]
    assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names), "each character has one profile"
    assert rows[0]["name"] == "Monkey D. Luffy"


def test_profiles_size_and_record_lengths(profiles):
    lengths = [len(r) for r in profiles.records]
    assert 120 <= len(lengths) <= 200, len(lengths)
    assert 40_000 <= sum(lengths) <= 80_000, sum(lengths)
    assert 250 <= min(lengths) and max(lengths) <= 500, (min(lengths), max(lengths))
    assert len(set(profiles.records)) == len(profiles.records)


def test_profiles_encode_with_the_synopses_tokenizer(shipped, profiles):
    tok = CharTokenizer.fit(shipped.text)  # the reference checkpoints' vocabulary
    assert set(profiles.text) <= set(tok.chars), sorted(set(profiles.text) - set(tok.chars))
    assert tok.decode(tok.encode(profiles.text)) == profiles.text


def test_profiles_are_not_copied_from_the_synopses(shipped, profiles):
    # a different register: no 80-character run of a profile appears in the synopses
    synopses = shipped.text
    for record in profiles.records:
        for start in range(0, len(record) - 80, 40):
            assert record[start : start + 80] not in synopses, record[start : start + 80]


def test_profiles_split_like_the_synopses(profiles):
    train, val = profiles.split(0.1)
    assert (len(train), len(val)) == (166, 18)
    assert train + val == profiles.records
    assert val[0].startswith("Kikunojo") and val[-1].startswith("The Five Elders")
