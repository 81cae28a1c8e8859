"""Reading delimited source files into typed frames, with every bad row named by file, line and field.

The fast path hands the whole file to pandas' pyarrow parser. When that parser refuses the file, or the row
count does not match the line count (blank lines, quoted line breaks), the exact path re-reads it with the csv
module, which knows each row's line number. Either way each row keeps its line number in ``_line`` until the
adapter has finished validating, so a check made late still points at the right line.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from graphrec.graph.ids import holds_control_characters
from graphrec.ingest.errors import BadRow, IngestError
from graphrec.ingest.frames import canonical_ids

FieldKind = Literal["id", "int", "float", "str"]
LINE = "_line"
INTEGER = r"\s*[-+]?[0-9]+\s*"
# A byte that never occurs in text data: multi-character separators such as '::' are rewritten to it so
# the single-character parsers can split them.
UNIT_SEPARATOR = "\x1f"
FIELD_LIMIT = csv.field_size_limit()  # 128 KiB: the longest field a row may hold


@dataclass(frozen=True)
class Column:
    name: str
    kind: FieldKind = "str"
    optional: bool = False  # an empty value is allowed (and becomes missing)
    bounds: tuple[float, float] | None = None  # a number outside [low, high] is a bad row


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[Column, ...]
    sep: str = ","
    header: bool = False  # the first line names the columns (and is checked against them)
    encoding: str = "utf-8"
    quoting: bool = True  # CSV quoting; off for files whose text holds bare quote characters
    min_columns: int | None = None  # trailing optional columns may be absent from a row
    comment: str | None = None  # lines starting with this are skipped


@dataclass
class Table:
    path: Path
    frame: pd.DataFrame  # string columns as read (missing values as NaN) plus _line
    rows_read: int
    bad_rows: list[BadRow] = field(default_factory=list)

    def reject(self, mask: pd.Series | np.ndarray, column: str, reason: str | pd.Series) -> None:
        """Move the rows under ``mask`` to the bad rows, each with ``reason`` (a string or one per row)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        bad = self.frame.loc[mask]
        reasons = reason[mask] if isinstance(reason, pd.Series) else [reason] * len(bad)
        self.bad_rows.extend(BadRow(self.path, int(line), column, str(why))
                             for line, why in zip(bad[LINE], reasons, strict=True))
        self.frame = self.frame.loc[~mask]


def read_table(path: Path, spec: TableSpec) -> Table:
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    data = path.read_bytes()
    if spec.encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # a byte-order mark some editors write; not part of the first field
    undecodable = _undecodable_lines(data, spec.encoding)
    sep = spec.sep
    if len(sep) > 1:
        data = data.replace(sep.encode(spec.encoding), UNIT_SEPARATOR.encode(spec.encoding))
        sep = UNIT_SEPARATOR
    if spec.header:
        _check_header(path, data, spec, sep)
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    marker = spec.comment.encode(spec.encoding) if spec.comment else None
    has_comments = marker is not None and (data.startswith(marker) or b"\n" + marker in data)
    frame = None if has_comments or undecodable else _fast_parse(data, spec, sep)
    first_data_line = 2 if spec.header else 1
    if frame is not None and len(frame) == lines - (first_data_line - 1):
        frame[LINE] = np.arange(first_data_line, first_data_line + len(frame))
        table = Table(path, frame, rows_read=len(frame))
    else:
        table = _exact_parse(path, data.decode(spec.encoding, errors="replace"), spec, sep)
    _refuse_long_fields(table, data)
    if undecodable:
        on_bad_line = table.frame[LINE].isin(undecodable).to_numpy()
        table.reject(on_bad_line, _first_field_with(table.frame, on_bad_line, "\ufffd"),
                     f"not valid {spec.encoding}: an id or name would silently become another")
    _check_kinds(table, spec)
    return table


def _refuse_long_fields(table: Table, data: bytes) -> None:
    """Rows with a field over FIELD_LIMIT bytes are bad rows, whichever parser read them (the csv module refuses
    such a field itself; pyarrow would take it). Only files with a line that long are checked field by field."""
    if len(data) <= FIELD_LIMIT:
        return
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    if np.diff(breaks, prepend=-1, append=len(data)).max() <= FIELD_LIMIT:
        return
    for name in [c for c in table.frame.columns if c != LINE]:
        lengths = _text(table.frame[name].fillna("")).str.len()
        table.reject((lengths > FIELD_LIMIT).to_numpy(), name, f"over {FIELD_LIMIT // 1024} KiB")


def _undecodable_lines(data: bytes, encoding: str) -> set[int]:
    """The line numbers (from 1) holding bytes that are not valid ``encoding``; empty for a clean file."""
    try:
        data.decode(encoding)
        return set()
    except UnicodeDecodeError:
        pass
    found = set()
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            found.add(number)
    return found


def _first_field_with(frame: pd.DataFrame, rows: np.ndarray, text: str) -> str:
    """The first column holding ``text`` in any of ``rows`` (the field a reason names), else "<row>"."""
    for name in frame.columns:
        if name != LINE and _text(frame.loc[rows, name].fillna("")).str.contains(text, regex=False).any():
            return str(name)
    return "<row>"


def _fast_parse(data: bytes, spec: TableSpec, sep: str) -> pd.DataFrame | None:
    names = [c.name for c in spec.columns]
    if spec.min_columns is not None and spec.min_columns < len(names):
        return None  # ragged rows: only the exact path can tell a short row from a bad one
    try:
        frame = pd.read_csv(
            io.BytesIO(data), sep=sep, header=0 if spec.header else None, names=names, dtype=str,
            encoding=spec.encoding, engine="pyarrow" if spec.quoting else "c",
            keep_default_na=False, na_values=[""],
            **({} if spec.quoting else {"quoting": csv.QUOTE_NONE}),
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError):
        return None
    return frame


def _check_header(path: Path, data: bytes, spec: TableSpec, sep: str) -> None:
    first = data.split(b"\n", 1)[0].decode(spec.encoding, errors="replace").rstrip("\r")
    quoting = csv.QUOTE_MINIMAL if spec.quoting else csv.QUOTE_NONE
    try:
        found = [f.strip() for f in next(csv.reader([first], delimiter=sep, quoting=quoting), [])]
    except csv.Error as error:
        raise IngestError(f"{path}:1: field '<header>': the header is not readable as CSV ({error})") from None
    names = [c.name for c in spec.columns]
    low = spec.min_columns if spec.min_columns is not None else len(names)
    if found[: len(names)] != names[: len(found)] or not low <= len(found) <= len(names):
        raise IngestError(f"{path}:1: field '<header>': header {found} does not match the expected columns {names}")


def _exact_parse(path: Path, text: str, spec: TableSpec, sep: str) -> Table:
    names = [c.name for c in spec.columns]
    low = spec.min_columns if spec.min_columns is not None else len(names)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep,
                        quoting=csv.QUOTE_MINIMAL if spec.quoting else csv.QUOTE_NONE)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    bad: list[BadRow] = []
    read = 0
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # a field over the csv module's limit, a broken quote: this row only
            read += 1
            bad.append(BadRow(path, reader.line_num, "<row>", f"unparsable CSV: {error}"))
            start = reader.line_num + 1
            continue
        line = reader.line_num
        if spec.header and line == 1:
            continue  # checked by _check_header
        if not fields or fields == [""] or (spec.comment and fields[0].startswith(spec.comment)):
            continue  # a blank or comment line carries no row
        read += 1
        if not low <= len(fields) <= len(names):
            expected = str(len(names)) if low == len(names) else f"{low} to {len(names)}"
            bad.append(BadRow(path, start if start < line else line, "<row>",
                              f"expected {expected} fields, found {len(fields)}"))
        else:
            rows.append(fields + [""] * (len(names) - len(fields)))
            line_numbers.append(line)
        start = line + 1
    frame = pd.DataFrame(rows, columns=names, dtype=object).replace("", np.nan) if rows else pd.DataFrame(
        {n: pd.Series(dtype=object) for n in names})
    frame[LINE] = np.asarray(line_numbers, dtype=np.int64)
    return Table(path, frame, rows_read=read, bad_rows=bad)


def _check_kinds(table: Table, spec: TableSpec) -> None:
    """Reject rows whose fields do not fit their kind, then give int and float columns their numeric dtype."""
    for column in spec.columns:
        name = column.name
        values = table.frame[name]
        blank = values.isna().to_numpy() | (_text(values).str.strip() == "").to_numpy()
        if not column.optional:
            table.reject(blank, name, "missing value")
            values = table.frame[name]
            blank = values.isna().to_numpy()
        if column.kind == "id" and holds_control_characters(_text(pd.Series(pd.unique(values.dropna())))).any():
            text = _text(values.fillna(""))  # the distinct ids are checked first: a clean file costs one pass of them
            table.reject(holds_control_characters(text).to_numpy(), name,
                         "a control character (NUL, newline, ...) in an id: " + text.str.slice(0, 40).map(repr))
        if column.kind == "int":
            table.frame[name] = _numbers(table, name, blank, "Int64", INTEGER, "not an integer")
        elif column.kind == "float":
            table.frame[name] = _numbers(table, name, blank, "float64", None, "not a number")
        if column.bounds is not None:
            low, high = column.bounds
            numbers = table.frame[name].astype("float64")
            outside = (numbers.notna() & ~numbers.between(low, high)).to_numpy()
            if outside.any():
                table.reject(outside, name, f"outside the scale {low:g} to {high:g}: "
                             + numbers.map("{:g}".format).astype(str))


def _text(values: pd.Series) -> pd.Series:
    return values if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object else values.astype("str")


def _numbers(table: Table, name: str, blank: np.ndarray, dtype: str, pattern: str | None,
             reason: str) -> pd.Series:
    """The column as numbers. A vectorised cast first; only when it fails, the row-by-row diagnosis."""
    values = table.frame[name]
    try:
        converted = values.astype(dtype)
        if dtype == "float64" and not np.isfinite(converted[~blank]).all():
            raise ValueError("infinite value")
        return converted
    except (ValueError, TypeError, OverflowError):
        pass
    text = _text(values).str.strip()
    if pattern is not None:
        bad = ~blank & ~text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        too_large = ~bad & ~blank & ~text.map(_fits_int64).to_numpy(dtype=bool)
        table.reject(too_large, name, "out of the 64-bit integer range: " + text.str.slice(0, 40))
        text, blank, bad = text[~too_large], blank[~too_large], bad[~too_large]
    else:
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = ~blank & ~np.isfinite(numbers.to_numpy())
    table.reject(bad, name, f"{reason}: " + text.str.slice(0, 40))
    return pd.to_numeric(_text(table.frame[name]).str.strip(), errors="coerce").astype(dtype)


def _fits_int64(text: object) -> bool:
    try:
        return -(2**63) <= int(str(text)) < 2**63
    except ValueError:
        return True  # not an integer at all: the pattern check names it


def ints(values: pd.Series) -> pd.Series:
    return values.astype(np.int64)


def floats(values: pd.Series) -> pd.Series:
    return values.astype(np.float64)


def ids(values: pd.Series) -> pd.Series:
    return canonical_ids(_text(values).str.strip() if len(values) else values)


def texts(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def unknown_value(table: Table, column: str, allowed: Set[str], what: str, *, optional: bool = False) -> None:
    """Reject rows whose ``column`` (lower-cased, stripped) is not in ``allowed``; blanks pass if ``optional``."""
    values = _text(table.frame[column]).str.strip().str.lower()
    present = table.frame[column].notna().to_numpy() if optional else True
    table.reject(present & ~values.isin(allowed).to_numpy(), column,
                 f"unknown {what} " + values.str.slice(0, 40) + f"; expected one of {sorted(allowed)}")
