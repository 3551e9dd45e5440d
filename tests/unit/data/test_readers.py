"""The readers on bytes a real export holds: no byte, row or line fails a read, every CSV cell
stays text, and what cannot be read becomes a row marked with its reason (quarantined later)."""

import gzip
import io
import json

import pytest

from skutune.data.readers import MAX_ROW_BYTES, _Capped, csv_rows, files_of, jsonl_rows
from skutune.runtime.paths import json_row


def reasons(rows):
    return [r.split("\x00")[2] for r in rows if r.startswith("\x00")]


def test_csv_encoding_one_bad_byte_is_one_bad_row_and_cells_stay_text():
    data = (
        b"\xef\xbb\xbfquery,price\r\nfridge,100\r\n\r\n"
        + "caf\xe9,300\n".encode("latin-1")
        + b'phone,"1,200"\nac,1,extra\n"two\nlines",5\n,\n'
    )
    rows = list(csv_rows(_Capped(io.BytesIO(data))))
    good = [json.loads(r) for r in rows if not r.startswith("\x00")]
    assert good == [
        {"query": "fridge", "price": "100"},
        {"query": "phone", "price": "1,200"},  # after numeric rows: still the shopper's text
        {"query": "two\nlines", "price": "5"},
        {},  # a row of empty cells: validation says what it lacks
    ]
    assert reasons(rows) == ["not valid UTF-8 (byte 3)", "CSV row has 3 fields, the header 2"]


def test_jsonl_lines_are_capped_and_gzip_is_read_as_a_stream():
    data = gzip.compress(b'{"q": "oven"}\n' + b"x" * (MAX_ROW_BYTES + 1) + b'\n{}\r\n{"a": 1}' + b"y" * MAX_ROW_BYTES)
    rows = list(jsonl_rows(_Capped(io.BytesIO(data))))
    assert rows[0] == '{"q": "oven"}' and rows[2] == "{}"
    assert reasons(rows) == [f"line over {MAX_ROW_BYTES} bytes"] * 2 and len(rows) == 4


def test_nested_json_is_a_value_error_not_a_recursion_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        json_row("[" * 100_000 + "]" * 100_000)


def test_folders_skip_hidden_files_and_name_unknown_ones(tmp_path):
    (tmp_path / "a.csv").write_text("q\nx\n")
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "_SUCCESS").write_text("")
    assert [p.rsplit("/", 1)[1] for p in files_of(tmp_path)] == ["a.csv", "b.jsonl.gz"]
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="notes.txt"):
        files_of(tmp_path)
