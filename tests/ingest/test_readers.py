"""Reading delimited files: both parse paths, and bad rows named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.ingest.errors import IngestError
from graphrec.ingest.readers import Column, TableSpec, read_table

SPEC = TableSpec((Column("user_id", "id"), Column("item_id", "id"), Column("rating", "float"),
                  Column("timestamp", "int")), sep="\t")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_clean_file_keeps_line_numbers(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "u.data", "1\t10\t4\t100\n2\t20\t3.5\t200\n"), SPEC)
    assert table.rows_read == 2 and not table.bad_rows
    assert table.frame["_line"].tolist() == [1, 2]


@pytest.mark.parametrize(("text", "line", "field", "reason"), [
    ("1\t10\t4\t100\n2\t20\t3\t200\t9\n", 2, "<row>", "expected 4 fields, found 5"),
    ("1\t10\t4\t100\n2\t20\n", 2, "<row>", "expected 4 fields, found 2"),
    ("1\t10\t4\t100\n2\t20\tfive\t200\n", 2, "rating", "not a number"),
    ("1\t10\t4\t100\n\n3\t30\t4\tnoon\n", 3, "timestamp", "not an integer"),
    ("1\t10\t4\t100\n\t30\t4\t300\n", 2, "user_id", "missing value"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, reason: str) -> None:
    path = write(tmp_path / "u.data", text)
    table = read_table(path, SPEC)
    assert len(table.bad_rows) == 1
    bad = table.bad_rows[0]
    assert (bad.path, bad.line, bad.field) == (path, line, field)
    assert reason in bad.reason
    assert str(path) in str(bad) and f":{line}:" in str(bad)
    assert table.frame["user_id"].tolist()[0] == "1"  # the good rows survive


def test_blank_lines_keep_numbering_exact(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "u.data", "1\t10\t4\t100\n\n\n2\t20\tx\t200\n"), SPEC)
    assert [row.line for row in table.bad_rows] == [4]


def test_header_and_multichar_separator(tmp_path: Path) -> None:
    spec = TableSpec((Column("user_id", "id"), Column("item_id", "id")), sep="::", header=True)
    table = read_table(write(tmp_path / "r.dat", "user_id::item_id\n1::2\n3::4\n"), spec)
    assert table.frame[["user_id", "item_id"]].values.tolist() == [["1", "2"], ["3", "4"]]
    with pytest.raises(IngestError, match="header"):
        read_table(write(tmp_path / "bad.dat", "who::what\n1::2\n"), spec)


def test_quoted_fields_and_crlf(tmp_path: Path) -> None:
    spec = TableSpec((Column("movieId", "id"), Column("title"), Column("genres")), header=True)
    text = 'movieId,title,genres\r\n1,"Heat, the (1995)",Crime|Action\r\n2,Up (2009),Animation\r\n'
    table = read_table(write(tmp_path / "movies.csv", text), spec)
    assert table.frame["title"].tolist() == ["Heat, the (1995)", "Up (2009)"]
    assert not table.bad_rows


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_table(tmp_path / "absent.csv", SPEC)
