"""Loads a store's landing folder into the warehouse's `raw` schema, as text, losing nothing.

Each landing file becomes one raw table with every contract column (missing optional columns as
NULL, missing files as empty tables) plus `_source_file` and `_source_row` (the physical line a
CSV record starts on, counting the header as line 1; the 1-based row number of a Parquet row).

CSV text is split into records here, in Python, rather than by DuckDB's reader: one parser then
decides both what a record is and which line it came from, so line numbers stay exact through
blank lines, multi-line quoted fields and rejected records, and every odd file gets a decision
written below instead of a sniffer's guess. Records that cannot be split into the header's
columns go to `raw.load_rejects` with their line and reason (dbt turns them into quarantine
rows); records with bytes that decode in no known encoding are loaded with replacement
characters and flagged in `raw.load_rejects` (reason undecodable_text), so their *_checked model
rejects them. Rows in = rows loaded + rows rejected at load, per file, in `raw.load_audit`
(blank records are not rows; they are counted in `blank_lines`).

A file that cannot be read at all (empty, binary, no usable header, a required column missing,
an ambiguous header) stops the load with a LaokeError naming the file, the row and the column:
building on part of a store's data would silently drop customers or opt-outs.

Phones and reply texts are classified here (libphonenumber is Python) into `raw.phone_numbers`
and `raw.reply_classes`, which dbt joins by the raw text.

Parts and incremental loading. Besides the one file per table (`orders.csv`), a table may come in
parts: a folder named after the table (`orders/`, every CSV or Parquet file in it) and dated files
beside the main file (`orders_YYYYMMDD.csv`, eight digits, optionally followed by `_` or `-` and
anything: `orders_20261101_tmall.csv`). A table's files load in the byte order of their names as
`_source_file` holds them: the main file, then `orders/<part>`, then `orders_<date>...`; that order
is also "first" for duplicate keys (a repeated order_id keeps the row of the earliest file).
`raw.load_files` records every file loaded (size, modification time, a hash of its first and last
MiB, and the `load_id` of the load that read it). A later load reads only the files that are new:
a table whose files are all unchanged and still present gets the new files appended; a table with
a file changed or removed is reloaded as a whole (every file of it gets the new load_id), and
`full=True` (`laoke build --full-refresh`) reloads everything. Either way the raw schema ends up
equal to a load from scratch of the same folder (up to physical row order). The dbt models read
`raw.load_files` to process only the rows of new files (see int_orders_checked).

Large clean CSV files take a fast path: a file that is valid UTF-8 without NUL bytes, without
any '"' (so no quoted field and no record spanning lines), without a bare CR and with its header
on line 1 is split by DuckDB (read_csv, one column per physical line, then string_split by the
header's delimiter), so line n of the file is row n - 1 of the scan. The same decisions as the
Python reader are made in SQL (blank records, too many / too few fields, repeated headers, field
too long), and the scan is checked against the file before it is trusted: as many rows as line
ends, and the first lines equal to Python's reading of them; any doubt falls back to the Python
reader. LAOKE_CSV_FAST_MIN_BYTES sets the smallest file that takes it (default 1 MiB; -1 never).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import operator
import os
import re
import subprocess
import unicodedata
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa

from laoke.contract import COLUMN_ALIASES, LANDING_FILES, LandingFile
from laoke.errors import LaokeError

RAW_SCHEMA = "raw"
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
# A landing file under a contract name in a format laoke cannot read is an error, not ignored:
# otherwise a store that drops customers.xlsx would get a warehouse without its customers.
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".numbers", ".ods")

# Delimiters a header may use; the one under which the header names the most contract columns
# wins (ties: the most fields, then this order). Stores export ',' and also ';' (European Excel)
# and tab (Excel "Unicode text", many ERPs), '|', and the full-width comma '，' of a hand-typed file.
DELIMITERS = (",", "\t", ";", "|", "\uff0c")
# No contract field needs more text than this (ids, names, dates, amounts, categories). A longer
# value is garbage (a pasted document, a runaway export); its record is rejected at load with
# reason field_too_long rather than carried into models and send lists. Ignored columns may be
# any length.
MAX_FIELD_CHARS = 32_768
# A quoted field may span lines (addresses, notes with line breaks). One that has not closed
# after this many lines is an unclosed quote, not a field: see _RecordReader.
MAX_RECORD_LINES = 100
# Accepted records go to DuckDB in batches of this many rows (bounded memory on large files).
_BATCH_ROWS = 100_000
# Characters trimmed from both ends of every value: whitespace (incl. the full-width space and
# NBSP that Chinese exports carry), zero-width space and stray BOMs.
_TRIM_CHARS = " \t\r\n\x0b\x0c\u00a0\u3000\u2000\u2001\u2002\u2003\u2009\u200b\ufeff"

csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


@dataclass
class LoadedFile:
    table_name: str
    source_file: str
    file_format: str
    encoding: str
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    extra_columns: str
    # Records with no value at all (blank lines, lines of only delimiters): not rows, not loaded.
    blank_lines: int = 0
    # The load (raw.load_files.load_id) that read this file; files read by an earlier load keep theirs.
    load_id: int = 0
    # 'python' (the record reader), 'duckdb' (the fast path for clean CSV) or 'parquet'.
    reader: str = ""


_KNOWN_NAMES = frozenset(COLUMN_ALIASES) | frozenset(c for f in LANDING_FILES.values() for c in f.columns)
_COMPACT_NAMES = {c.replace("_", ""): c for f in LANDING_FILES.values() for c in f.columns}
_TRAILING_PARENS = re.compile(r"_*\([^()]*\)$")


def normalise_header(name: str) -> str:
    """'Customer ID ' -> 'customer_id'; known aliases (手机号 -> phone) map to contract names.

    Full-width characters are folded (NFKC), a trailing unit in parentheses is dropped when the
    name is otherwise unknown ('实付金额（元）' -> amount), and 'CustomerID' matches customer_id.
    """
    cleaned = unicodedata.normalize("NFKC", name).replace("\ufeff", "").strip(_TRIM_CHARS).strip('"').strip()
    cleaned = re.sub(r"[\s\-]+", "_", cleaned.lower())
    if cleaned not in _KNOWN_NAMES:
        bare = _TRAILING_PARENS.sub("", cleaned)
        if bare in _KNOWN_NAMES:
            cleaned = bare
        elif cleaned.replace("_", "") in _COMPACT_NAMES:
            cleaned = _COMPACT_NAMES[cleaned.replace("_", "")]
    return COLUMN_ALIASES.get(cleaned, cleaned)


def find_landing_files(landing: Path) -> dict[str, Path]:
    """Maps each contract table to its file in the landing folder (orders.csv, orders.parquet, ...).

    Only the one main file per table; parts (orders/ and orders_YYYYMMDD.csv) are listed by
    find_landing_parts."""
    if not landing.is_dir():
        raise LaokeError(f"{landing}: landing folder does not exist (set LAOKE_LANDING or run `laoke generate`)")
    found: dict[str, Path] = {}
    for path in sorted(landing.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        stem, suffix = path.name.split(".", 1)[0].lower(), path.suffix.lower()
        if stem not in LANDING_FILES:
            continue
        if suffix in SPREADSHEET_SUFFIXES:
            raise LaokeError(
                f"{path}: a spreadsheet is not read; save the {stem} sheet as CSV (UTF-8) or Parquet"
            )
        if suffix not in TEXT_SUFFIXES + PARQUET_SUFFIXES:
            continue
        if stem in found:
            raise LaokeError(f"{landing}: both {found[stem].name} and {path.name} hold {stem}; keep one")
        found[stem] = path
    return found


# A dated part beside the main file: orders_20261101.csv, order_lines_20261101-2.parquet.
_DATED_PART = re.compile(r"^(?P<table>[a-z_]+?)_(?P<date>[0-9]{8})(?:[_\-][^.]*)?\.(?P<ext>[^.]+)$")


def _part_suffix_ok(path: Path, table: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        raise LaokeError(f"{path}: a spreadsheet is not read; save the {table} sheet as CSV (UTF-8) or Parquet")
    return suffix in TEXT_SUFFIXES + PARQUET_SUFFIXES


def find_landing_parts(landing: Path) -> dict[str, list[tuple[str, Path]]]:
    """Every file of each contract table, as (source name, path) in load order.

    The source name is what `_source_file` holds: the file name for files in the landing folder
    ('orders.csv', 'orders_20261101.csv'), 'orders/<name>' for the parts in a table's folder.
    Load order is the byte order of source names: main file, folder parts, dated files."""
    parts: dict[str, list[tuple[str, Path]]] = {
        name: [(path.name, path)] for name, path in find_landing_files(landing).items()
    }
    for path in sorted(landing.iterdir()):
        if path.name.startswith((".", "~$")):
            continue
        if path.is_dir() and path.name.lower() in LANDING_FILES:
            table = path.name.lower()
            for part in sorted(path.iterdir()):
                if part.name.startswith((".", "~$")) or not part.is_file() or not _part_suffix_ok(part, table):
                    continue
                parts.setdefault(table, []).append((f"{path.name}/{part.name}", part))
            continue
        match = _DATED_PART.match(path.name.lower())
        if path.is_file() and match and match.group("table") in LANDING_FILES and _part_suffix_ok(path, match.group("table")):
            parts.setdefault(match.group("table"), []).append((path.name, path))
    return {table: sorted(files) for table, files in parts.items()}


def _fingerprint(path: Path) -> tuple[int, int, str]:
    """(size, mtime_ns, hash of the first and last MiB): what tells a changed file from a known one."""
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        if stat.st_size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            digest.update(f.read(1 << 20))
    return stat.st_size, stat.st_mtime_ns, digest.hexdigest()


# --- reading text ------------------------------------------------------------------------------


class _Line(NamedTuple):
    number: int
    text: str
    # None, 'undecodable_text' (no encoding fits: decoded with replacement characters) or
    # 'nul_byte' (NUL bytes removed).
    flag: str | None


class _TextFile:
    """A landing text file as decoded lines, each with its physical line number.

    Decisions: a UTF-8 BOM is dropped; a UTF-16 file (BOM, or NUL-heavy without one: Excel's
    "Unicode text") is decoded as a whole; otherwise each line is decoded on its own, as UTF-8,
    else GB18030 (a superset of GBK/GB2312), so a file of GBK exports appended to UTF-8 ones
    loads. A line that is neither is decoded with replacement characters and flagged, so its
    record is quarantined as undecodable_text, not lost. NUL bytes are removed and flagged (a
    field-level trace; the row is kept). Lines end at LF (CRLF included); a file with CR only
    (old Mac exports) is split at CR.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.encodings: set[str] = set()
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if not head:
            raise LaokeError(f"{path}: row 1: empty file (0 bytes): expected a header row")
        if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
            raise LaokeError(f"{path}: row 1: an Excel workbook, not CSV text; save it as CSV (UTF-8) or Parquet")
        if head.startswith(b"PAR1"):
            raise LaokeError(f"{path}: row 1: a Parquet file with a text name; rename it to {path.stem}.parquet")
        self.utf16 = self._utf16_codec(head)
        self.bom = head.startswith(codecs.BOM_UTF8)
        self.cr_only = b"\n" not in head and b"\r" in head

    @staticmethod
    def _utf16_codec(head: bytes) -> str | None:
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        sample = head[:4096]
        if len(sample) >= 4 and sample.count(b"\x00") >= len(sample) // 3:
            odd = sample[1::2].count(b"\x00")
            even = sample[0::2].count(b"\x00")
            return "utf-16-le" if odd > even else "utf-16-be"
        return None

    @property
    def encoding(self) -> str:
        if self.utf16:
            return "utf-16"
        if {"utf-8", "gb18030"} <= self.encodings:
            return "mixed"
        if "gb18030" in self.encodings:
            return "gbk"
        return "utf-8-bom" if self.bom else "utf-8"

    def lines(self) -> Iterator[_Line]:
        if self.utf16:
            yield from self._utf16_lines()
            return
        with open(self.path, "rb") as f:
            raw_lines: Iterator[bytes] = f
            if self.cr_only:
                raw_lines = _split_keep(f.read(), b"\r")
            for number, raw in enumerate(raw_lines, start=1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                flag = None
                if b"\x00" in raw:
                    raw = raw.replace(b"\x00", b"")
                    flag = "nul_byte"
                if raw.isascii():
                    yield _Line(number, raw.decode("ascii"), flag)
                    continue
                try:
                    text = raw.decode("utf-8")
                    self.encodings.add("utf-8")
                except UnicodeDecodeError:
                    try:
                        text = raw.decode("gb18030")
                        self.encodings.add("gb18030")
                    except UnicodeDecodeError:
                        text = raw.decode("utf-8", errors="replace")
                        flag = "undecodable_text"
                yield _Line(number, text, flag)

    def _utf16_lines(self) -> Iterator[_Line]:
        try:
            text = self.path.read_bytes().decode(self.utf16)
        except UnicodeDecodeError as exc:
            raise LaokeError(f"{self.path}: row 1: looks like UTF-16 text but does not decode ({exc.reason}); "
                             "save it as CSV (UTF-8)") from None
        text = text.lstrip("\ufeff")
        for number, line in enumerate(_split_keep(text, "\n"), start=1):
            flag = None
            if "\x00" in line:
                line, flag = line.replace("\x00", ""), "nul_byte"
            yield _Line(number, line, flag)


def _split_keep(data, sep):
    """data split after each sep (kept), without an empty piece after a final sep."""
    parts = data.split(sep)
    last = parts.pop()
    pieces = [part + sep for part in parts]
    if last:
        pieces.append(last)
    return pieces


class _RunawayRecord(Exception):
    """A quoted field has run past MAX_RECORD_LINES lines: an unclosed quote."""


class _LineFeed:
    """Feeds lines to csv.reader one at a time, remembering which lines each record used.

    csv.reader never reads past the end of a record, so the lines taken since the last record
    are exactly that record's lines; lines can be pushed back to be read again.
    """

    def __init__(self, lines: Iterator[_Line]) -> None:
        self._lines = lines
        self.pending: deque[_Line] = deque()
        self.taken: list[_Line] = []

    def __iter__(self) -> "_LineFeed":
        return self

    def __next__(self) -> str:
        line = self.pending.popleft() if self.pending else next(self._lines)
        self.taken.append(line)
        if len(self.taken) > MAX_RECORD_LINES:
            raise _RunawayRecord
        return line.text


@dataclass(slots=True)
class _Record:
    fields: list[str]
    lines: list[_Line]
    # None for a well-formed record; 'malformed_quoting' when a quote opened on its first line
    # never closes properly, 'malformed_record' when the line cannot be split at all (a bare CR
    # inside an unquoted value). The record is then that line alone; later lines are read again.
    problem: str | None = None
    detail: str = ""

    @property
    def line(self) -> int:
        return self.lines[0].number

    @property
    def raw(self) -> str:
        return "".join(line.text for line in self.lines)


def _strict_record(text: str, delimiter: str) -> list[str] | None:
    """The one record text holds under strict RFC 4180 quoting, or None."""
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', doublequote=True, strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


class _RecordReader:
    """Splits lines into CSV records (quotes '"', doubled to escape; a stray quote inside an
    unquoted value is kept as text, as Excel writes it).

    A record spanning several lines is kept only when it is well-formed (strict quoting) and, once
    the header is known (width), has the header's number of fields. Otherwise the quote on its
    first line is unclosed: that line alone is rejected (malformed_quoting) and the following
    lines are read again as records, so one stray quote costs one row, not the rest of the file.
    """

    def __init__(self, lines: Iterator[_Line], delimiter: str) -> None:
        self.feed = _LineFeed(lines)
        self.delimiter = delimiter
        self.width: int | None = None
        self._rows = self._reader()

    def _reader(self):
        return csv.reader(self.feed, delimiter=self.delimiter, quotechar='"', doublequote=True, strict=False)

    def __iter__(self) -> "_RecordReader":
        return self

    def __next__(self) -> _Record:
        feed = self.feed
        feed.taken = []
        problem, detail = "malformed_quoting", "a quote opened on this line is not closed; the lines after it are read again"
        try:
            fields = next(self._rows)
        except StopIteration:
            if not feed.taken:
                raise
            fields = None  # defensive: the reader stopped inside a record
        except _RunawayRecord:
            fields = None
        except csv.Error as exc:
            fields = None
            if len(feed.taken) == 1:
                problem, detail = "malformed_record", str(exc).split(" - ")[0]
        taken = feed.taken
        if fields is not None and len(taken) == 1:
            return _Record(fields, taken)
        if fields is not None:
            strict = _strict_record("".join(line.text for line in taken), self.delimiter)
            if strict is not None and (self.width is None or len(strict) == self.width):
                return _Record(strict, taken)
        # Unclosed (or broken) quote: reject the first line, read the lines after it again.
        feed.pending.extendleft(reversed(taken[1:]))
        first = taken[0]
        self._rows = self._reader()
        return _Record([], [first], problem, detail)


def _is_blank(fields: list[str]) -> bool:
    return not any(f.strip(_TRIM_CHARS) for f in fields)


def _pick_delimiter(contract: LandingFile, header_text: str) -> str:
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            names = next(csv.reader([header_text], delimiter=delimiter, strict=False), [])
        except csv.Error:  # the header cannot be split at all: reported when it is read
            names = []
        known = sum(1 for n in {normalise_header(n) for n in names} if n in contract.columns)
        score = (known, len(names))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _show(name: str) -> str:
    """A header name as one short line, for messages."""
    text = " ".join(name.split())
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_columns(contract: LandingFile, source: Path, header: list[str], row: int = 1) -> tuple[dict[str, int], list[str]]:
    """Maps each contract column to its position in the file's header; errors name the file, the
    row and the column.

    Decisions: unknown columns are ignored and reported (load_audit.extra_columns); a column with
    an empty name is ignored the same way (Excel's trailing delimiter); two columns that mean the
    same contract column are an error (which one holds the amount paid?), two unknown ones are not.
    """
    if not any(h.strip(_TRIM_CHARS) for h in header):
        raise LaokeError(
            f"{source}: row {row}: no header: expected a header row with at least {', '.join(contract.required)}"
        )
    mapping: dict[str, int] = {}
    extras: list[str] = []
    for position, original in enumerate(header):
        name = normalise_header(original)
        if not name:
            extras.append(f"(column {position + 1})")
            continue
        if name in contract.columns:
            if name in mapping:
                first = mapping[name]
                raise LaokeError(
                    f"{source}: row {row}: columns {first + 1} ({_show(header[first])}) and {position + 1} "
                    f"({_show(original)}) both map to column {name!r}; keep or rename one"
                )
            mapping[name] = position
        else:
            extras.append(" ".join(original.split()))
    missing = [c for c in contract.required if c not in mapping]
    if missing:
        found = ", ".join(_show(h) for h in header[:20]) + (", ..." if len(header) > 20 else "")
        label = "column" if len(missing) == 1 else "columns"
        raise LaokeError(
            f"{source}: row {row}: missing required {label} {', '.join(repr(m) for m in missing)} "
            f"(found: {found}; required: {', '.join(contract.required)})"
        )
    return mapping, extras


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_empty(con: duckdb.DuckDBPyConnection, contract: LandingFile) -> None:
    columns = ", ".join(f"{c} varchar" for c in contract.columns)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.{contract.name} "
        f"({columns}, _source_file varchar, _source_row bigint)"
    )


def _unguard_sql(expr: str) -> str:
    """Excel's text guard ="00042" -> 00042: exports wrap long ids and phones that way so Excel
    keeps their digits. (Values arrive trimmed, empty as NULL.)"""
    chars = _sql_str(_TRIM_CHARS)
    unguarded = f"nullif(trim(regexp_replace({expr}, '^=\"(.*)\"$', '\\1', 's'), {chars}), '')"
    return f"case when starts_with({expr}, '=\"') then {unguarded} else {expr} end"


# A value whose ends (after spaces) hold one of the trim characters other than the space: only
# those are trimmed with the whole character set, which is several times slower in DuckDB than
# trimming spaces (and gives the same result on every other value).
_ODD_TRIM_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(set(_TRIM_CHARS) - {" "})) + "]"
_ODD_EDGES = f"^ *{_ODD_TRIM_CLASS}|{_ODD_TRIM_CLASS} *$"


def _clean_sql(expr: str) -> str:
    """_unguard_sql of a value trimmed in SQL, empty -> NULL (for Parquet, read by DuckDB)."""
    trimmed = (f"(case when regexp_matches({expr}, {_sql_str(_ODD_EDGES)}) "
               f"then trim({expr}, {_sql_str(_TRIM_CHARS)}) else trim({expr}) end)")
    return _unguard_sql(f"nullif({trimmed}, '')")


class _RawWriter:
    """Appends accepted records to raw.<table> in batches through Arrow."""

    def __init__(self, con, contract: LandingFile, source_file: str, mapping: dict[str, int]) -> None:
        self.con, self.contract, self.source_file = con, contract, source_file
        self.positions = [mapping.get(c) for c in contract.columns]
        present = [p for p in self.positions if p is not None]
        self.pick = operator.itemgetter(*present) if len(present) > 1 else (lambda f, p=present[0]: (f[p],))
        self.present_columns = [c for c, p in zip(contract.columns, self.positions) if p is not None]
        self.rows: list[tuple] = []
        self.lines: list[int] = []
        self.count = 0

    def add(self, values: tuple, line: int) -> None:
        self.rows.append(values)
        self.lines.append(line)
        if len(self.rows) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        trim = _TRIM_CHARS
        arrays = {
            f"c{i}": pa.array([v.strip(trim) or None for v in column], type=pa.string())
            for i, column in enumerate(zip(*self.rows))
        }
        arrays["_source_row"] = pa.array(self.lines, type=pa.int64())
        by_column = {c: f"c{i}" for i, c in enumerate(self.present_columns)}
        select = ", ".join(
            _unguard_sql(by_column[c]) if c in by_column else "cast(null as varchar)" for c in self.contract.columns
        )
        self.con.register("_raw_batch", pa.table(arrays))
        self.con.execute(
            f"insert into {RAW_SCHEMA}.{self.contract.name} "
            f"select {select}, {_sql_str(self.source_file)}, _source_row from _raw_batch"
        )
        self.con.unregister("_raw_batch")
        self.count += len(self.rows)
        self.rows, self.lines = [], []


# --- the fast path for large clean CSV files -------------------------------------------------------

_FAST_CHUNK = 16 << 20
_FAST_SAMPLE_LINES = 2000
_FAST_DELIMITER = "\x01"  # never in an eligible file: the scan's one column is the whole line


def _fast_min_bytes() -> int:
    value = os.environ.get("LAOKE_CSV_FAST_MIN_BYTES", "").strip()
    try:
        return int(value) if value else 1 << 20
    except ValueError:
        return 1 << 20


@dataclass
class _FastScan:
    newlines: int
    crlf: bool
    ends_with_newline: bool


def _fast_scan(path: Path) -> _FastScan | None:
    """The byte-level facts the fast path needs, or None when the file is not eligible: not valid
    UTF-8, a NUL, a '"', the scan's delimiter (\\x01), a CR that does not end a line, or a mix of
    LF and CRLF line ends."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = crs = crlfs = 0
    previous = b""
    with open(path, "rb") as f:
        while chunk := f.read(_FAST_CHUNK):
            if b'"' in chunk or b"\x00" in chunk or b"\x01" in chunk:
                return None
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return None
            newlines += chunk.count(b"\n")
            crs += chunk.count(b"\r")
            crlfs += chunk.count(b"\r\n") + (previous == b"\r" and chunk[:1] == b"\n")
            previous = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if crs != crlfs or (crlfs and crlfs != newlines):
        return None
    return _FastScan(newlines, crlfs > 0, previous == b"\n")


def _load_csv_fast(con, contract: LandingFile, path: Path, source_name: str, text: "_TextFile", delimiter: str,
                   header: list[str], mapping: dict[str, int], extras: list[str]) -> LoadedFile | None:
    """Loads a clean CSV through DuckDB's reader with the Python reader's decisions (see the module
    docstring); None when the file is not eligible or the scan cannot be trusted."""
    minimum = _fast_min_bytes()
    if minimum < 0 or text.utf16 or text.cr_only or path.stat().st_size < minimum:
        return None
    scan = _fast_scan(path)
    if scan is None:
        return None
    # Physical lines after the header: every line end but the header's, plus an unterminated last line.
    data_lines = scan.newlines - 1 + (0 if scan.ends_with_newline else 1)
    if data_lines <= 0:
        return None  # a header-only file: nothing to gain
    new_line = "'\\r\\n'" if scan.crlf else "'\\n'"  # DuckDB's escaped spelling of the line end
    read = (f"read_csv({_sql_str(str(path))}, header = false, columns = {{'line': 'VARCHAR'}}, "
            f"delim = {_sql_str(_FAST_DELIMITER)}, quote = '', escape = '', skip = 1, auto_detect = false, "
            f"strict_mode = false, new_line = {new_line}, max_line_size = 1073741824)")
    # A trial scan (streamed, nothing kept) on a connection of its own: a reader error there
    # cannot abort the load's transaction.
    try:
        from laoke.warehouse import duckdb_config

        with duckdb.connect(config=duckdb_config()) as trial:
            if trial.execute(f"select count(*) from {read}").fetchall()[0][0] != data_lines:
                return None
    except duckdb.Error:
        return None
    con.execute("set preserve_insertion_order = true")  # rowid order = line order
    con.execute(f"create or replace temp table _fast_lines as select line from {read}")
    try:
        # Rows are numbered by rowid, in insertion (= file) order; inside a transaction rowids start
        # at an offset, so the first row's is subtracted. Contiguous, one row per line, or no trust.
        trusted, first_rowid = _fast_lines_trusted(con, path, scan, data_lines)
        if not trusted:
            return None
        return _fast_insert(con, contract, source_name, text, delimiter, header, mapping, extras,
                            "\r\n" if scan.crlf else "\n", data_lines, scan.ends_with_newline, first_rowid)
    finally:
        con.execute("drop table if exists _fast_lines")


def _fast_lines_trusted(con, path: Path, scan: _FastScan, data_lines: int) -> tuple[bool, int]:
    """One row per physical line, numbered by rowid without gaps, and the first and last lines as
    DuckDB read them equal to the lines Python reads."""
    count, first_rowid, last_rowid = con.execute(
        "select count(*), min(rowid), max(rowid) from _fast_lines").fetchall()[0]
    if count != data_lines or last_rowid - first_rowid + 1 != count:
        return False, 0
    head = [r[0] or "" for r in con.execute(
        f"select line from _fast_lines where rowid < {first_rowid + _FAST_SAMPLE_LINES} order by rowid").fetchall()]
    expected = []
    with open(path, "rb") as f:
        f.readline()
        for raw in f:
            expected.append(raw.decode("utf-8").removesuffix("\n").removesuffix("\r"))
            if len(expected) == len(head):
                break
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (1 << 16)))
        tail_lines = f.read().split(b"\n")
    if head != expected:
        return False, 0
    if scan.ends_with_newline:
        tail_lines.pop()
    tail = [raw.decode("utf-8", errors="replace").removesuffix("\r") for raw in tail_lines[1:]][-_FAST_SAMPLE_LINES:]
    got_tail = [r[0] or "" for r in con.execute(
        f"select line from _fast_lines where rowid > {last_rowid - len(tail)} order by rowid").fetchall()]
    return (not tail or got_tail == tail), first_rowid


def _fast_insert(con, contract: LandingFile, source_name: str, text: "_TextFile", delimiter: str, header: list[str],
                 mapping: dict[str, int], extras: list[str], newline: str, data_lines: int, ends_with_newline: bool,
                 first_rowid: int) -> LoadedFile:
    """The Python reader's decisions in SQL over _fast_lines (one row per line): a first pass keeps
    the few lines that are not plain rows (blank, wrong width, a possible repeated header, a long
    line), a second pass inserts every other line."""
    width = len(header)
    trim, delim = _sql_str(_TRIM_CHARS), _sql_str(delimiter)
    last_line = data_lines + 1
    header_guard = sorted(_KNOWN_NAMES | {header[0].strip(_TRIM_CHARS).lower()})
    guard_sql = ", ".join(_sql_str(g) for g in header_guard)
    # Trimming by the whole character set is slow in DuckDB: unless the file holds one of the
    # characters other than the space (LF and CR end lines; the delimiter is never inside a
    # field), values are trimmed of spaces only.
    other = sorted(set(_TRIM_CHARS) - {" ", "\n", "\r", delimiter})
    odd_class = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in other) + "]"
    odd = con.execute(f"select coalesce(bool_or(regexp_matches(line, {_sql_str(odd_class)})), false) "
                      "from _fast_lines").fetchall()[0][0]

    def trimmed(expr: str) -> str:
        return f"trim({expr}, {trim})" if odd else f"trim({expr})"

    numbered = f"(select rowid - {first_rowid} + 2 as n, coalesce(line, '') as text from _fast_lines)"
    con.execute(f"""
        create or replace temp table _fast_other as
        select n, text, fields, field_count, is_blank
        from (
            select n, text, fields, len(fields) as field_count, {trimmed(f"replace(text, {delim}, '')")} = '' as is_blank
            from (select n, text, string_split(text, {delim}) as fields from {numbered})
        )
        where is_blank or field_count <> {width} or length(text) > {MAX_FIELD_CHARS}
            or lower({trimmed('fields[1]')}) in ({guard_sql})
    """)
    # A repeated header and a field too long: told in Python, exactly as the Python reader tells them.
    candidates = con.execute(f"""
        select n, fields, length(text) > {MAX_FIELD_CHARS} from _fast_other
        where not is_blank and field_count = {width}
    """).fetchall()
    normalised_header = [normalise_header(h) for h in header]
    special: dict[int, tuple[str, str]] = {}
    for n, fields, long_line in candidates:
        if fields[0].strip(_TRIM_CHARS).lower() in header_guard and \
                [normalise_header(f) for f in fields[:width]] == normalised_header:
            special[n] = ("repeated_header", "the header row again")
            continue
        too_long = [name for name, pos in mapping.items() if len(fields[pos]) > MAX_FIELD_CHARS] if long_line else []
        if too_long:
            special[n] = ("field_too_long", f"column {too_long[0]!r}: {len(fields[mapping[too_long[0]]]):,} "
                                            f"characters (limit {MAX_FIELD_CHARS:,})")
    con.execute("create or replace temp table _fast_special (n bigint, reason varchar, detail varchar)")
    if special:
        con.executemany("insert into _fast_special values (?, ?, ?)", [(n, r, d) for n, (r, d) in special.items()])
    raw_line = (f"left(s.text || case when s.n = {last_line} and not {str(ends_with_newline).lower()} then '' "
                f"else {_sql_str(newline)} end, 2000)")
    try:
        # No '"' in the file, so no Excel text guard ="..." to unwrap: values are trimmed, '' is NULL.
        values = [f"nullif({trimmed(f'fields[{mapping[c] + 1}]')}, '')" if c in mapping else "cast(null as varchar)"
                  for c in contract.columns]
        con.execute(f"""
            insert into {RAW_SCHEMA}.{contract.name}
            select {', '.join(values)}, {_sql_str(source_name)}, n
            from (select n, string_split(text, {delim}) as fields from {numbered})
            where n not in (
                select n from _fast_other where is_blank or field_count <> {width}
                union all
                select n from _fast_special
            )
        """)
        con.execute(f"""
            insert into {RAW_SCHEMA}.load_rejects
            select {_sql_str(contract.name)}, {_sql_str(source_name)}, s.n,
                case when s.field_count > {width} then 'too_many_fields'
                     when s.field_count < {width} then 'too_few_fields'
                     else x.reason end,
                case when s.field_count <> {width} then s.field_count || ' fields; the header has {width}'
                     else x.detail end,
                {raw_line}
            from _fast_other as s
            left join _fast_special as x on x.n = s.n
            where not s.is_blank and (s.field_count <> {width} or x.n is not null)
            order by s.n
        """)
        rejected, blank = con.execute(f"""
            select count(*) filter (where not is_blank and (field_count <> {width} or n in (select n from _fast_special))),
                   count(*) filter (where is_blank)
            from _fast_other
        """).fetchall()[0]
    finally:
        con.execute("drop table if exists _fast_special")
        con.execute("drop table if exists _fast_other")
    loaded = data_lines - blank - rejected
    encoding = "utf-8-bom" if text.bom else "utf-8"
    return LoadedFile(contract.name, source_name, "csv", encoding, loaded + rejected, loaded, rejected,
                      ";".join(extras), blank, reader="duckdb")


def _load_csv(con, contract: LandingFile, path: Path, source_name: str | None = None) -> LoadedFile:
    source_name = source_name or path.name
    text = _TextFile(path)
    lines = text.lines()
    # The header is the first non-blank line (leading blank lines are skipped, not an error).
    first = next((line for line in lines if line.text.strip(_TRIM_CHARS)), None)
    if first is None:
        raise LaokeError(f"{path}: row 1: no header: the file has only blank lines")
    if first.flag == "undecodable_text":
        raise LaokeError(f"{path}: row {first.number}: the header is not UTF-8 or GBK text (a binary file?)")
    delimiter = _pick_delimiter(contract, first.text)
    records = _RecordReader(_chain(first, lines), delimiter)
    header_record = next(records)
    if header_record.problem:
        why = "a quote in it is not closed" if header_record.problem == "malformed_quoting" else header_record.detail
        raise LaokeError(f"{path}: row {header_record.line}: the header cannot be parsed ({why})")
    header = header_record.fields
    mapping, extras = _check_columns(contract, path, header, header_record.line)
    width = len(header)
    normalised_header = [normalise_header(h) for h in header]
    # Cheap first test for a repeated header row: its first value is a column name.
    header_guard = _KNOWN_NAMES | {header[0].strip(_TRIM_CHARS).lower()}
    # From here on, multi-line records are checked against the header's width.
    records.width = width

    if header_record.line == 1 and len(header_record.lines) == 1 and header_record.lines[0].flag is None:
        fast = _load_csv_fast(con, contract, path, source_name, text, delimiter, header, mapping, extras)
        if fast is not None:
            return fast

    writer = _RawWriter(con, contract, source_name, mapping)
    mapped = list(mapping.items())
    rejects: list[tuple] = []
    flags: list[tuple] = []
    blank = 0
    trim = _TRIM_CHARS
    for record in records:
        fields, lines = record.fields, record.lines
        # Fast path: the shape nearly every record has.
        if (record.problem is None and len(fields) == width and len(lines) == 1 and lines[0].flag is None
                and len(lines[0].text) <= MAX_FIELD_CHARS and (first_value := fields[0].strip(trim))
                and first_value.lower() not in header_guard):
            writer.add(writer.pick(fields), lines[0].number)
            continue
        reason, detail = None, ""
        if record.problem:
            reason, detail = record.problem, record.detail
        elif _is_blank(fields):
            blank += 1
            continue
        elif len(fields) != width:
            # Decision: any other number of fields is rejected, even empty extra fields: an
            # unquoted '1,299.00' in a row whose last value is empty looks exactly like a trailing
            # delimiter, and accepting it would load amount 1 silently. Fewer fields: which one
            # is missing cannot be told.
            if len(fields) > width:
                reason, detail = "too_many_fields", f"{len(fields)} fields; the header has {width}"
            else:
                reason, detail = "too_few_fields", f"{len(fields)} fields; the header has {width}"
            if '"' in record.raw and _strict_record(record.raw, delimiter) is None:
                reason = "malformed_quoting"
        elif fields[0].strip(trim).lower() in header_guard and [
            normalise_header(f) for f in fields[:width]
        ] == normalised_header:
            # A second header inside the data (exports pasted one after another).
            reason, detail = "repeated_header", "the header row again"
        elif sum(len(line.text) for line in lines) > MAX_FIELD_CHARS:
            too_long = [name for name, pos in mapped if len(fields[pos]) > MAX_FIELD_CHARS]
            if too_long:
                reason = "field_too_long"
                detail = f"column {too_long[0]!r}: {len(fields[mapping[too_long[0]]]):,} characters (limit {MAX_FIELD_CHARS:,})"
        if reason:
            rejects.append((contract.name, source_name, record.line, reason, detail, record.raw[:2000]))
            continue
        if len(lines) > 1:
            # A line break inside a value is '\n', whatever the file's line ends.
            fields = [f.replace("\r\n", "\n") for f in fields]
        writer.add(writer.pick(fields), record.line)
        # Flags of any line of the record belong to the record's (first) line.
        for flag in sorted({line.flag for line in lines if line.flag}):
            if flag == "undecodable_text":
                flags.append((contract.name, source_name, record.line, flag, "bytes not valid UTF-8 or GB18030", record.raw[:2000]))
            else:
                flags.append((contract.name, source_name, record.line, flag, "NUL byte removed", ""))
    writer.flush()
    _insert_rejects(con, rejects + flags)
    return LoadedFile(contract.name, source_name, "csv", text.encoding, writer.count + len(rejects), writer.count,
                      len(rejects), ";".join(extras), blank, reader="python")


def _chain(first: _Line, rest: Iterator[_Line]) -> Iterator[_Line]:
    yield first
    yield from rest


# --- Parquet -------------------------------------------------------------------------------------


def _parquet_value_sql(column: str, duck_type: str) -> str:
    """A typed Parquet value as the text a CSV would hold.

    Decisions: a timestamp with time zone keeps its instant as ISO text with offset (staging
    converts it to store time); an integral float (an id or phone column that pandas turned into
    float because of a missing value: 42.0) is written without '.0'.
    """
    col = _quote(column)
    upper = duck_type.upper()
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        return f"strftime(timezone('UTC', {col}), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"
    if upper in ("DOUBLE", "FLOAT", "REAL"):
        return (f"case when {col} = floor({col}) and abs({col}) < 9007199254740992 "
                f"then cast(cast({col} as bigint) as varchar) else cast({col} as varchar) end")
    if upper == "BLOB":
        return f"decode({col})"
    return f"cast({col} as varchar)"


def _load_parquet(con, contract: LandingFile, path: Path, source_name: str | None = None) -> LoadedFile:
    source_name = source_name or path.name
    scan = f"read_parquet({_sql_str(str(path))}, file_row_number = true)"
    try:
        described = con.execute(f"describe select * exclude (file_row_number) from {scan}").fetchall()
    except duckdb.Error as exc:
        raise LaokeError(f"{path}: row 1: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    header = [d[0] for d in described]
    types = [d[1] for d in described]
    mapping, extras = _check_columns(contract, path, header)
    parts = []
    for column in contract.columns:
        if column in mapping:
            position = mapping[column]
            parts.append(f"{_clean_sql(_parquet_value_sql(header[position], types[position]))} as {column}")
        else:
            parts.append(f"cast(null as varchar) as {column}")
    before = con.execute(f"select count(*) from {RAW_SCHEMA}.{contract.name}").fetchall()[0][0]
    try:
        # Rows arrive in file order (insertion order is preserved); no sort of the whole file.
        con.execute("set preserve_insertion_order = true")
        con.execute(
            f"""
            insert into {RAW_SCHEMA}.{contract.name}
            select {', '.join(parts)}, {_sql_str(source_name)} as _source_file, file_row_number + 1 as _source_row
            from {scan}
            """
        )
    except duckdb.Error as exc:
        raise LaokeError(f"{path}: cannot read its rows ({str(exc).splitlines()[0]})") from None
    loaded = con.execute(f"select count(*) from {RAW_SCHEMA}.{contract.name}").fetchall()[0][0] - before  # fetchall: a half-read result blocks the connection (DuckDB 2)
    return LoadedFile(contract.name, source_name, "parquet", "", loaded, loaded, 0, ";".join(extras), reader="parquet")


def _insert_rejects(con, rows: list[tuple]) -> None:
    if rows:
        con.executemany(f"insert into {RAW_SCHEMA}.load_rejects values (?, ?, ?, ?, ?, ?)", rows)


# Distinct phones are classified in chunks (bounded memory), over worker processes when there are
# many: libphonenumber is pure Python, about 15 µs a phone.
_PHONE_CHUNK = 200_000
_PHONE_PARALLEL_MIN = 400_000


def _phone_rows(texts: list[str], region: str) -> pa.Table:
    from laoke.phones import mask_phone, normalize_phones

    phones = normalize_phones(texts, region=region)
    masked = [mask_phone(n if isinstance(n, str) else None) for n in phones["national"]]
    # The masked form is computed here, once, so SQL never re-implements the masking rule.
    return pa.table({
        "raw_phone": pa.array(phones["raw"].tolist(), pa.string()),
        "e164": pa.array(phones["e164"].tolist(), pa.string()),
        "national_number": pa.array(phones["national"].tolist(), pa.string()),
        "phone_class": pa.array(phones["phone_class"].tolist(), pa.string()),
        "phone_reason": pa.array(phones["reason"].tolist(), pa.string()),
        "masked_phone": pa.array(masked, pa.string()),
    })


def _classify_phones_and_replies(con, region: str, reclassify: bool) -> None:
    """raw.phone_numbers holds every distinct phone text of customers and opt_outs, classified.
    Only texts not classified yet are classified (all of them when `reclassify`); texts no
    longer in any file are removed, so the table equals a classification from scratch. The texts
    go to Python a chunk at a time (tens of millions of Python strings would not fit)."""
    from laoke.replies import classify_reply

    if reclassify:
        con.execute(f"drop table if exists {RAW_SCHEMA}.phone_numbers")
    con.execute(
        f"create table if not exists {RAW_SCHEMA}.phone_numbers (raw_phone varchar, e164 varchar, "
        "national_number varchar, phone_class varchar, phone_reason varchar, masked_phone varchar)"
    )
    con.execute(
        f"create or replace temp table _phones_used as select distinct phone from {RAW_SCHEMA}.customers where phone is not null "
        f"union select distinct phone from {RAW_SCHEMA}.opt_outs where phone is not null"
    )
    con.execute(f"delete from {RAW_SCHEMA}.phone_numbers where raw_phone not in (select phone from _phones_used)")
    con.execute(
        f"create or replace temp table _phones_new as "
        f"select phone, (row_number() over (order by phone) - 1) // {_PHONE_CHUNK} as chunk from _phones_used "
        f"where phone not in (select raw_phone from {RAW_SCHEMA}.phone_numbers)"
    )
    con.execute("drop table _phones_used")
    total = con.execute("select count(*) from _phones_new").fetchall()[0][0]
    chunks = -(-total // _PHONE_CHUNK)

    def chunk_texts(i: int) -> list[str]:
        return [r[0] for r in con.execute("select phone from _phones_new where chunk = ? order by phone", [i]).fetchall()]

    done = 0
    workers = min(os.cpu_count() or 1, chunks) if total >= _PHONE_PARALLEL_MIN else 1
    if workers > 1:
        try:
            for table in _classify_in_workers(chunk_texts, chunks, region, workers):
                _insert_phone_rows(con, table)
                done += 1
        except (OSError, subprocess.SubprocessError, pa.ArrowException):
            pass  # the chunks not classified yet are classified here, one after another
    for i in range(done, chunks):
        _insert_phone_rows(con, _phone_rows(chunk_texts(i), region))
    con.execute("drop table _phones_new")

    texts = [r[0] for r in con.execute(
        f"select distinct reply_text from {RAW_SCHEMA}.opt_outs where reply_text is not null order by 1"
    ).fetchall()]
    replies = pd.DataFrame({"reply_text": pd.Series(texts, dtype="object"),
                            "reply_class": pd.Series([classify_reply(t) for t in texts], dtype="object")})
    con.register("_replies_df", replies)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.reply_classes as "
        "select cast(reply_text as varchar) as reply_text, cast(reply_class as varchar) as reply_class from _replies_df order by 1"
    )
    con.unregister("_replies_df")


def _classify_in_workers(chunk_texts, chunks: int, region: str, workers: int) -> Iterator[pa.Table]:
    """Classifies the chunks in `workers` processes (`python -m laoke.landing classify-phones`),
    each reading its chunks from Parquet files and writing one Parquet file per chunk; yields the
    results in chunk order. A plain subprocess: nothing of the caller's __main__ is re-run."""
    import sys
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="laoke_phones_") as tmp:
        folder = Path(tmp)
        for i in range(chunks):
            pq.write_table(pa.table({"raw": pa.array(chunk_texts(i), pa.string())}), folder / f"in-{i:06d}.parquet")
        procs = []
        for w in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "laoke.landing", "classify-phones", str(folder), region,
                 *(str(i) for i in range(w, chunks, workers))],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                    [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))
        errors = [proc.communicate()[1] for proc in procs]
        if any(proc.returncode for proc in procs):
            raise subprocess.SubprocessError(b"".join(errors).decode(errors="replace")[-2000:])
        for i in range(chunks):
            yield pq.read_table(folder / f"out-{i:06d}.parquet")


def _classify_phones_worker(folder: Path, region: str, indexes: list[int]) -> None:
    import pyarrow.parquet as pq

    for i in indexes:
        texts = pq.read_table(folder / f"in-{i:06d}.parquet").column("raw").to_pylist()
        pq.write_table(_phone_rows(texts, region), folder / f"out-{i:06d}.parquet")


def _insert_phone_rows(con, table: pa.Table) -> None:
    con.register("_phones_batch", table)
    con.execute(f"insert into {RAW_SCHEMA}.phone_numbers select * from _phones_batch order by raw_phone")
    con.unregister("_phones_batch")


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()[0][0])


_AUDIT_COLUMNS = tuple(LoadedFile.__dataclass_fields__)


def _audit_rows(con) -> list[LoadedFile]:
    if not _table_exists(con, RAW_SCHEMA, "load_audit"):
        return []
    columns = [r[0] for r in con.execute(f"describe {RAW_SCHEMA}.load_audit").fetchall()]
    if tuple(columns) != _AUDIT_COLUMNS:
        return []  # written by an older laoke: not reusable
    return [LoadedFile(*row) for row in con.execute(
        f"select * from {RAW_SCHEMA}.load_audit order by table_name, source_file").fetchall()]


def load_landing(con: duckdb.DuckDBPyConnection, landing: Path, phone_region: str = "CN",
                 full: bool = False) -> list[LoadedFile]:
    """Makes the raw schema hold the landing folder's content. Returns one audit row per file.

    Incremental (see the module docstring): files already loaded and unchanged are not read
    again; a table with a changed or missing file is reloaded whole; `full` reloads every table.
    The load is one transaction: a file that stops it (a LaokeError) leaves the raw schema and
    raw.load_files as they were."""
    parts = find_landing_parts(landing)
    if "orders" not in parts:
        raise LaokeError(f"{landing}: no orders file (orders.csv or orders.parquet) — the one file every store needs")
    fingerprints = {name: [(source, path, _fingerprint(path)) for source, path in files]
                    for name, files in parts.items()}
    con.execute("begin transaction")
    try:
        audit = _load(con, fingerprints, phone_region, full)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return audit


def _load(con, fingerprints: dict[str, list[tuple[str, Path, tuple[int, int, str]]]], phone_region: str,
          full: bool) -> list[LoadedFile]:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    # Raw tables without a manifest (a first load, or one by an older laoke): load everything.
    full = full or not _table_exists(con, RAW_SCHEMA, "load_files")
    con.execute(
        f"create table if not exists {RAW_SCHEMA}.load_files (table_name varchar, source_file varchar, "
        "file_format varchar, size_bytes bigint, mtime_ns bigint, fingerprint varchar, load_id bigint, "
        "loaded_at timestamp, phone_region varchar)"
    )
    known_audit = {(a.table_name, a.source_file): a for a in ([] if full else _audit_rows(con))}
    manifest: dict[str, dict[str, tuple]] = {}
    for table_name, source_file, size, mtime, fingerprint, load_id, region in con.execute(
        f"select table_name, source_file, size_bytes, mtime_ns, fingerprint, load_id, phone_region from {RAW_SCHEMA}.load_files"
    ).fetchall():
        manifest.setdefault(table_name, {})[source_file] = ((size, mtime, fingerprint), load_id, region)
    load_id = (con.execute(f"select coalesce(max(load_id), 0) from {RAW_SCHEMA}.load_files").fetchall()[0][0]) + 1
    raw_ready = all(_table_exists(con, RAW_SCHEMA, t) for t in (*LANDING_FILES, "load_rejects", "phone_numbers"))
    regions = {entry[2] for files in manifest.values() for entry in files.values()}
    reclassify = full or not raw_ready or regions - {phone_region} != set()

    if full or not raw_ready:
        con.execute(
            f"create or replace table {RAW_SCHEMA}.load_rejects (table_name varchar, source_file varchar, "
            "source_row bigint, reason varchar, detail varchar, raw_line varchar)"
        )
    audit: list[LoadedFile] = []
    new_manifest: list[tuple] = []
    for name, contract in LANDING_FILES.items():
        files = fingerprints.get(name, [])
        previous = manifest.get(name, {})
        current = {source: fp for source, _, fp in files}
        append = (not full and raw_ready and all(
            source in current and current[source] == entry[0] and (name, source) in known_audit
            for source, entry in previous.items()
        ))
        if append:
            to_load = [(s, p, fp) for s, p, fp in files if s not in previous]
            audit += [known_audit[(name, s)] for s, _, _ in files if s in previous]
            new_manifest += [(name, s, *entry[0], entry[1], phone_region) for s, entry in previous.items()]
        else:
            to_load = files
            _create_empty(con, contract)
            con.execute(f"delete from {RAW_SCHEMA}.load_rejects where table_name = ?", [name])
        for source, path, fp in to_load:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                loaded = _load_parquet(con, contract, path, source)
            else:
                loaded = _load_csv(con, contract, path, source)
            loaded.load_id = load_id
            audit.append(loaded)
            new_manifest.append((name, source, *fp, load_id, phone_region))
    con.execute(f"delete from {RAW_SCHEMA}.load_files")
    if new_manifest:
        con.executemany(
            f"insert into {RAW_SCHEMA}.load_files values (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?)",
            [(t, s, _format_of(s), size, mtime, fp, lid, region) for t, s, size, mtime, fp, lid, region in new_manifest],
        )
    audit.sort(key=lambda a: (a.table_name, a.source_file))
    frame = pd.DataFrame([a.__dict__ for a in audit], columns=list(_AUDIT_COLUMNS))
    con.register("_audit_df", frame)
    con.execute(f"create or replace table {RAW_SCHEMA}.load_audit as select * from _audit_df order by table_name, source_file")
    con.unregister("_audit_df")
    _classify_phones_and_replies(con, phone_region, reclassify)
    return audit


def _format_of(source: str) -> str:
    return "parquet" if source.lower().endswith(PARQUET_SUFFIXES) else "csv"


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 3 and sys.argv[1] == "classify-phones":
        _classify_phones_worker(Path(sys.argv[2]), sys.argv[3], [int(i) for i in sys.argv[4:]])
