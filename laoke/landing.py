"""Loads a store's landing folder into the warehouse's `raw` schema, as text, losing nothing.

Each landing file becomes one raw table with every contract column (missing optional columns as
NULL, missing files as empty tables) plus `_source_file` and `_source_row` (the physical line of
a CSV record, the row number of a Parquet row). Records the CSV reader cannot split into the
header's columns, and lines that decode in no known encoding, go to `raw.load_rejects` with their
line; dbt turns both into quarantine rows. Rows in = rows loaded + rows rejected, per file, in
`raw.load_audit`. Phones and reply texts are classified here (libphonenumber is Python) into
`raw.phone_numbers` and `raw.reply_classes`, which dbt joins by the raw text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from laoke.contract import COLUMN_ALIASES, LANDING_FILES, LandingFile
from laoke.errors import LaokeError

RAW_SCHEMA = "raw"
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SCAN_CHUNK = 1 << 22


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


def normalise_header(name: str) -> str:
    """'Customer ID ' -> 'customer_id'; known aliases (手机号 -> phone) map to contract names."""
    cleaned = name.replace("\ufeff", "").strip().strip('"').strip().lower()
    cleaned = re.sub(r"[\s\-]+", "_", cleaned)
    return COLUMN_ALIASES.get(cleaned, cleaned)


def find_landing_files(landing: Path) -> dict[str, Path]:
    """Maps each contract table to its file in the landing folder (orders.csv, orders.parquet, ...)."""
    if not landing.is_dir():
        raise LaokeError(f"{landing}: landing folder does not exist (set LAOKE_LANDING or run `laoke generate`)")
    found: dict[str, Path] = {}
    for path in sorted(landing.iterdir()):
        stem, suffix = path.name.split(".", 1)[0].lower(), path.suffix.lower()
        if stem not in LANDING_FILES or suffix not in TEXT_SUFFIXES + PARQUET_SUFFIXES:
            continue
        if stem in found:
            raise LaokeError(f"{landing}: both {found[stem].name} and {path.name} hold {stem}; keep one")
        found[stem] = path
    return found


def _is_clean_utf8(path: Path) -> bool:
    """True when the whole file decodes as UTF-8 and has no NUL byte: DuckDB can read it as is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        while chunk := f.read(_SCAN_CHUNK):
            if b"\x00" in chunk:
                return False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _transcode(path: Path, out_dir: Path) -> tuple[Path, str, dict[int, str]]:
    """Rewrites a GBK / mixed / NUL-bearing file as UTF-8, line by line, keeping line numbers.

    Each line is tried as UTF-8, then GB18030 (a superset of GBK). A line that decodes in neither
    is kept with replacement characters and reported, so its record is quarantined, not lost.
    """
    out = out_dir / (path.stem + ".utf8.csv")
    bad_lines: dict[int, str] = {}
    used: set[str] = set()
    with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        for line_no, raw in enumerate(src, start=1):
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if b"\x00" in raw:
                raw = raw.replace(b"\x00", b"")
                bad_lines[line_no] = "nul_byte"
            for encoding in ("utf-8", "gb18030"):
                try:
                    text = raw.decode(encoding)
                    used.add(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                text = raw.decode("utf-8", errors="replace")
                bad_lines[line_no] = "undecodable_text"
            dst.write(text)
    encoding = "mixed" if len(used) > 1 else ("gbk" if used == {"gb18030"} else "utf-8")
    return out, encoding, bad_lines


def _read_header(path: Path, delimiter: str) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    if not first.strip():
        return []
    return next(csv.reader(io.StringIO(first), delimiter=delimiter))


def _check_columns(contract: LandingFile, source: Path, header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Maps contract columns to the file's columns; errors name the file and the column."""
    if not header:
        raise LaokeError(
            f"{source}: empty file: expected a header row with at least {', '.join(contract.required)}"
        )
    mapping: dict[str, str] = {}
    extras: list[str] = []
    for position, original in enumerate(header, start=1):
        name = normalise_header(original)
        if not name:
            raise LaokeError(f"{source}: row 1, column {position}: empty column name in the header")
        if name in mapping:
            raise LaokeError(f"{source}: row 1: column {name!r} appears twice in the header")
        if name in contract.columns:
            mapping[name] = original
        else:
            extras.append(original)
    missing = [c for c in contract.required if c not in mapping]
    if missing:
        raise LaokeError(
            f"{source}: row 1: missing required column {missing[0]!r} "
            f"(found: {', '.join(header)}; required: {', '.join(contract.required)})"
        )
    return mapping, extras


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select_contract_columns(contract: LandingFile, mapping: dict[str, str], duck_columns: list[str], header: list[str]) -> str:
    # DuckDB renames headers it cannot use verbatim; map by position to be safe.
    by_original = dict(zip(header, duck_columns))
    parts = []
    for column in contract.columns:
        if column in mapping:
            parts.append(f"nullif(trim(cast({_quote(by_original[mapping[column]])} as varchar)), '') as {column}")
        else:
            parts.append(f"cast(null as varchar) as {column}")
    return ", ".join(parts)


def _create_empty(con: duckdb.DuckDBPyConnection, contract: LandingFile) -> None:
    columns = ", ".join(f"{c} varchar" for c in contract.columns)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.{contract.name} "
        f"({columns}, _source_file varchar, _source_row bigint)"
    )


def _load_csv(con, contract: LandingFile, path: Path, workdir: Path) -> LoadedFile:
    encoding, bad_lines, readable = "utf-8", {}, path
    if path.stat().st_size == 0:
        raise LaokeError(f"{path}: empty file: expected a header row with at least {', '.join(contract.required)}")
    if not _is_clean_utf8(path):
        readable, encoding, bad_lines = _transcode(path, workdir)
    sniff = con.execute("select Delimiter from sniff_csv(?, header = true, all_varchar = true)", [str(readable)]).fetchone()
    delimiter = sniff[0] if sniff and sniff[0] else ","
    header = _read_header(readable, delimiter)
    mapping, extras = _check_columns(contract, path, header)

    scan = (
        f"read_csv({_sql_str(str(readable))}, header = true, all_varchar = true, delim = {_sql_str(delimiter)}, "
        f"quote = '\"', escape = '\"', store_rejects = true, null_padding = false, max_line_size = 10000000)"
    )
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    duck_columns = [d[0] for d in con.execute(f"describe select * from {scan}").fetchall()]
    select = _select_contract_columns(contract, mapping, duck_columns, header)
    con.execute(f"create or replace temp table _scan as select row_number() over () as _ordinal, {select} from {scan}")
    rejects = con.execute(
        "select line, error_type, csv_line from reject_errors order by line"
    ).fetchall() if _table_exists(con, "reject_errors") else []
    # A loaded record's physical line: ordinal + header + the rejected lines before it
    # (line(k) = k + 1 + #{i : L_i - i <= k} for rejected lines L_1 < L_2 < ...).
    con.execute("create or replace temp table _reject_steps (step bigint)")
    if rejects:
        con.executemany("insert into _reject_steps values (?)", [[line - i] for i, (line, _, _) in enumerate(rejects, start=1)])
    con.execute(
        f"""
        create or replace table {RAW_SCHEMA}.{contract.name} as
        select s.* exclude (_ordinal),
               {_sql_str(path.name)} as _source_file,
               s._ordinal + 1 + (select count(*) from _reject_steps r where r.step <= s._ordinal) as _source_row
        from _scan s
        order by s._ordinal
        """
    )
    reject_rows = [
        (contract.name, path.name, int(line), _reject_reason(error_type), error_type, (text or "")[:2000])
        for line, error_type, text in rejects
    ]
    # Lines that decoded in no encoding stay loaded (with replacement characters) and are
    # flagged here, so dbt quarantines the record at that line.
    reject_rows += [
        (contract.name, path.name, line, reason, "bytes not valid UTF-8 or GB18030" if reason == "undecodable_text" else "NUL byte removed", "")
        for line, reason in sorted(bad_lines.items())
    ]
    _insert_rejects(con, reject_rows)
    loaded = con.execute(f"select count(*) from {RAW_SCHEMA}.{contract.name}").fetchone()[0]
    return LoadedFile(contract.name, path.name, "csv", encoding, loaded + len(rejects), loaded, len(rejects), ";".join(extras))


def _reject_reason(error_type: str) -> str:
    return {
        "TOO MANY COLUMNS": "too_many_fields",
        "MISSING COLUMNS": "too_few_fields",
        "UNQUOTED VALUE": "malformed_quoting",
        "LINE SIZE OVER MAXIMUM": "line_too_long",
        "INVALID UNICODE": "undecodable_text",
    }.get(error_type, "malformed_record")


def _table_exists(con, name: str) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where table_name = ?", [name]).fetchone()[0])


def _load_parquet(con, contract: LandingFile, path: Path) -> LoadedFile:
    scan = f"read_parquet({_sql_str(str(path))}, file_row_number = true)"
    try:
        header = [d[0] for d in con.execute(f"describe select * exclude (file_row_number) from {scan}").fetchall()]
    except duckdb.Error as exc:
        raise LaokeError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    mapping, extras = _check_columns(contract, path, header)
    select = _select_contract_columns(contract, mapping, header, header)
    con.execute(
        f"""
        create or replace table {RAW_SCHEMA}.{contract.name} as
        select {select}, {_sql_str(path.name)} as _source_file, file_row_number + 1 as _source_row
        from {scan}
        order by file_row_number
        """
    )
    loaded = con.execute(f"select count(*) from {RAW_SCHEMA}.{contract.name}").fetchone()[0]
    return LoadedFile(contract.name, path.name, "parquet", "", loaded, loaded, 0, ";".join(extras))


def _insert_rejects(con, rows: list[tuple]) -> None:
    if rows:
        con.executemany(f"insert into {RAW_SCHEMA}.load_rejects values (?, ?, ?, ?, ?, ?)", rows)


def _classify_phones_and_replies(con, region: str) -> None:
    from laoke.phones import mask_phone, normalize_phones
    from laoke.replies import classify_reply

    raw_phones = [r[0] for r in con.execute(
        f"select distinct phone from {RAW_SCHEMA}.customers where phone is not null "
        f"union select distinct phone from {RAW_SCHEMA}.opt_outs where phone is not null order by 1"
    ).fetchall()]
    phones = normalize_phones(raw_phones, region=region)
    phones = phones.reindex(columns=["raw", "e164", "national", "phone_class", "reason"])
    # The masked form is computed here, once, so SQL never re-implements the masking rule.
    phones["masked"] = [mask_phone(n if isinstance(n, str) else None) for n in phones["national"]]
    con.register("_phones_df", phones)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.phone_numbers as "
        "select cast(raw as varchar) as raw_phone, cast(e164 as varchar) as e164, cast(national as varchar) as national_number, "
        "cast(phone_class as varchar) as phone_class, cast(reason as varchar) as phone_reason, "
        "cast(masked as varchar) as masked_phone from _phones_df order by raw_phone"
    )
    con.unregister("_phones_df")
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


def load_landing(con: duckdb.DuckDBPyConnection, landing: Path, phone_region: str = "CN") -> list[LoadedFile]:
    """Replaces the raw schema with the landing folder's content. Returns one audit row per file."""
    files = find_landing_files(landing)
    if "orders" not in files:
        raise LaokeError(f"{landing}: no orders file (orders.csv or orders.parquet) — the one file every store needs")
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"create or replace table {RAW_SCHEMA}.load_rejects (table_name varchar, source_file varchar, "
        "source_row bigint, reason varchar, detail varchar, raw_line varchar)"
    )
    audit: list[LoadedFile] = []
    with tempfile.TemporaryDirectory(prefix="laoke-landing-") as tmp:
        for name, contract in LANDING_FILES.items():
            path = files.get(name)
            if path is None:
                _create_empty(con, contract)
                continue
            if path.suffix.lower() in PARQUET_SUFFIXES:
                audit.append(_load_parquet(con, contract, path))
            else:
                audit.append(_load_csv(con, contract, path, Path(tmp)))
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    frame = pd.DataFrame([a.__dict__ for a in audit])
    con.register("_audit_df", frame)
    con.execute(f"create or replace table {RAW_SCHEMA}.load_audit as select * from _audit_df order by table_name")
    con.unregister("_audit_df")
    _classify_phones_and_replies(con, phone_region)
    return audit
