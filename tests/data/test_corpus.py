"""Parallel text loading: two aligned files, TSV, JSONL; alignment kept; clear errors naming the file."""

from __future__ import annotations

import json

import pytest

from seq2seq.errors import UserError
from seq2seq.data.corpus import count_pairs, load_pairs, pair_chunks, read_lines


def _write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


def test_two_aligned_files(tmp_path):
    src = _write(tmp_path / "a.src", "Hello, world!\nThe cat.\nÜber straße – ok\n")
    tgt = _write(tmp_path / "a.tgt", "Hallo, Welt!\nDie Katze.\nover street - ok\n")
    s, t = load_pairs(src, tgt)
    assert s == ["Hello, world!", "The cat.", "Über straße – ok"]
    assert t == ["Hallo, Welt!", "Die Katze.", "over street - ok"]


def test_paths_may_be_strings(tmp_path):
    src = _write(tmp_path / "a.src", "x\n")
    tgt = _write(tmp_path / "a.tgt", "y\n")
    assert load_pairs(str(src), str(tgt)) == (["x"], ["y"])


def test_empty_lines_are_kept(tmp_path):
    src = _write(tmp_path / "e.src", "one\n\nthree\n\n\nsix\n")
    tgt = _write(tmp_path / "e.tgt", "eins\nzwei\n\nvier\n\nsechs\n")
    s, t = load_pairs(src, tgt)
    assert s == ["one", "", "three", "", "", "six"]
    assert t == ["eins", "zwei", "", "vier", "", "sechs"]


def test_read_lines_details(tmp_path):
    assert read_lines(_write(tmp_path / "nonl.txt", "a\nb")) == ["a", "b"]  # no final newline
    assert read_lines(_write(tmp_path / "crlf.txt", "a\r\nb\r\n")) == ["a", "b"]
    assert read_lines(_write(tmp_path / "ws.txt", "  a  \n\t\n")) == ["  a  ", "\t"]  # whitespace kept
    assert read_lines(_write(tmp_path / "lead.txt", "\n\nx\n")) == ["", "", "x"]


def test_tsv(tmp_path):
    table = _write(tmp_path / "d.tsv", "Hello, world!\tHallo, Welt!\nA \"quoted\" word\tEin \"Wort\"\n1\t2\nNA\tnull\n")
    s, t = load_pairs(table=table)
    assert s == ["Hello, world!", 'A "quoted" word', "1", "NA"]
    assert t == ["Hallo, Welt!", 'Ein "Wort"', "2", "null"]


def test_tsv_custom_keys(tmp_path):
    table = _write(tmp_path / "d.tsv", "a\tb\nc\td\n")
    assert load_pairs(table=table, src_key="en", tgt_key="de") == (["a", "c"], ["b", "d"])


def test_jsonl_custom_keys(tmp_path):
    rows = [{"en": "Hello, world!", "de": "Hallo, Welt!", "id": 1},
            {"en": "The cat.", "de": "Die Katze.", "id": 2},
            {"en": "", "de": "leer", "id": 3}]
    table = _write(tmp_path / "d.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    s, t = load_pairs(table=table, src_key="en", tgt_key="de")
    assert s == ["Hello, world!", "The cat.", ""]
    assert t == ["Hallo, Welt!", "Die Katze.", "leer"]


def test_line_count_mismatch_names_both_files(tmp_path):
    src = _write(tmp_path / "m.src", "a\nb\nc\n")
    tgt = _write(tmp_path / "m.tgt", "x\ny\n")
    with pytest.raises(UserError) as e:
        load_pairs(src, tgt)
    msg = str(e.value)
    assert str(src) in msg and str(tgt) in msg
    assert "3" in msg and "2" in msg


def test_mismatch_from_an_extra_empty_line(tmp_path):
    src = _write(tmp_path / "m.src", "a\nb\n\n")
    tgt = _write(tmp_path / "m.tgt", "x\ny\n")
    with pytest.raises(UserError, match="3"):
        load_pairs(src, tgt)


@pytest.mark.parametrize("which", ["src", "tgt", "table"])
def test_missing_file_is_named(tmp_path, which):
    ok = _write(tmp_path / "ok.txt", "a\n")
    missing = tmp_path / "missing.txt"
    kwargs = {"src": ok, "tgt": ok}
    if which == "table":
        missing = tmp_path / "missing.tsv"
        kwargs = {"table": missing}
    else:
        kwargs[which] = missing
    with pytest.raises(UserError) as e:
        load_pairs(**kwargs)
    assert str(missing) in str(e.value)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(UserError, match="is a folder; give a file"):
        read_lines(tmp_path)


def test_jsonl_missing_column(tmp_path):
    table = _write(tmp_path / "d.jsonl", '{"en": "a", "fr": "b"}\n{"en": "c", "fr": "d"}\n')
    with pytest.raises(UserError) as e:
        load_pairs(table=table, src_key="en", tgt_key="de")
    msg = str(e.value)
    assert "de" in msg and str(table) in msg


def test_need_both_sides(tmp_path):
    src = _write(tmp_path / "a.src", "x\n")
    with pytest.raises(UserError):
        load_pairs(src, None)
    with pytest.raises(UserError):
        load_pairs()


def test_invalid_utf8(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\xfa broken\n")
    with pytest.raises(UserError) as e:
        read_lines(bad)
    assert str(bad) in str(e.value)


def test_tsv_with_extra_column(tmp_path):
    table = _write(tmp_path / "d.tsv", "a\tb\tc\nd\te\n")
    with pytest.raises(UserError):
        load_pairs(table=table)


def test_multi30k_layout_from_a_given_root(tmp_path):
    from seq2seq.data.corpus import multi30k

    raw = tmp_path / "task1" / "raw"
    raw.mkdir(parents=True)
    (raw / "val.en").write_text("A dog.\nTwo cats.\n")
    (raw / "val.de").write_text("Ein Hund.\nZwei Katzen.\n")
    assert multi30k("val", "en", "de", root=tmp_path) == (["A dog.", "Two cats."], ["Ein Hund.", "Zwei Katzen."])
    with pytest.raises(UserError, match="unknown Multi30k split"):
        multi30k("dev", "en", "de", root=tmp_path)
    with pytest.raises(UserError, match="Multi30k not found"):
        multi30k("val", "en", "de", root=tmp_path / "elsewhere")


def test_multi30k_shared_copy():
    from conftest import SHARED_DATA
    from seq2seq.data.corpus import multi30k

    if not (SHARED_DATA / "multi30k" / "task1" / "raw").is_dir():
        pytest.skip("../shared/data/multi30k is not here")
    for split, n in (("train", 29000), ("val", 1014), ("test_2016_flickr", 1000), ("test_2017_flickr", 1000)):
        src, tgt = multi30k(split, "en", "de", root=SHARED_DATA / "multi30k")
        assert len(src) == len(tgt) == n


def test_empty_file_is_called_empty(tmp_path):
    """Not "cannot read as UTF-8" (what datasets' error made of it)."""
    empty = _write(tmp_path / "empty.txt", "")
    with pytest.raises(UserError) as e:
        read_lines(empty)
    assert str(e.value) == f"{empty} is empty"
    other = _write(tmp_path / "b.txt", "x\n")
    with pytest.raises(UserError, match="is empty"):
        load_pairs(empty, other)
    with pytest.raises(UserError, match="is empty"):
        load_pairs(table=_write(tmp_path / "t.tsv", ""))


# --- streaming ------------------------------------------------------------------------------------------------

def _streamed(**kw):
    chunks = list(pair_chunks(size=2, **kw))
    assert all(len(s) == len(t) <= 2 for s, t in chunks)
    return [x for s, _ in chunks for x in s], [x for _, t in chunks for x in t]


@pytest.mark.parametrize("src_text,tgt_text", [
    ("Hello, world!\nThe cat.\nÜber straße – ok\n", "Hallo, Welt!\nDie Katze.\nover street - ok\n"),
    ("one\n\nthree\n\n\nsix\n", "eins\nzwei\n\nvier\n\nsechs\n"),  # empty lines kept
    ("a\r\nb\r\nc", "x\ry\nz\n"),  # CRLF, lone CR, no final newline
    ("\ufeffbom\n  a  \n", "x\n\t\n"),  # a BOM and whitespace stay as read_lines has them
])
def test_streamed_pairs_equal_load_pairs(tmp_path, src_text, tgt_text):
    src, tgt = _write(tmp_path / "a.src", src_text), _write(tmp_path / "a.tgt", tgt_text)
    assert _streamed(src=src, tgt=tgt) == load_pairs(src, tgt)
    assert count_pairs(src, tgt) == len(load_pairs(src, tgt)[0])
    assert _streamed(src=src, tgt=tgt, limit=2) == tuple(x[:2] for x in load_pairs(src, tgt))


def test_streamed_tables_equal_load_pairs(tmp_path):
    tsv = _write(tmp_path / "d.tsv", "Hello\tHallo\n\n1\t2\nNA\tnull\r\n")
    assert _streamed(table=tsv) == load_pairs(table=tsv)
    rows = [{"en": "Hello", "de": "Hallo", "id": 1}, {"en": "Two", "de": 2}, {"en": "3", "de": "drei"}]
    jsonl = _write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert _streamed(table=jsonl, src_key="en", tgt_key="de") == load_pairs(table=jsonl, src_key="en", tgt_key="de")


def test_streamed_errors_are_load_pairs_errors(tmp_path):
    src, tgt = _write(tmp_path / "a.src", "1\n2\n3\n"), _write(tmp_path / "a.tgt", "1\n2\n")
    with pytest.raises(UserError, match="a.src has 3 lines, .*a.tgt has 2"):
        count_pairs(src, tgt)
    with pytest.raises(UserError, match="a.tgt has 2 lines, .*a.src has 3"):
        count_pairs(tgt, src)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\xfa broken\n")
    with pytest.raises(UserError, match="bad.txt as UTF-8"):
        count_pairs(bad, src)
    with pytest.raises(UserError, match="d.tsv:2: expected 2"):
        count_pairs(table=_write(tmp_path / "d.tsv", "a\tb\nc\td\te\n"))
    with pytest.raises(UserError, match="missing column"):
        count_pairs(table=_write(tmp_path / "d.jsonl", '{"src": "a"}\n'))
    with pytest.raises(UserError, match="not found"):
        count_pairs(tmp_path / "none", src)
