"""The bad-input corpus: every kind of mess a store's export can hold, each with its exact outcome.

Outcomes: loaded (and normalised: the value a model reads), quarantined with a reason (a row of
main.quarantine with its file and line), skipped as blank (counted in raw.load_audit), or a
LaokeError naming the file, row and column. Nothing crashes with a traceback and no row leaves
without a trace: every landing file reconciles (rows in = rows accepted + rows rejected).

The files are written here from bytes, so each case is explicit. Record-level kinds share two
full builds (dbt start-up dominates a build): one messy landing folder and the demo store;
file-level kinds only need the loader (load_landing on an in-memory DuckDB).
"""

from __future__ import annotations

import codecs
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laoke.errors import LaokeError
from laoke.landing import MAX_FIELD_CHARS, load_landing

AS_OF = date(2025, 6, 30)
ACCEPTED = "accepted"
BLANK = "blank"
MINIMAL_ORDERS = b"customer_id,ordered_at,amount\nc1,2024-06-01,10\n"


@dataclass
class Case:
    kind: str
    record: str | bytes  # the record as written (may span lines), without its line end
    outcome: str  # ACCEPTED, BLANK, or the quarantine reason of the rejected row
    expect: dict = field(default_factory=dict)  # ACCEPTED: column -> value in the *_checked model
    trace: tuple[str, str | None] | None = None  # a field-level quarantine row (reason, field) on an accepted row
    encoding: str | None = None  # overrides the file's encoding for this record (mixed files)


@dataclass
class CorpusFile:
    name: str
    table: str
    header: str
    cases: list[Case]
    encoding: str = "utf-8"
    newline: str = "\n"
    bom: bytes = b""
    lines: dict[str, int] = field(default_factory=dict)  # kind -> the line its record starts on

    def write(self, folder: Path) -> None:
        nl = self.newline.encode()
        out = [self.bom + self.header.encode(self.encoding) + nl]
        line = 2
        for case in self.cases:
            data = case.record if isinstance(case.record, bytes) else \
                case.record.replace("\n", self.newline).encode(case.encoding or self.encoding)
            self.lines[case.kind] = line
            out.append(data + nl)
            line += data.count(b"\n") + 1
        (folder / self.name).write_bytes(b"".join(out))


# --- the messy landing folder ------------------------------------------------------------------

# orders.csv: UTF-8 with a BOM and CRLF line ends (Excel on Windows), a header in odd case with
# spaces and dashes, an extra column (备注, a note) that is ignored and reported.
ORDERS = CorpusFile(
    name="orders.csv", table="orders", bom=codecs.BOM_UTF8, newline="\r\n",
    header=" Customer ID ,ORDERED_AT,Amount,Order-ID,STATUS,quantity,备注",
    cases=[
        Case("date: ISO", "c1,2024-06-01 10:00:00,100,o1,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 10, 0), "amount": 100.0}),
        Case("date: ISO with T", "c1,2024-06-01T10:00:00,10,o_iso_t,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 10, 0)}),
        Case("date: slash", "c1,2024/06/01 10:00,10,o_slash,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 10, 0)}),
        Case("date: US month/day/year", "c1,06/01/2024,10,o_us,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1)}),
        Case("date: YYYYMMDD", "c1,20240601,10,o_compact,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1)}),
        Case("date: 年月日", "c1,2024年6月1日,10,o_cn,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1)}),
        Case("date: 年月日 时分", "c1,2024年6月1日 10:05,10,o_cn_time,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 10, 5)}),
        # 1717200000 = 2024-06-01 00:00:00 UTC = 08:00 in Shanghai (the store's time zone)
        Case("date: epoch seconds", "c1,1717200000,10,o_epoch,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 8, 0)}),
        Case("date: epoch milliseconds", "c1,1717200000000,10,o_epoch_ms,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 8, 0)}),
        Case("date: Excel serial number", "c1,45444.5,10,o_excel,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 12, 0)}),
        Case("date: ISO with UTC offset", "c1,2024-06-01T02:00:00Z,10,o_utc,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1, 10, 0)}),
        Case("date: full-width digits", "c1,２０２４－０６－０１,10,o_fw_date,paid,1,", ACCEPTED,
             {"ordered_at": datetime(2024, 6, 1)}),
        Case("date: unparseable", "c1,yesterday,10,o_bad_date,paid,1,", "unparseable_ordered_at"),
        Case("date: impossible calendar day", "c1,2024-02-30,10,o_feb30,paid,1,", "unparseable_ordered_at"),
        Case("date: missing", "c1,,10,o_no_date,paid,1,", "missing_ordered_at"),
        Case("future timestamp", "c1,2030-01-01 10:00:00,10,o_future,paid,1,", "future_timestamp"),
        Case("amount: zero is a purchase", "c1,2024-06-02,0,o_zero,paid,1,", ACCEPTED, {"amount": 0.0, "status": "paid"}),
        Case("amount: ¥ and thousands separator (quoted)", 'c1,2024-06-02,"¥1,299.00",o_yen,paid,1,', ACCEPTED,
             {"amount": 1299.0}),
        Case("amount: full-width digits", "c1,2024-06-02,１２９．００,o_fw_amount,paid,1,", ACCEPTED, {"amount": 129.0}),
        Case("amount: with 元", "c1,2024-06-02,12元,o_yuan,paid,1,", ACCEPTED, {"amount": 12.0}),
        Case("amount: decimal comma (ambiguous)", 'c1,2024-06-02,"10,50",o_decimal_comma,paid,1,', "unparseable_amount"),
        Case("amount: unquoted thousands separator", "c1,2024-06-02,1,299.00,o_unquoted,paid,1,", "too_many_fields"),
        Case("amount: not a number", "c1,2024-06-02,abc,o_abc,paid,1,", "unparseable_amount"),
        Case("amount: NaN", "c1,2024-06-02,NaN,o_nan,paid,1,", "unparseable_amount"),
        Case("amount: missing", "c1,2024-06-02,,o_no_amount,paid,1,", "missing_amount"),
        Case("amount: absurd", "c1,2024-06-02,99999999,o_absurd,paid,1,", "absurd_amount"),
        Case("negative amount, not a refund", "c1,2024-06-02,-50,o_neg,paid,1,", "negative_amount_not_refund"),
        Case("negative amount on a refund row", "c1,2024-06-02,-50,o_refund,refunded,1,", ACCEPTED,
             {"amount": -50.0, "status": "refunded"}),
        Case("status in Chinese", "c1,2024-06-02,10,o_cn_status,已付款,1,", ACCEPTED, {"status": "paid"}),
        Case("status unknown", "c1,2024-06-02,10,o_weird,weird,1,", "unknown_status"),
        Case("test order", "c1,2024-06-02,10,o_test,test,1,", "test_order"),
        Case("test order (测试)", "c1,2024-06-02,10,o_test_cn,测试,1,", "test_order"),
        Case("duplicate order id", "c1,2024-06-03,100,o1,paid,1,", "duplicate_order_id"),
        Case("identical rows without order id (1)", "c2,2024-06-03 09:00:00,30,,paid,1,", ACCEPTED,
             {"customer_id": "c2", "amount": 30.0}),
        Case("identical rows without order id (2)", "c2,2024-06-03 09:00:00,30,,paid,1,", ACCEPTED,
             {"customer_id": "c2", "amount": 30.0}),
        Case("missing customer id", ",2024-06-03,10,o_no_customer,paid,1,", "missing_customer_id"),
        Case("quantity not a number", "c1,2024-06-03,10,o_qty,paid,two,", "unparseable_quantity"),
        Case("Excel text guard =\"...\"", 'c1,2024-06-03,10,="o_guard",paid,1,', ACCEPTED, {"order_id": "o_guard"}),
        Case("full-width spaces around values", "\u3000c3\u3000,2024-06-03,10,o_spaces,paid,1,", ACCEPTED,
             {"customer_id": "c3"}),
        Case("multi-line quoted field", 'c1,2024-06-03,10,o_multiline,paid,1,"first line\nsecond line"', ACCEPTED,
             {"order_id": "o_multiline"}),
        Case("row after a multi-line field keeps its line", "c1,2024-06-03,10,o_after_multiline,paid,1,", ACCEPTED,
             {"order_id": "o_after_multiline"}),
        Case("unclosed quote", 'c1,2024-06-04,10,o_unclosed,paid,1,"a note that never ends', "malformed_quoting"),
        Case("row after an unclosed quote is loaded", "c1,2024-06-04,10,o_after_unclosed,paid,1,", ACCEPTED,
             {"order_id": "o_after_unclosed"}),
        Case("too many fields", "c1,2024-06-04,10,o_many,paid,1,,surplus", "too_many_fields"),
        Case("too many fields (empty surplus)", "c1,2024-06-04,10,o_trailing,paid,1,,", "too_many_fields"),
        Case("too few fields", "c1,2024-06-04,10", "too_few_fields"),
        Case("blank line", "", BLANK),
        Case("line of delimiters only", ",,,,,,", BLANK),
        Case("repeated header row", " Customer ID ,ORDERED_AT,Amount,Order-ID,STATUS,quantity,备注", "repeated_header"),
        Case("NUL byte in a value", b"c1,2024-06-04,10,o_nul\x00,paid,1,", ACCEPTED, {"order_id": "o_nul"},
             trace=("nul_byte", None)),
        Case("bare CR inside an unquoted value", b"c1,2024-06-04,10,o_cr\rx,paid,1,", "malformed_record"),
        Case("last row after the mess keeps its line", "c9,2024-06-05,10,o_last,paid,1,", ACCEPTED,
             {"customer_id": "c9"}),
    ],
)

# order_lines.csv: ';' as the delimiter (European Excel).
ORDER_LINES = CorpusFile(
    name="order_lines.csv", table="order_lines",
    header="order_id;product_id;quantity;amount;line_id",
    cases=[
        Case("order line", "o1;P1;2;100;1", ACCEPTED, {"quantity": 2.0, "amount": 100.0}),
        Case("refund line: negative quantity and amount", "o1;P1;-1;-50;2", ACCEPTED,
             {"quantity": -1.0, "amount": -50.0}),
        Case("refund line with the wrong sign", "o1;P2;1;-50;3", "refund_sign_mismatch"),
        Case("unknown product id", "o1;P404;1;10;4", "unknown_product_id"),
        Case("line of a rejected order", "o_test;P1;1;10;1", "order_rejected"),
        Case("line of an unknown order", "o_missing;P1;1;10;1", "unknown_order_id"),
        Case("line of a rejected product", "o1;P3;1;10;5", "product_rejected"),
        Case("duplicate line id", "o1;P1;2;100;1", "duplicate_line_id"),
        Case("line quantity missing", "o1;P2;;10;6", "missing_quantity"),
        Case("line with a comma in a value (';' file)", "o1;P2;1;1,299.00;7", ACCEPTED, {"amount": 1299.0}),
    ],
)

# customers.csv: mixed encodings (a GBK export with UTF-8 rows appended), Chinese column names.
CUSTOMERS = CorpusFile(
    name="customers.csv", table="customers", encoding="gbk",
    header="客户编号,手机号,姓名,生日,注册时间,省份",
    cases=[
        Case("GBK row", "c1,13800138000,张三,1990-05-01,2024-01-01,浙江", ACCEPTED,
             {"name": "张三", "province": "浙江", "e164": "+8613800138000", "phone_class": "valid_mobile"}),
        Case("UTF-8 row in a GBK file", "c2,13800138001,李四,1991-01-01,2024-01-01,广东", ACCEPTED,
             {"name": "李四", "province": "广东"}, encoding="utf-8"),
        Case("emoji in a name", "c3,13800138002,小美🌸💄,1992-02-02,2024-01-01,上海", ACCEPTED,
             {"name": "小美🌸💄"}, encoding="utf-8"),
        Case("bytes valid in neither UTF-8 nor GBK", b"c4,13800138003,\xff\xfe\x80\x81,1990-01-01,2024-01-01,x",
             "undecodable_text"),
        Case("phone: +86 with spaces", "c5,+86 138 0013 8005,王五,,2024-01-01,", ACCEPTED, {"e164": "+8613800138005"}),
        Case("phone: 0086", "c6,008613800138006,赵六,,2024-01-01,", ACCEPTED, {"e164": "+8613800138006"}),
        Case("phone: dashes", "c7,138-0013-8007,钱七,,2024-01-01,", ACCEPTED, {"e164": "+8613800138007"}),
        Case("phone: full-width digits", "c8,１３８００１３８００８,孙八,,2024-01-01,", ACCEPTED,
             {"e164": "+8613800138008"}),
        Case("phone: Excel text guard", 'c9,="13800138009",周九,,2024-01-01,', ACCEPTED, {"e164": "+8613800138009"}),
        Case("phone: landline", "c10,0571-88886666,吴十,,2024-01-01,", ACCEPTED, {"phone_class": "landline"},
             trace=("phone_landline", "phone")),
        Case("phone: too short", "c11,1380013,郑一,,2024-01-01,", ACCEPTED, {"phone_class": "invalid_length"},
             trace=("phone_invalid_length", "phone")),
        Case("phone: letters", "c12,abc,冯二,,2024-01-01,", ACCEPTED, {"phone_class": "invalid_length", "e164": None},
             trace=("phone_invalid_length", "phone")),
        Case("phone: bad mobile prefix", "c13,12012345678,陈三,,2024-01-01,", ACCEPTED,
             {"phone_class": "invalid_prefix"}, trace=("phone_invalid_prefix", "phone")),
        Case("impossible birthday", "c14,13800138014,褚四,1850-01-01,2024-01-01,", ACCEPTED, {},
             trace=("impossible_birthday", "birthday")),
        Case("future birthday", "c15,13800138015,卫五,2030-01-01,2024-01-01,", ACCEPTED, {},
             trace=("future_birthday", "birthday")),
        Case("birthday in 年月日", "c16,13800138016,蒋六,1990年5月1日,2024-01-01,", ACCEPTED,
             {"birthday": date(1990, 5, 1)}),
        Case("duplicate customer id", "c1,13800138099,张三二,,2024-02-01,", "duplicate_customer_id"),
        Case("same phone as another customer (1)", "c20,13800138020,沈七,,2024-01-01,", ACCEPTED),
        Case("same phone as another customer (2)", "c21,+86 138-0013-8020,沈七,,2024-03-01,", ACCEPTED,
             {"e164": "+8613800138020"}),
        Case("1 MB name", "c22,13800138022," + "长" * 1_000_000 + ",,2024-01-01,", "field_too_long"),
        Case("missing customer id", ",13800138023,韩八,,2024-01-01,", "missing_customer_id"),
    ],
)

# products.csv: GBK, tab-delimited (Excel "text" export), Chinese column names.
PRODUCTS = CorpusFile(
    name="products.csv", table="products", encoding="gbk",
    header="商品编号\t类目\t商品名称\tprice\tconsumption_cycle_days",
    cases=[
        Case("GBK product", "P1\tface_mask\t玻尿酸面膜\t79.00\t10", ACCEPTED,
             {"product_name": "玻尿酸面膜", "consumption_cycle_days": 10}),
        Case("second product", "P2\tserum\t精华\t199\t30", ACCEPTED),
        Case("consumption cycle not a number", "P3\tcream\t面霜\t99\tabc", "unparseable_consumption_cycle_days"),
        Case("duplicate product id", "P1\tface_mask\t面膜二\t79\t10", "duplicate_product_id"),
        Case("price with full-width ￥", "P5\tcleanser\t洁面\t￥59\t", ACCEPTED, {"price": 59.0}),
    ],
)

OPT_OUTS = CorpusFile(
    name="opt_outs.csv", table="opt_outs",
    header="phone,occurred_at,event,source,reply_text",
    cases=[
        Case("opt-out reply: T", "13800138000,2024-06-01 10:00:00,,reply,T", ACCEPTED, {"event": "opt_out"}),
        Case("opt-out reply: full-width ＴＤ", "13800138001,2024-06-01 10:00:00,,reply,ＴＤ", ACCEPTED,
             {"event": "opt_out"}),
        Case("opt-out reply: 退订。", "13800138002,2024-06-01 10:00:00,,reply,退订。", ACCEPTED, {"event": "opt_out"}),
        Case("opt-out reply: 回T退订", "13800138003,2024-06-01 10:00:00,,reply,回T退订", ACCEPTED, {"event": "opt_out"}),
        Case("opt-in reply: START", "13800138004,2024-06-01 10:00:00,,reply,START", ACCEPTED, {"event": "opt_in"}),
        Case("opt-out event in Chinese", "13800138005,2024-06-01 10:00:00,退订,manual,", ACCEPTED, {"event": "opt_out"}),
        Case("opt-out with an unknown event", "13800138006,2024-06-01 10:00:00,maybe,manual,", "unknown_event"),
        Case("opt-out without a phone", ",2024-06-01 10:00:00,opt_out,manual,", "missing_phone"),
        Case("opt-out with a phone that is not a number", "abc,2024-06-01 10:00:00,opt_out,manual,", "unparseable_phone"),
        Case("opt-out in the future", "13800138007,2030-01-01,opt_out,manual,", "future_timestamp"),
        Case("opt-out phone with +86", "+86 138 0013 8008,2024-06-01,opt_out,manual,", ACCEPTED,
             {"e164": "+8613800138008"}),
    ],
)

CSV_FILES = [ORDERS, ORDER_LINES, CUSTOMERS, PRODUCTS, OPT_OUTS]
CHECKED = {
    "orders": "intermediate.int_orders_checked",
    "order_lines": "intermediate.int_order_lines_checked",
    "customers": "intermediate.int_customers_checked",
    "products": "intermediate.int_products_checked",
    "opt_outs": "intermediate.int_opt_outs_checked",
    "points": "intermediate.int_points_checked",
}


def _points_parquet(path: Path) -> None:
    """points.parquet: typed columns as a program writes them (timestamp, int64), not text."""
    table = pa.table({
        "customer_id": pa.array(["c1", "c2", "c3", None], type=pa.string()),
        "occurred_at": pa.array([datetime(2024, 6, 1, 10, 30), datetime(2024, 6, 2, 11, 0), None,
                                 datetime(2024, 6, 3)], type=pa.timestamp("us")),
        "points": pa.array([100, -40, 5, 7], type=pa.int64()),
        "reason": pa.array(["purchase", "redeem", "review", "adjust"]),
    })
    pq.write_table(table, path)


POINTS_CASES = {  # Parquet row number -> outcome
    1: (ACCEPTED, {"occurred_at": datetime(2024, 6, 1, 10, 30), "points": 100.0}),
    2: (ACCEPTED, {"points": -40.0}),
    3: ("missing_occurred_at", {}),
    4: ("missing_customer_id", {}),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The messy landing folder, loaded and built once. Returns the warehouse."""
    from laoke.build import build_warehouse

    root = tmp_path_factory.mktemp("corpus")
    landing = root / "landing"
    landing.mkdir()
    for corpus_file in CSV_FILES:
        corpus_file.write(landing)
    _points_parquet(landing / "points.parquet")
    warehouse = root / "warehouse.duckdb"
    build_warehouse(landing, warehouse, as_of=AS_OF, load_date=AS_OF)
    return warehouse


@pytest.fixture
def con(corpus):
    connection = duckdb.connect(str(corpus), read_only=True)
    yield connection
    connection.close()


CASES = [(f, c) for f in CSV_FILES for c in f.cases]


@pytest.mark.parametrize("corpus_file,case", CASES, ids=[f"{f.table}: {c.kind}" for f, c in CASES])
def test_record_outcome(con, corpus_file: CorpusFile, case: Case):
    line = corpus_file.lines[case.kind]
    key = (corpus_file.table, corpus_file.name, line)
    checked = con.execute(
        f"select * from {CHECKED[corpus_file.table]} where source_file = ? and source_row = ?", key[1:]
    ).df()
    quarantined = con.execute(
        "select reason, field, is_row_rejected from main.quarantine "
        "where source_table = ? and source_file = ? and source_row = ? order by reason", key
    ).fetchall()
    if case.outcome == BLANK:
        assert checked.empty and not quarantined
        return
    if case.outcome == ACCEPTED:
        assert len(checked) == 1, f"no row at line {line}"
        row = checked.iloc[0]
        assert row["rejection_reason"] is None
        for column, expected in case.expect.items():
            actual = row[column]
            actual = None if actual is None or (isinstance(actual, float) and math.isnan(actual)) else actual
            if isinstance(expected, datetime):
                actual = actual.to_pydatetime()
            elif isinstance(expected, date):
                actual = actual.date() if hasattr(actual, "date") else actual
            assert actual == expected, column
        expected_traces = [(case.trace[0], case.trace[1], False)] if case.trace else []
        assert quarantined == expected_traces
        return
    # Rejected: one quarantine row with the reason; rejected in the model or at load (no model row).
    assert quarantined == [(case.outcome, None, True)]
    if len(checked):
        assert checked.iloc[0]["rejection_reason"] == case.outcome
    else:
        reject = con.execute(
            "select reason from raw.load_rejects where table_name = ? and source_file = ? and source_row = ?", key
        ).fetchall()
        assert reject == [(case.outcome,)]


@pytest.mark.parametrize("row,outcome", POINTS_CASES.items(), ids=[f"points.parquet row {r}" for r in POINTS_CASES])
def test_parquet_typed_points(con, row, outcome):
    reason, expect = outcome
    checked = con.execute(
        "select * from intermediate.int_points_checked where source_file = 'points.parquet' and source_row = ?", [row]
    ).df()
    assert len(checked) == 1
    got = checked.iloc[0]
    if reason == ACCEPTED:
        assert got["rejection_reason"] is None
        for column, expected in expect.items():
            value = got[column].to_pydatetime() if isinstance(expected, datetime) else got[column]
            assert value == expected
    else:
        assert got["rejection_reason"] == reason


def test_load_audit_of_the_corpus(con):
    audit = {r[0]: r[1:] for r in con.execute(
        "select source_file, file_format, encoding, rows_in, rows_loaded, rows_rejected, extra_columns, blank_lines "
        "from raw.load_audit"
    ).fetchall()}
    rejected_at_load = {f.name: sum(1 for c in f.cases if c.outcome in LOAD_REASONS) for f in CSV_FILES}
    blank = {f.name: sum(1 for c in f.cases if c.outcome == BLANK) for f in CSV_FILES}
    for corpus_file in CSV_FILES:
        rows_in = len(corpus_file.cases) - blank[corpus_file.name]
        fmt, encoding, got_in, loaded, rejected, extras, got_blank = audit[corpus_file.name]
        assert (got_in, loaded + rejected, rejected, got_blank) == (
            rows_in, rows_in, rejected_at_load[corpus_file.name], blank[corpus_file.name]), corpus_file.name
    assert audit["orders.csv"][1] == "utf-8-bom"
    assert audit["orders.csv"][5] == "备注"  # the extra column, ignored and reported
    assert audit["customers.csv"][1] == "mixed"
    assert audit["products.csv"][1] == "gbk"
    assert audit["points.parquet"][:2] == ("parquet", "")


LOAD_REASONS = {"too_many_fields", "too_few_fields", "malformed_quoting", "malformed_record", "repeated_header",
                "field_too_long"}


def test_identical_rows_without_order_id_are_two_orders(con):
    keys = con.execute(
        "select order_key from intermediate.int_orders_checked "
        "where customer_id = 'c2' and rejection_reason is null order by source_row"
    ).fetchall()
    assert keys == [(f"orders.csv:{ORDERS.lines['identical rows without order id (1)']}",),
                    (f"orders.csv:{ORDERS.lines['identical rows without order id (2)']}",)]


def test_customers_with_the_same_phone_are_merged(con):
    merged = con.execute(
        "select customer_id, survivor_customer_id, is_merged from intermediate.int_customer_identity "
        "where customer_id in ('c20', 'c21') order by customer_id"
    ).fetchall()
    assert merged == [("c20", "c20", False), ("c21", "c20", True)]


def test_undecodable_line_keeps_its_bytes_in_the_trace(con):
    detail, raw_line = con.execute(
        "select detail, raw_line from raw.load_rejects where reason = 'undecodable_text'"
    ).fetchone()
    assert "GB18030" in detail and raw_line.startswith("c4,13800138003,")


def test_field_too_long_names_the_column(con):
    detail = con.execute("select detail from raw.load_rejects where reason = 'field_too_long'").fetchone()[0]
    assert detail.startswith("column 'name': 1,000,0") and str(f"{MAX_FIELD_CHARS:,}") in detail


# --- reconciliation: rows in = rows accepted + rows rejected ------------------------------------


def assert_reconciles(con) -> list[tuple]:
    """For every landing file: rows_in = rows its *_checked model accepted + quarantined rejected rows."""
    rows = []
    for table_name, source_file, rows_in in con.execute(
        "select table_name, source_file, rows_in from raw.load_audit order by 1"
    ).fetchall():
        accepted = con.execute(
            f"select count(*) from {CHECKED[table_name]} where source_file = ? and rejection_reason is null",
            [source_file],
        ).fetchone()[0]
        rejected = con.execute(
            "select count(*) from main.quarantine where source_table = ? and source_file = ? and is_row_rejected",
            [table_name, source_file],
        ).fetchone()[0]
        assert rows_in == accepted + rejected, (source_file, rows_in, accepted, rejected)
        rows.append((source_file, rows_in, accepted, rejected))
    return rows


def test_corpus_reconciles(con, corpus):
    files = assert_reconciles(con)
    assert {f[0] for f in files} == {f.name for f in CSV_FILES} | {"points.parquet"}
    assert all(rejected > 0 for _, _, _, rejected in files)
    # The same reconciliation as a dbt data test, run by every `laoke build`.
    results = json.loads((corpus.parent / f".{corpus.stem}_dbt" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert statuses["assert_rows_in_equal_accepted_plus_rejected"] == "pass"


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory) -> Path:
    from laoke.build import build_warehouse
    from laoke.demo import DEMO_END
    from laoke.generate import generate_store

    root = tmp_path_factory.mktemp("demo300")
    generate_store(root / "landing", customers=300, seed=3, end_date=DEMO_END)
    build_warehouse(root / "landing", root / "warehouse.duckdb", as_of=DEMO_END, load_date=DEMO_END)
    return root / "warehouse.duckdb"


def test_demo_store_reconciles(demo_build):
    with duckdb.connect(str(demo_build), read_only=True) as connection:
        files = assert_reconciles(connection)
    assert len(files) == 6 and sum(f[1] for f in files) > 1000


# --- file-level kinds: the loader alone ---------------------------------------------------------


def _load(tmp_path: Path, files: dict[str, bytes | pa.Table]) -> tuple[duckdb.DuckDBPyConnection, list]:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    if "orders.csv" not in files and "orders.parquet" not in files and "orders.xlsx" not in files:
        files = {"orders.csv": MINIMAL_ORDERS, **files}
    for name, content in files.items():
        if isinstance(content, pa.Table):
            pq.write_table(content, landing / name)
        else:
            (landing / name).write_bytes(content)
    connection = duckdb.connect()
    return connection, load_landing(connection, landing)


def _rows(connection, table: str = "orders", columns: str = "customer_id, ordered_at, amount, _source_row"):
    return connection.execute(f"select {columns} from raw.{table} order by _source_row").fetchall()


# (kind, file name, bytes, the raw orders rows expected, encoding in load_audit)
LOADED_FILES = [
    ("semicolon delimiter", "orders.csv", b"customer_id;ordered_at;amount\nc1;2024-06-01;10,50\n",
     [("c1", "2024-06-01", "10,50", 2)], "utf-8"),
    ("tab delimiter", "orders.csv", b"customer_id\tordered_at\tamount\nc1\t2024-06-01\t10\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("pipe delimiter", "orders.csv", b"customer_id|ordered_at|amount\nc1|2024-06-01|10\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("UTF-8 BOM", "orders.csv", codecs.BOM_UTF8 + b"customer_id,ordered_at,amount\nc1,2024-06-01,10\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8-bom"),
    ("GBK-encoded file with Chinese column names", "orders.csv",
     "客户编号,下单时间,实付金额\n张三,2024年6月1日,10\n".encode("gbk"),
     [("张三", "2024年6月1日", "10", 2)], "gbk"),
    ("UTF-16 with BOM (Excel 'Unicode text')", "orders.csv",
     "customer_id\tordered_at\tamount\r\n李四\t2024-06-01\t10\r\n".encode("utf-16"),
     [("李四", "2024-06-01", "10", 2)], "utf-16"),
    ("CRLF line ends", "orders.csv", b"customer_id,ordered_at,amount\r\nc1,2024-06-01,10\r\nc2,2024-06-02,20\r\n",
     [("c1", "2024-06-01", "10", 2), ("c2", "2024-06-02", "20", 3)], "utf-8"),
    ("CR-only line ends (old Mac)", "orders.csv", b"customer_id,ordered_at,amount\rc1,2024-06-01,10\rc2,2024-06-02,20\r",
     [("c1", "2024-06-01", "10", 2), ("c2", "2024-06-02", "20", 3)], "utf-8"),
    ("no line end after the last row", "orders.csv", b"customer_id,ordered_at,amount\nc1,2024-06-01,10",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("header only", "orders.csv", b"customer_id,ordered_at,amount\n", [], "utf-8"),
    ("blank lines before the header", "orders.csv", b"\n\ncustomer_id,ordered_at,amount\nc1,2024-06-01,10\n",
     [("c1", "2024-06-01", "10", 4)], "utf-8"),
    ("header in upper case with spaces", "orders.csv", b" CUSTOMER ID , Ordered At ,AMOUNT\nc1,2024-06-01,10\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("header in camel case", "orders.csv", b"CustomerID,OrderedAt,Amount\nc1,2024-06-01,10\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("Chinese header with a unit in full-width parentheses", "orders.csv",
     "会员编号,付款时间,实付金额（元）\nc1,2024-06-01,10\n".encode(),
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("trailing delimiter in header and rows", "orders.csv", b"customer_id,ordered_at,amount,\nc1,2024-06-01,10,\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("full-width comma delimiter", "orders.csv", "customer_id，ordered_at，amount\nc1，2024-06-01，10\n".encode(),
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("columns in another order", "orders.csv", b"amount,customer_id,ordered_at\n10,c1,2024-06-01\n",
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
    ("quoted fields with doubled quotes", "orders.csv",
     b'"customer_id","ordered_at","amount"\n"c ""one""","2024-06-01","10"\n',
     [('c "one"', "2024-06-01", "10", 2)], "utf-8"),
    ("stray quote inside an unquoted value", "orders.csv", b'customer_id,ordered_at,amount\nc1 12" tv,2024-06-01,10\n',
     [('c1 12" tv', "2024-06-01", "10", 2)], "utf-8"),
    ("unclosed quote on the last line", "orders.csv", b'customer_id,ordered_at,amount\nc1,2024-06-01,"10\n',
     [("c1", "2024-06-01", "10", 2)], "utf-8"),
]


@pytest.mark.parametrize("kind,name,content,expected,encoding", LOADED_FILES, ids=[k[0] for k in LOADED_FILES])
def test_file_shape_is_loaded(tmp_path, kind, name, content, expected, encoding):
    connection, audit = _load(tmp_path, {name: content})
    assert _rows(connection) == expected
    orders = next(a for a in audit if a.table_name == "orders")
    assert (orders.encoding, orders.rows_in, orders.rows_loaded, orders.rows_rejected) == (
        encoding, len(expected), len(expected), 0)


def test_extra_columns_are_ignored_and_reported(tmp_path):
    content = b"customer_id,ordered_at,amount,note,note,shop\nc1,2024-06-01,10,a,b,x\n"
    connection, audit = _load(tmp_path, {"orders.csv": content})
    assert _rows(connection) == [("c1", "2024-06-01", "10", 2)]
    assert audit[0].extra_columns == "note;note;shop"
    assert connection.execute("select extra_columns from raw.load_audit where table_name = 'orders'").fetchone() == (
        "note;note;shop",)


def test_parquet_with_typed_columns(tmp_path):
    table = pa.table({
        "Customer_ID": pa.array([42, 43], type=pa.int64()),
        "ordered_at": pa.array([datetime(2024, 6, 1, 10, 0), datetime(2024, 6, 2, 11, 30, 5)], type=pa.timestamp("ms")),
        "amount": pa.array([12.5, 100.0], type=pa.float64()),
        "quantity": pa.array([1, 2], type=pa.int32()),
        "paid_at_utc": pa.array([datetime(2024, 6, 1, 2, 0)] * 2, type=pa.timestamp("us", tz="UTC")),
    })
    connection, audit = _load(tmp_path, {"orders.parquet": table})
    assert _rows(connection, columns="customer_id, ordered_at, amount, quantity, _source_file, _source_row") == [
        ("42", "2024-06-01 10:00:00", "12.5", "1", "orders.parquet", 1),
        ("43", "2024-06-02 11:30:05", "100", "2", "orders.parquet", 2),
    ]
    assert (audit[0].file_format, audit[0].rows_in, audit[0].extra_columns) == ("parquet", 2, "paid_at_utc")


def test_parquet_timestamp_with_time_zone_keeps_its_instant(tmp_path):
    table = pa.table({
        "customer_id": ["c1"], "amount": ["10"],
        "ordered_at": pa.array([datetime(2024, 6, 1, 2, 0)], type=pa.timestamp("us", tz="UTC")),
    })
    connection, _ = _load(tmp_path, {"orders.parquet": table})
    assert _rows(connection, columns="ordered_at") == [("2024-06-01T02:00:00.000000+00:00",)]


def test_line_numbers_are_physical_lines(tmp_path):
    content = (b"customer_id,ordered_at,amount\n"
               b"c1,2024-06-01,10\n"            # 2
               b"\n"                            # 3 blank
               b'"c\n2",2024-06-01,10\n'        # 4-5 multi-line record
               b"c3,2024-06-01\n"               # 6 too few
               b'c4,"2024-06-01,10\n'           # 7 unclosed quote
               b"c5,2024-06-01,10\n"            # 8
               b"c6,2024-06-01,10,x\n"          # 9 too many
               b"c7,2024-06-01,10\n")           # 10
    connection, audit = _load(tmp_path, {"orders.csv": content})
    assert _rows(connection, columns="customer_id, _source_row") == [("c1", 2), ("c\n2", 4), ("c5", 8), ("c7", 10)]
    assert connection.execute("select source_row, reason from raw.load_rejects order by 1").fetchall() == [
        (6, "too_few_fields"), (7, "malformed_quoting"), (9, "too_many_fields")]
    assert (audit[0].rows_in, audit[0].rows_loaded, audit[0].rows_rejected, audit[0].blank_lines) == (7, 4, 3, 1)


# (kind, files, what the LaokeError message must contain: the file, the row and the column)
ERRORS = [
    ("empty file (0 bytes)", {"orders.csv": b""}, ["orders.csv", "row 1", "empty file"]),
    ("only blank lines", {"orders.csv": b"\n  \n\n"}, ["orders.csv", "row 1", "no header"]),
    ("missing required column", {"orders.csv": b"customer_id,amount\nc1,10\n"},
     ["orders.csv", "row 1", "missing required column 'ordered_at'"]),
    ("missing required column in an optional file", {"customers.csv": b"phone,name\n138,x\n"},
     ["customers.csv", "row 1", "'customer_id'"]),
    ("duplicate header", {"orders.csv": b"customer_id,ordered_at,amount,amount\nc1,2024-06-01,10,11\n"},
     ["orders.csv", "row 1", "columns 3 ('amount') and 4 ('amount')", "'amount'"]),
    ("two aliases of one column", {"orders.csv": "客户编号,下单时间,订单金额,实付金额\nc1,2024-06-01,10,9\n".encode()},
     ["orders.csv", "row 1", "'订单金额'", "'实付金额'", "'amount'"]),
    ("header that cannot be parsed", {"orders.csv": b'customer_id,"ordered_at,amount\nc1,2024-06-01,10\n'},
     ["orders.csv", "row 1", "header cannot be parsed (a quote in it is not closed)"]),
    ("header with a bare CR inside a name", {"orders.csv": b"customer_id,ordered\rat,amount\nc1,2024-06-01,10\n"},
     ["orders.csv", "row 1", "header cannot be parsed"]),
    ("header after blank lines, column missing", {"orders.csv": b"\n\ncustomer_id,amount\nc1,10\n"},
     ["orders.csv", "row 3", "'ordered_at'"]),
    ("header of a different file (no contract column)", {"orders.csv": b"sku,category\nP1,mask\n"},
     ["orders.csv", "row 1", "missing required columns 'customer_id', 'ordered_at', 'amount'"]),
    ("binary file", {"orders.csv": bytes(range(128, 256)) * 4}, ["orders.csv", "row 1"]),
    ("Excel workbook saved as .csv", {"orders.csv": b"PK\x03\x04" + b"\x00" * 100}, ["orders.csv", "Excel workbook"]),
    ("Excel workbook in the folder", {"orders.xlsx": b"PK\x03\x04"}, ["orders.xlsx", "spreadsheet"]),
    ("Parquet bytes named .csv", {"orders.csv": b"PAR1" + b"\x00" * 10}, ["orders.csv", "Parquet"]),
    ("orders.csv and orders.parquet both present",
     {"orders.csv": MINIMAL_ORDERS, "orders.parquet": pa.table({"customer_id": ["c1"]})},
     ["orders.csv", "orders.parquet", "keep one"]),
    ("corrupt Parquet", {"orders.parquet": b"PAR1 not really"}, ["orders.parquet", "not a readable Parquet file"]),
    ("Parquet without a required column",
     {"orders.parquet": pa.table({"customer_id": ["c1"], "ordered_at": ["2024-06-01"]})},
     ["orders.parquet", "row 1", "'amount'"]),
    ("no orders file", {"customers.csv": b"customer_id\nc1\n", "orders.csv": None}, ["no orders file"]),
]


@pytest.mark.parametrize("kind,files,needles", ERRORS, ids=[e[0] for e in ERRORS])
def test_unreadable_file_is_a_clear_error(tmp_path, kind, files, needles):
    landing = tmp_path / "landing"
    landing.mkdir()
    if "orders.csv" not in files and "orders.parquet" not in files:
        files = {"orders.csv": MINIMAL_ORDERS, **files}
    for name, content in files.items():
        if content is None:
            continue
        if isinstance(content, pa.Table):
            pq.write_table(content, landing / name)
        else:
            (landing / name).write_bytes(content)
    with pytest.raises(LaokeError) as error:
        load_landing(duckdb.connect(), landing)
    message = str(error.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_cli_build_with_a_missing_column_prints_one_line(tmp_path, monkeypatch, capsys):
    from laoke.cli import main

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_bytes(b"customer_id,ordered_at,amount\nc1,2024-06-01,10\n")
    (landing / "customers.csv").write_bytes("客户编号,姓名\nc1,张三\n".encode())
    (landing / "opt_outs.csv").write_bytes(b"phone,event\n13800138000,opt_out\n")
    monkeypatch.setenv("LAOKE_LANDING", str(landing))
    monkeypatch.setenv("LAOKE_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    assert main(["build", "--as-of", "2025-06-30"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("laoke: ") and "opt_outs.csv" in err and "row 1" in err and "'occurred_at'" in err
