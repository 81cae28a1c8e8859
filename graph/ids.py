"""User and item ids: how a column of them is typed, the one written form of an id, and ids as plain Python values.

A graph types its user ids and its item ids once, at the first ingest: "int" when every id of the source is a
plain decimal integer (INTEGER_ID), else "str". Everything that reads an id back from text (an ingest's CSV, the
command line, an HTTP request) coerces it to that type with ``coerce_id``, so one user has one id wherever it is
named. NumPy hands ids out as its own scalars, which JSON and the database drivers refuse: ``plain_id`` turns them
into Python's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

IdType = Literal["int", "str"]
Which = Literal["user", "item"]
# A column of ids is integer when every id is a plain decimal integer (no sign tricks, no leading zeros) of at most
# 18 digits, so "007" and a 19-digit id stay text.
INTEGER_ID = re.compile(r"0|-?[1-9][0-9]{0,17}")
# The one written form of a non-negative integer id read from a request: plain ASCII digits, no leading zero.
CANONICAL_INTEGER = re.compile(r"0|[1-9][0-9]*", re.ASCII)
# No id holds a control character (C0, DEL or C1): NUL and newline break logs, CSV and Redis keys.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARACTERS)


@dataclass(frozen=True)
class IdTypes:
    """How a graph types its user ids and its item ids."""

    user: IdType
    item: IdType

    def of(self, which: Which) -> IdType:
        return self.user if which == "user" else self.item


def id_type(ids: pd.Series | np.ndarray) -> IdType:
    """How a column of ids is typed: "int" for an integer dtype, else "str"."""
    return "int" if pd.api.types.is_integer_dtype(ids.dtype) else "str"  # numpy's and pandas' own dtypes


def holds_control_characters(ids: pd.Series) -> pd.Series:
    """Which of a column of text ids hold a control character."""
    return ids.str.contains(CONTROL_CHARACTERS)


def coerce_id(raw: str | int, kind: IdType, which: Which) -> int | str:
    """``raw`` typed as ``kind``; ValueError, naming ``which``, if it cannot be.

    Each id has one written form, so no two spellings name one user: an integer id given as text is plain ASCII
    digits without sign, leading zero, underscore or space ("196", never " 196", "+196", "1_96" or "١٩٦"), and no
    id holds a control character (NUL, newline)."""
    if isinstance(raw, str) and _CONTROL.search(raw):
        raise ValueError(f"{which} ids hold no control characters (NUL, newline, ...); got {raw!r}")
    if kind == "str":
        return str(raw)
    if isinstance(raw, bool):
        raise ValueError(f"{which} ids are integers; got {raw!r}")
    if isinstance(raw, str) and not CANONICAL_INTEGER.fullmatch(raw):
        raise ValueError(f"{which} ids in this graph are integers, written as plain digits (no sign, space, "
                         f"underscore or leading zero); got {raw!r}")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{which} ids in this graph are integers; got {raw!r}") from None
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{which} id {raw!r} is out of the 64-bit integer range")
    return value


def plain_id(value: Any) -> Any:
    """An id (or any parameter) as a plain Python value: JSON and the drivers refuse NumPy scalars."""
    return value.item() if isinstance(value, np.generic) else value


def plain_ids(values: Iterable[Any]) -> list[Any]:
    return [plain_id(value) for value in values]


def positions(ids: np.ndarray) -> dict[object, int]:
    """Plain Python ids (what requests carry) -> their rows in ``ids``."""
    return {identifier: row for row, identifier in enumerate(ids.tolist())}
