"""Send-list files for operators: CSV (UTF-8 with BOM, or GBK) and XLSX, plus a JSON manifest.

Everything is byte-identical for the same list: rows sorted by send time and customer id, fixed
XLSX document properties and zip timestamps, manifest keys sorted.
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

# What the SMS platform needs first (phone, message, time), then what lets a reply be traced.
EXPORT_COLUMNS = ["phone", "message", "send_at", "customer_id", "segment", "campaign_id"]
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def export_frame(treatment: pd.DataFrame) -> pd.DataFrame:
    frame = treatment.sort_values(["send_at", "customer_id"]).rename(columns={"national_number": "phone"})
    frame = frame.assign(send_at=pd.to_datetime(frame["send_at"]).dt.strftime("%Y-%m-%d %H:%M"))
    return frame[EXPORT_COLUMNS].reset_index(drop=True)


def write_csv(frame: pd.DataFrame, target: Path, encoding: str = "utf-8-sig") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(frame.itertuples(index=False, name=None))
    text = buffer.getvalue()
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as exc:
        line = text[: exc.start].count("\n") + 1
        raise LaokeError(
            f"{target.name}: row {line}, field message: {text[exc.start:exc.end]!r} cannot be written in {encoding} "
            "(use the UTF-8 file, or change the template)"
        ) from None
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_xlsx(frame: pd.DataFrame, target: Path, created: datetime) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "send_list"
    sheet.append(EXPORT_COLUMNS)
    for row in frame.itertuples(index=False, name=None):
        sheet.append(list(row))
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
    with atomic_path(target) as tmp:
        _rezip_deterministic(raw.getvalue(), tmp, modified=created)


def _rezip_deterministic(data: bytes, target: Path, modified: datetime) -> None:
    """openpyxl stamps the zip entries and docProps' modified time with the current time;
    rewrite both with fixed values."""
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", content)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            out.writestr(fixed, content)


def write_manifest(manifest: dict, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def file_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}
