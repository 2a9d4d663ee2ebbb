"""CSV for downloads that stream (an export can be long) and are safe to open in a spreadsheet."""

from __future__ import annotations

import csv


class Echo:
    """A file that hands back what is written to it, for csv.writer to feed a streaming response."""

    def write(self, value):
        return value


def writer():
    return csv.writer(Echo())


def cell(value) -> str:
    # A cell starting with = + - @ (or a tab or CR) is a formula to a spreadsheet, and exports carry
    # customers' own names: quote it so that opening the export runs nothing (OWASP's advice).
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def row(values) -> list[str]:
    return [cell(value) for value in values]
