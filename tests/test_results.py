"""Pulling results back: receipts and replies files into campaigns.*, and opt-outs effective at once."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from laoke.errors import LaokeError
from laoke.results import (
    ensure_results_tables,
    latest_reply_opt_outs,
    load_receipts,
    load_replies,
    parse_time,
    receipt_status,
)
from laoke.send_lists import ensure_ledger

SEND_DATE = date(2024, 6, 10)
PHONES = [f"+86138000000{i:02d}" for i in range(1, 7)]  # 1-5 treatment, 6 holdout


@pytest.fixture
def ledger_warehouse(tmp_path) -> Path:
    """A warehouse holding only a send ledger: campaign 'c' sent on SEND_DATE to five phones."""
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    ensure_ledger(con)
    ensure_results_tables(con)
    rows = [("c", SEND_DATE, f"C{i}", phone, "s", "holdout" if i == 6 else "treatment",
             None if i == 6 else datetime(2024, 6, 10, 10, 0), 0.05)
            for i, phone in enumerate(PHONES, start=1)]
    con.executemany("insert into campaigns.send_ledger (campaign_id, send_date, customer_id, e164, segment, "
                    "treatment_group, send_at, cost_per_message) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("insert into campaigns.send_list_runs (campaign_id, send_date, attribution_window_days) "
                "values ('c', ?, 7)", [SEND_DATE])
    con.close()
    return warehouse


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.mark.parametrize("text, status", [
    ("DELIVRD", "delivered"), ("delivered", "delivered"), ("成功", "delivered"), ("success", "delivered"),
    ("Delivered ", "delivered"), ("UNDELIV", "failed"), ("failed", "failed"), ("失败", "failed"),
    ("REJECTD", "failed"), ("EXPIRED", "failed"), ("PENDING", "unknown"), ("", "unknown"), (None, "unknown"),
])
def test_receipt_status_words(text, status):
    assert receipt_status(text) == status


@pytest.mark.parametrize("text, expected", [
    ("2024-06-10 10:00:05", datetime(2024, 6, 10, 10, 0, 5)),
    ("2024/06/10 10:00", datetime(2024, 6, 10, 10, 0)),
    ("20240610100005", datetime(2024, 6, 10, 10, 0, 5)),
    ("2024年6月10日 10:00:05", datetime(2024, 6, 10, 10, 0, 5)),
    ("1718013605", datetime(2024, 6, 10, 18, 0, 5)),       # epoch seconds -> Asia/Shanghai
    ("1718013605000", datetime(2024, 6, 10, 18, 0, 5)),
    ("yesterday", None), (None, None),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_receipts_loaded_with_phones_normalised_and_bad_rows_rejected_with_row_and_field(ledger_warehouse, tmp_path):
    path = _write(tmp_path / "receipts.csv", (
        "phone,status,time\n"
        "+86 138 0000 0001,DELIVRD,2024-06-10 10:00:05\n"     # line 2
        "8613800000002,UNDELIV,2024-06-10 10:00:06\n"          # line 3
        "１３８０００００００３,成功,\n"                          # line 4: full-width, no time
        "13800000004,PENDING,2024-06-10 10:00:08\n"            # line 5: unknown status
        "not a phone,DELIVRD,2024-06-10 10:00:09\n"            # line 6: rejected
        "13800000099,DELIVRD,2024-06-10 10:00:10\n"            # line 7: not in the list
        "13800000006,DELIVRD,2024-06-10 10:00:10\n"            # line 8: holdout, never sent
        "13800000005,DELIVRD,soon\n"                           # line 9: bad time
        "\n"
    ))
    result = load_receipts(ledger_warehouse, path, "c")
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (8, 4, 4)
    assert result.rows_in == result.rows_loaded + result.rows_rejected
    assert result.counts == {"delivered": 2, "failed": 1, "unknown": 1}
    assert result.send_date == SEND_DATE
    assert [(r.source_row, r.field, r.reason) for r in result.rejects] == [
        (6, "phone", "unparseable_phone"), (7, "phone", "not_in_send_list"),
        (8, "phone", "not_in_send_list"), (9, "time", "unparseable_time"),
    ]
    rows = _query(ledger_warehouse, "select * from campaigns.delivery_receipts order by source_row")
    assert rows["phone_e164"].tolist() == PHONES[:4]
    assert rows["status"].tolist() == ["delivered", "failed", "delivered", "unknown"]
    assert rows["status_text"].tolist() == ["DELIVRD", "UNDELIV", "成功", "PENDING"]
    assert rows["received_at"].isna().tolist() == [False, False, True, False]
    rejects = _query(ledger_warehouse, "select * from campaigns.results_rejects order by source_row")
    assert rejects["source_row"].tolist() == [6, 7, 8, 9]
    assert set(rejects["source_file"]) == {"receipts.csv"}


def test_receipts_gbk_with_chinese_headers_and_tabs(ledger_warehouse, tmp_path):
    path = _write(tmp_path / "回执.csv", "手机号\t状态\t时间\n13800000001\t成功\t2024/06/10 10:00\n"
                  "13800000002\t失败\t2024/06/10 10:01\n", encoding="gbk")
    result = load_receipts(ledger_warehouse, path, "c")
    assert result.counts == {"delivered": 1, "failed": 1, "unknown": 0}


def test_lines_in_gbk_among_utf8_load_and_undecodable_lines_are_rejected(ledger_warehouse, tmp_path):
    path = tmp_path / "replies.csv"
    path.write_bytes("phone,text,time\n13800000001,退订,2024-06-10 11:00:00\n".encode("utf-8")
                     + "13800000002,退订,2024-06-10 11:00:00\n".encode("gbk")
                     + b"13800000003,\xff\xfe\xff,2024-06-10 11:00:00\n")
    result = load_replies(ledger_warehouse, path)
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert result.counts["opt_out"] == 2
    assert [(r.source_row, r.reason) for r in result.rejects] == [(4, "undecodable_text")]


def test_loading_the_same_file_twice_gives_no_duplicates(ledger_warehouse, tmp_path):
    receipts = _write(tmp_path / "receipts.csv", "phone,status\n13800000001,DELIVRD\n13800000002,DELIVRD\n")
    replies = _write(tmp_path / "replies.csv", "phone,text,time\n13800000001,T,2024-06-10 12:00:00\n")
    for _ in range(2):
        load_receipts(ledger_warehouse, receipts, "c")
        load_replies(ledger_warehouse, replies)
    counts = _query(ledger_warehouse, "select (select count(*) from campaigns.delivery_receipts) as receipts, "
                                      "(select count(*) from campaigns.replies) as replies")
    assert counts.iloc[0].tolist() == [2, 1]


def test_a_file_that_cannot_be_used_is_an_error_naming_file_and_field(ledger_warehouse, tmp_path):
    no_status = _write(tmp_path / "receipts.csv", "phone,time\n13800000001,2024-06-10 10:00:00\n")
    with pytest.raises(LaokeError, match=r"receipts\.csv: row 1: field status"):
        load_receipts(ledger_warehouse, no_status, "c")
    good = _write(tmp_path / "ok.csv", "phone,status\n13800000001,DELIVRD\n")
    with pytest.raises(LaokeError, match="no list"):
        load_receipts(ledger_warehouse, good, "unknown_campaign")
    with pytest.raises(LaokeError, match="no such file"):
        load_replies(ledger_warehouse, tmp_path / "missing.csv")
    with pytest.raises(LaokeError, match="field text"):
        load_replies(ledger_warehouse, _write(tmp_path / "replies.csv", "phone,time\n13800000001,2024-06-10\n"))


def test_replies_classified_attributed_and_opt_outs_never_dropped(ledger_warehouse, tmp_path):
    path = _write(tmp_path / "replies.csv", (
        "phone,text,time\n"
        "13800000001,TD,2024-06-10 11:00:00\n"      # opt-out, in c's window
        "13800000002,退订，谢谢,\n"                  # opt-out without a time: kept, dated at load
        "13800000003,好的,\n"                        # not a command, no time: rejected
        "13800000004,START,2024-06-11 09:00:00\n"   # opt-in
        "13900000000,T,2024-06-10 11:00:00\n"       # a phone no list reached: kept, no campaign
        "13800000005,T,2024-06-30 11:00:00\n"       # after c's 7-day window: no campaign
        "abc,T,2024-06-10 11:00:00\n"               # unusable phone: rejected
    ))
    result = load_replies(ledger_warehouse, path)
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (7, 5, 2)
    assert result.counts == {"opt_out": 4, "opt_in": 1, "none": 0}
    assert [(r.source_row, r.field) for r in result.rejects] == [(4, "time"), (8, "phone")]
    rows = _query(ledger_warehouse, "select * from campaigns.replies order by source_row").set_index("source_row")
    assert rows.loc[2, "campaign_id"] == "c" and rows.loc[5, "campaign_id"] == "c"
    assert pd.isna(rows.loc[6, "campaign_id"]) and pd.isna(rows.loc[7, "campaign_id"])
    assert bool(rows.loc[3, "received_at_assumed"]) and rows.loc[3, "reply_class"] == "opt_out"

    # Naming the campaign restricts attribution to it; an unknown campaign is an error.
    assert load_replies(ledger_warehouse, path, campaign_id="c").rows_loaded == 5
    with pytest.raises(LaokeError, match="no list"):
        load_replies(ledger_warehouse, path, campaign_id="unknown_campaign")


def test_latest_reply_wins_and_a_later_opt_in_restores(ledger_warehouse, tmp_path):
    path = _write(tmp_path / "replies.csv", (
        "phone,text,time\n"
        "13800000001,T,2024-06-10 11:00:00\n"
        "13800000001,START,2024-06-12 11:00:00\n"   # opted back in
        "13800000002,START,2024-06-10 11:00:00\n"
        "13800000002,退订,2024-06-12 11:00:00\n"     # out again
        "13800000003,T,2024-06-10 11:00:00\n"
        "13800000003,订阅,2024-06-10 11:00:00\n"     # same second: the opt-out wins
        "13800000004,谢谢,2024-06-10 11:00:00\n"     # not a command
    ))
    load_replies(ledger_warehouse, path)
    con = duckdb.connect(str(ledger_warehouse), read_only=True)
    try:
        assert latest_reply_opt_outs(con) == {PHONES[1], PHONES[2]}
    finally:
        con.close()


def test_opt_out_reply_received_today_removes_the_phone_from_tomorrows_list(demo_warehouse, tmp_path):
    """No dbt build between the reply and the next list: the send-list builder asks
    latest_reply_opt_outs, so the phone is dropped as opted_out at once."""
    from laoke.campaigns import get_campaign
    from laoke.send_lists import build_send_list

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)
    campaign = get_campaign("winback_coupon")
    before = build_send_list(campaign, warehouse)
    target = before.treatment.iloc[0]
    kept = before.treatment.iloc[1]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
    today = datetime.combine(as_of, datetime.min.time()) + timedelta(hours=20)
    replies = _write(tmp_path / "replies_today.csv",
                     f"手机号,回复内容,回复时间\n{target['e164'][3:]},T,{today:%Y-%m-%d %H:%M:%S}\n"
                     f"{kept['e164'][3:]},谢谢,{today:%Y-%m-%d %H:%M:%S}\n")
    result = load_replies(warehouse, replies)
    assert result.counts["opt_out"] == 1

    after = build_send_list(campaign, warehouse)
    assert after.send_date == as_of + timedelta(days=1)
    assert target["customer_id"] not in set(after.recipients["customer_id"]), (
        "build_send_list must add laoke.results.latest_reply_opt_outs(con) to the opted_out rule")
    assert kept["customer_id"] in set(after.recipients["customer_id"])
    dropped = after.exclusions[after.exclusions["customer_id"] == target["customer_id"]]
    assert dropped["rule"].tolist() == ["opted_out"]
    assert after.rule_counts["opted_out"] == before.rule_counts["opted_out"] + 1

    # A START the day after restores the phone for the list after that.
    restore = _write(tmp_path / "replies_next_day.csv",
                     f"phone,text,time\n{target['e164'][3:]},START,{today + timedelta(days=1):%Y-%m-%d %H:%M:%S}\n")
    load_replies(warehouse, restore)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert target["e164"] not in latest_reply_opt_outs(con)
