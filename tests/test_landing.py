"""The loader on its own (laoke.landing): header matching, delimiters, encodings, and the line
number every raw row and every load reject carries. No dbt here, so these run in milliseconds."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laoke.contract import LANDING_FILES
from laoke.landing import MAX_RECORD_LINES, LoadedFile, find_landing_files, load_landing, normalise_header

HEADER = b"customer_id,ordered_at,amount\n"


def load(folder: Path, orders: bytes, **others: bytes) -> tuple[duckdb.DuckDBPyConnection, dict[str, LoadedFile]]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / "orders.csv").write_bytes(orders)
    for name, content in others.items():
        (folder / f"{name}.csv").write_bytes(content)
    con = duckdb.connect()
    audit = load_landing(con, folder)
    return con, {a.table_name: a for a in audit}


@pytest.mark.parametrize("written,contract_name", [
    ("customer_id", "customer_id"),
    (" Customer ID ", "customer_id"),
    ("CUSTOMER-ID", "customer_id"),
    ("CustomerID", "customer_id"),
    ('"customer_id"', "customer_id"),
    ("\ufeffcustomer_id", "customer_id"),
    ("客户编号", "customer_id"),
    ("会员ID", "customer_id"),
    ("ｃｕｓｔｏｍｅｒ＿ｉｄ", "customer_id"),
    ("实付金额（元）", "amount"),
    ("amount (CNY)", "amount"),
    ("手机号码", "phone"),
    ("下单时间", "ordered_at"),
    ("Ordered\nAt", "ordered_at"),
    ("备注", "备注"),
    ("", ""),
])
def test_normalise_header(written, contract_name):
    assert normalise_header(written) == contract_name


def test_every_contract_column_matches_itself():
    for contract in LANDING_FILES.values():
        for column in contract.columns:
            assert normalise_header(column.upper()) == column


def test_delimiter_is_the_one_that_names_the_contract_columns(tmp_path):
    # ';' is in the values too; the header decides.
    con, _ = load(tmp_path, b"customer_id\tordered_at\tamount\nc;1\t2024-06-01\t10\n")
    assert con.execute("select customer_id, amount from raw.orders").fetchall() == [("c;1", "10")]


def test_single_column_file_reads_as_comma(tmp_path):
    con, audit = load(tmp_path, HEADER + b"c1,2024-06-01,10\n", customers=b"customer_id\nc1\nc2\n")
    assert con.execute("select customer_id, _source_row from raw.customers").fetchall() == [("c1", 2), ("c2", 3)]
    assert audit["customers"].rows_in == 2


def test_unclosed_quote_costs_one_row_even_in_a_long_file(tmp_path):
    rows = b"".join(b"c%d,2024-06-01,%d\n" % (i, i) for i in range(3, 3 + 3 * MAX_RECORD_LINES))
    con, audit = load(tmp_path, HEADER + b'c2,"2024-06-01,10\n' + rows)
    assert con.execute("select source_row, reason from raw.load_rejects").fetchall() == [(2, "malformed_quoting")]
    lines = con.execute("select customer_id, _source_row from raw.orders order by _source_row").fetchall()
    assert len(lines) == 3 * MAX_RECORD_LINES and all(c == f"c{line}" for c, line in lines)
    assert audit["orders"].rows_in == 3 * MAX_RECORD_LINES + 1


def test_a_multi_line_field_with_the_wrong_width_is_an_unclosed_quote(tmp_path):
    # The quote closes on line 3, but the record it makes has 4 fields: not a real multi-line
    # value. Line 2 is rejected alone; line 3, read again, has 4 fields of its own.
    con, _ = load(tmp_path, HEADER + b'c2,"2024-06-01,10\nc3,2024-06-02",20,30\nc4,2024-06-03,40\n')
    assert con.execute("select source_row, reason from raw.load_rejects order by 1").fetchall() == [
        (2, "malformed_quoting"), (3, "too_many_fields")]
    assert con.execute("select customer_id, _source_row from raw.orders").fetchall() == [("c4", 4)]


def test_rejected_record_keeps_its_text(tmp_path):
    con, _ = load(tmp_path, HEADER + b"c1,2024-06-01,10,surplus\n")
    assert con.execute("select table_name, source_file, source_row, reason, detail, raw_line from raw.load_rejects").fetchall() == [
        ("orders", "orders.csv", 2, "too_many_fields", "4 fields; the header has 3", "c1,2024-06-01,10,surplus\n")]


def test_nul_bytes_are_removed_and_flagged(tmp_path):
    con, audit = load(tmp_path, HEADER + b"c\x001,2024-06-01,10\n")
    assert con.execute("select customer_id from raw.orders").fetchall() == [("c1",)]
    assert con.execute("select source_row, reason from raw.load_rejects").fetchall() == [(2, "nul_byte")]
    assert audit["orders"].rows_rejected == 0


def test_utf16_without_bom(tmp_path):
    con, audit = load(tmp_path, "customer_id\tordered_at\tamount\n张三\t2024-06-01\t10\n".encode("utf-16-le"))
    assert con.execute("select customer_id from raw.orders").fetchall() == [("张三",)]
    assert audit["orders"].encoding == "utf-16"


def test_gb18030_characters_outside_gbk(tmp_path):
    # A GBK exporter that writes GB18030 four-byte sequences for emoji and rare characters.
    con, audit = load(tmp_path, "customer_id,ordered_at,amount\n小美😀𠀀,2024-06-01,10\n".encode("gb18030"))
    assert con.execute("select customer_id from raw.orders").fetchall() == [("小美😀𠀀",)]
    assert audit["orders"].encoding == "gbk"


def test_gbk_line_in_a_multi_line_utf8_record(tmp_path):
    content = HEADER + '"张\n'.encode() + '三",2024-06-01,10\n'.encode("gbk")
    con, audit = load(tmp_path, content)
    assert con.execute("select customer_id, _source_row from raw.orders").fetchall() == [("张\n三", 2)]
    assert audit["orders"].encoding == "mixed"


def test_undecodable_bytes_flag_the_record_at_its_first_line(tmp_path):
    con, _ = load(tmp_path, HEADER + b'"c1\n\xff\xfe",2024-06-01,10\nc2,2024-06-02,20\n')
    assert con.execute("select source_row, reason from raw.load_rejects").fetchall() == [(2, "undecodable_text")]
    assert con.execute("select _source_row from raw.orders order by 1").fetchall() == [(2,), (4,)]


def test_excel_text_guard_is_unwrapped(tmp_path):
    con, _ = load(tmp_path, HEADER + b'="00042",2024-06-01,="10"\n')
    assert con.execute("select customer_id, amount from raw.orders").fetchall() == [("00042", "10")]


def test_whitespace_only_values_are_null(tmp_path):
    con, _ = load(tmp_path, "customer_id,ordered_at,amount\nc1,\u3000 ,\xa010\xa0\n".encode())
    assert con.execute("select customer_id, ordered_at, amount from raw.orders").fetchall() == [("c1", None, "10")]


def test_missing_files_are_empty_tables_and_audit_has_one_row_per_file(tmp_path):
    con, audit = load(tmp_path, HEADER + b"c1,2024-06-01,10\n")
    assert set(audit) == {"orders"}
    for name, contract in LANDING_FILES.items():
        columns = [r[0] for r in con.execute(f"describe raw.{name}").fetchall()]
        assert columns == [*contract.columns, "_source_file", "_source_row"]
    assert con.execute("select table_name, rows_in, rows_loaded, rows_rejected, blank_lines from raw.load_audit").fetchall() == [
        ("orders", 1, 1, 0, 0)]


def test_loading_twice_replaces_and_leaves_no_temp_tables(tmp_path):
    folder = tmp_path / "landing"
    con, _ = load(folder, HEADER + b"c1,2024-06-01,10\nc2\n")
    load_landing(con, folder)
    assert con.execute("select count(*) from raw.orders").fetchone() == (1,)
    assert con.execute("select count(*) from raw.load_rejects").fetchone() == (1,)
    temporary = con.execute("select table_name from duckdb_tables() where temporary").fetchall()
    assert temporary == []


def test_unrelated_files_are_ignored(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    for name in ("orders.csv", "README.txt", "orders_2023.csv", "orders.csv.bak", ".DS_Store", "~$orders.csv"):
        (folder / name).write_bytes(HEADER)
    (folder / "archive").mkdir()
    assert find_landing_files(folder) == {"orders": folder / "orders.csv"}


# --- line numbers: a property over random files --------------------------------------------------

RECORD_KINDS = ["ok", "ok", "ok", "multi_line", "blank_inside_quotes", "blank", "delimiters_only", "too_few",
                "too_many", "unclosed_quote", "doubled_quotes"]


def _record(kind: str, i: int) -> tuple[str, str, str | None]:
    """(text, loaded customer_id or '' when not loaded, load reject reason)"""
    return {
        "ok": (f"c{i},2024-06-01,{i}", f"c{i}", None),
        "multi_line": (f'"c{i}\nx",2024-06-01,{i}', f"c{i}\nx", None),
        "blank_inside_quotes": (f'"c{i}\n\nx",2024-06-01,{i}', f"c{i}\n\nx", None),
        "blank": ("", "", None),
        "delimiters_only": (",,", "", None),
        "too_few": (f"c{i},2024-06-01", "", "too_few_fields"),
        "too_many": (f"c{i},2024-06-01,{i},x", "", "too_many_fields"),
        "unclosed_quote": (f'c{i},"2024-06-01,{i}', "", "malformed_quoting"),
        "doubled_quotes": (f'"c ""{i}""",2024-06-01,{i}', f'c "{i}"', None),
    }[kind]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(RECORD_KINDS), max_size=25), crlf=st.booleans(), final_newline=st.booleans())
def test_every_row_and_reject_carries_its_physical_line(tmp_path, kinds, crlf, final_newline):
    newline = "\r\n" if crlf else "\n"
    text, line = "customer_id,ordered_at,amount" + newline, 2
    loaded, rejected, blank = [], [], 0
    for i, kind in enumerate(kinds):
        record, customer_id, reason = _record(kind, i)
        if customer_id:
            loaded.append((customer_id, line))
        elif reason:
            rejected.append((line, reason))
        else:
            blank += 1
        text += record.replace("\n", newline) + newline
        line += record.count("\n") + 1
    if not final_newline:
        text = text[: -len(newline)]
        if kinds and kinds[-1] in ("blank",):
            blank -= 1  # the last blank line was only its line end
    con, audit = load(tmp_path / "landing", text.encode())
    rows = con.execute("select customer_id, _source_row from raw.orders order by _source_row").fetchall()
    assert rows == loaded
    assert con.execute("select source_row, reason from raw.load_rejects order by 1").fetchall() == rejected
    orders = audit["orders"]
    assert (orders.rows_in, orders.rows_loaded, orders.rows_rejected, orders.blank_lines) == (
        len(loaded) + len(rejected), len(loaded), len(rejected), blank)


# --- no input crashes the loader -------------------------------------------------------------------

_PIECES = [b",", b'"', b"\n", b"\r\n", b"\r", b"\t", b";", b"\x00", b"\xff", "中".encode(), "中".encode("gbk"),
           b"a", b"1", b" ", b'="', b"\xef\xbb\xbf", b"\xff\xfe", b"2024-06-01", b"customer_id,ordered_at,amount\n"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from([HEADER, b'"customer_id";"ordered_at";"amount"\r\n', b"", b"customer_id\tamount\n"]),
       body=st.lists(st.sampled_from(_PIECES), max_size=60))
def test_any_bytes_load_or_raise_a_laoke_error(tmp_path, header, body):
    from laoke.errors import LaokeError

    try:
        con, audit = load(tmp_path / "landing", header + b"".join(body))
    except LaokeError as exc:
        assert "orders.csv" in str(exc) and "\n" not in str(exc)
        return
    orders = audit["orders"]
    assert orders.rows_in == orders.rows_loaded + orders.rows_rejected
    assert con.execute("select count(*) from raw.orders").fetchone() == (orders.rows_loaded,)
    rejected = con.execute(
        "select count(*) from raw.load_rejects where reason not in ('undecodable_text', 'nul_byte')"
    ).fetchone()
    assert rejected == (orders.rows_rejected,)
    # Lines only go forward, and no two rows or rejects share a line.
    lines = [r[0] for r in con.execute(
        "select _source_row from raw.orders union all "
        "select source_row from raw.load_rejects where reason not in ('undecodable_text', 'nul_byte') order by 1"
    ).fetchall()]
    assert len(lines) == len(set(lines)) and all(line >= 2 for line in lines)
