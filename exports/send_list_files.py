"""Send-list files for operators: CSV (UTF-8 with BOM, or GBK) and XLSX, plus a JSON manifest.

Everything is byte-identical for the same list: rows sorted by send time and customer id, fixed
XLSX document properties and zip timestamps, manifest keys sorted.

The text in a list is partly the store's and its customers' (names inside the message, customer
ids): a value never crashes an export. Characters no SMS carries and no XLSX cell stores are
removed (laoke.messages.UNSAFE_CHARACTERS: messages are rendered without them already), the same
in the CSV and the XLSX; a text that starts with '=' is text in the XLSX, never a formula; a
missing value is an empty cell, never 'nan'.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from exports.atomic import atomic_path, sha256_of
from laoke.errors import LaokeError
from laoke.messages import UNSAFE_CHARACTERS, strip_unsafe_characters

# What the SMS platform needs first (phone, message, time), then what lets a reply be traced.
EXPORT_COLUMNS = ["phone", "message", "send_at", "customer_id", "segment", "campaign_id"]
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def export_frame(treatment: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of the files, as text: every cell a str or None (an empty cell)."""
    frame = treatment.sort_values(["send_at", "customer_id"]).rename(columns={"national_number": "phone"})
    frame = frame.assign(send_at=pd.to_datetime(frame["send_at"]).dt.strftime("%Y-%m-%d %H:%M"))
    frame = frame[EXPORT_COLUMNS].reset_index(drop=True)
    return pd.DataFrame({column: _storable_texts(frame[column]) for column in EXPORT_COLUMNS}, index=frame.index)


def _storable_texts(column: pd.Series) -> pd.Series:
    values = column.astype(object).where(column.notna(), None)
    texts = [value for value in values if value is not None]
    if texts and UNSAFE_CHARACTERS.search("".join(map(str, texts))):  # rare: look at each value only then
        values = pd.Series([None if value is None else strip_unsafe_characters(str(value)) for value in values],
                           index=values.index, dtype=object)
    return values


def csv_bytes(frame: pd.DataFrame, file_name: str, encoding: str = "utf-8-sig") -> bytes:
    """The CSV file's bytes. A value the encoding cannot write raises a LaokeError naming the
    row (the header is row 1), the field and the customer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(frame.itertuples(index=False, name=None))
    text = buffer.getvalue()
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        cells = unencodable_cells(frame, encoding)
        if not cells:
            raise LaokeError(f"{file_name}: cannot be written in {encoding}: {exc}") from None
        row, field, character = cells[0]
        customer = frame["customer_id"].iloc[row - 2]
        raise LaokeError(
            f"{file_name}: row {row}, field {field} (customer {customer}): {character!r} cannot be written in "
            f"{encoding} (use the UTF-8 file, or remove the character from the template or the customer's data)"
        ) from None


def unencodable_cells(frame: pd.DataFrame, encoding: str, limit: int | None = 1) -> list[tuple[int, str, str]]:
    """(row, field, first character) of the cells the encoding cannot write, in file order (the
    header is row 1); at most `limit` of them (None: all)."""
    found = []
    columns = {}
    for field in EXPORT_COLUMNS:
        values = frame[field].to_numpy(dtype=object)
        try:
            "\n".join(str(value) for value in values if value is not None).encode(encoding)
        except UnicodeEncodeError:
            columns[field] = values  # only the columns with such a value are looked at value by value
    for i in range(len(frame)):
        for field, values in columns.items():
            value = values[i]
            if value is None:
                continue
            try:
                str(value).encode(encoding)
            except UnicodeEncodeError as exc:
                found.append((i + 2, field, str(value)[exc.start:exc.end][:1]))
                if limit is not None and len(found) >= limit:
                    return found
    return found


def write_csv(frame: pd.DataFrame, target: Path, encoding: str = "utf-8-sig") -> None:
    write_bytes(csv_bytes(frame, target.name, encoding), target)


def xlsx_bytes(frame: pd.DataFrame, created: datetime) -> bytes:
    """The XLSX file's bytes: one sheet, every value text, fixed properties and zip timestamps."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "send_list"
    sheet.append(EXPORT_COLUMNS)
    for row in frame.itertuples(index=False, name=None):
        sheet.append(row)
        if any(isinstance(value, str) and value.startswith("=") for value in row):
            for cell in sheet[sheet.max_row]:
                if cell.data_type == "f":  # openpyxl reads '=...' as a formula: it is a customer's text
                    cell.data_type = "s"
    # phone numbers stay text (no 1.38E+10); widths so the operator can read the message
    for cell in sheet["A"][1:]:
        cell.number_format = "@"
    for column, width in zip("ABCDEF", (14, 80, 17, 12, 14, 24)):
        sheet.column_dimensions[column].width = width
    workbook.properties.created = created
    workbook.properties.modified = created
    workbook.properties.creator = "laoke"
    raw = io.BytesIO()
    workbook.save(raw)
    return _rezip_deterministic(raw.getvalue(), modified=created)


def write_xlsx(frame: pd.DataFrame, target: Path, created: datetime) -> None:
    write_bytes(xlsx_bytes(frame, created), target)


def _rezip_deterministic(data: bytes, modified: datetime) -> bytes:
    """openpyxl stamps the zip entries and docProps' modified time with the current time;
    rewrite both with fixed values."""
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out_bytes = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out_bytes, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", content)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            out.writestr(fixed, content)
    return out_bytes.getvalue()


def write_bytes(data: bytes, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_manifest(manifest: dict, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def file_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}
