"""The GX suites, kept results and the send-list gate (quality/).

One GX file context (in a temporary folder) serves the whole module: creating contexts is the
slow part, a validation takes about a second.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date

import duckdb
import pandas as pd
import pytest

from laoke.errors import LaokeError
from quality import suites
from quality.gate import GateRefused, check_send_list
from quality.validation import run_validation, validate_warehouse

CAMPAIGN = "C2026-11-birthday"
AS_OF = date(2026, 10, 31)
MESSAGE = "【老客小店】生日周专享8折券已到账，本周内下单立减，点击领取 回T退订"
LONG_MESSAGE = "【老客小店】生日周专享8折券已到账，本周内下单立减，满199再送面膜一盒，会员积分翻倍，" \
    "前100名再享包邮，详情请点击链接查看活动规则与使用说明 回T退订"
RAW_MOBILE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory):
    return tmp_path_factory.mktemp("quality")


def send_list(n: int = 100, holdout_every: int = 10, message: str = MESSAGE) -> pd.DataFrame:
    chars = suites.ucs2_length(message)
    segments = 1 if chars <= 70 else math.ceil(chars / 67)
    return pd.DataFrame({
        "campaign_id": [CAMPAIGN] * n,
        "customer_id": [f"C{i:07d}" for i in range(n)],
        "e164": [f"+86138{i:08d}" for i in range(n)],
        "national_number": [f"138{i:08d}" for i in range(n)],
        "segment": ["birthday"] * n,
        "group": ["holdout" if i % holdout_every == 0 else "treatment" for i in range(n)],
        "send_at": [pd.Timestamp("2026-11-02 10:00")] * n,
        "message": [message] * n,
        "message_chars": [chars] * n,
        "message_segments": [segments] * n,
        "offer_in_preview": [True] * n,
    })


SUPPRESSED = {"+8613900000001", "+8613900000002"}


def gate(df: pd.DataFrame, gx_root, **kwargs):
    args = dict(suppressed_e164=SUPPRESSED, phone_classes=None, holdout_share=0.10, campaign_id=CAMPAIGN,
                gx_root=gx_root)
    args.update(kwargs)
    return check_send_list(df, **args)


def test_clean_send_list_passes(gx_root):
    df = send_list()
    result = gate(df, gx_root, as_of=AS_OF, phone_classes={c: "valid_mobile" for c in df["customer_id"]})
    assert result.passed
    assert result.warnings == []
    assert result.result_id == f"{CAMPAIGN}@{AS_OF}"
    checks = {s["check"]: s for s in result.summary}
    for check in ("has_rows", "duplicate_phone", "valid_mobile", "sendable_phone_class", "opted_out",
                  "message_too_long", "holdout_share", "opt_out_line", "signature", "audience_invalid_phone_share"):
        assert checks[check]["success"], check
    assert checks["offer_in_preview"]["critical"] is False
    assert checks["holdout_share"]["observed_value"] == pytest.approx(0.10)
    assert result.docs_path.exists() and result.docs_path.suffix == ".html"
    assert result.docs_index.name == "index.html" and result.docs_index.exists()


def test_planted_opt_out_duplicate_and_long_message_are_refused_by_name(gx_root):
    df = send_list()
    df.loc[3, ["e164", "national_number"]] = ["+8613900000001", "13900000001"]  # opted out
    df.loc[5, ["e164", "national_number"]] = df.loc[4, ["e164", "national_number"]].to_list()  # duplicate
    chars = suites.ucs2_length(LONG_MESSAGE)
    df.loc[7, ["message", "message_chars", "message_segments"]] = [LONG_MESSAGE, chars, math.ceil(chars / 67)]

    with pytest.raises(GateRefused) as refused:
        gate(df, gx_root)
    message = str(refused.value)
    assert isinstance(refused.value, LaokeError)
    assert "opted-out or blacklisted phone: 1 row" in message
    assert "duplicate phone" in message and "2 rows" in message
    assert "message too long" in message
    # Example keys name the rows, with phones masked; no raw number anywhere in the message.
    assert "C0000003 139****0001" in message and "C0000007" in message
    assert not RAW_MOBILE.search(message)
    assert "\n" not in message
    result = refused.value.result
    assert set(result.failed_checks) >= {"opted_out", "duplicate_phone", "message_too_long"}
    assert str(result.docs_path) in message and result.docs_path.exists()
    # GX's own stored results and Data Docs hold no raw phone of the list or of the opt-out set.
    assert not RAW_MOBILE.search(result.docs_path.read_text(encoding="utf-8"))


def test_holdout_share_off_by_more_than_tolerance_is_refused(gx_root):
    df = send_list(holdout_every=4)  # 25% holdout against 10%: outside even 3 standard errors of 100 rows
    with pytest.raises(GateRefused, match=r"holdout share outside 10% ± 9%: observed 0\.25"):
        gate(df, gx_root)
    # 11% is within the tolerance
    df = send_list(n=100)
    df.loc[1, "group"] = "holdout"
    assert gate(df, gx_root).passed


def test_invalid_phone_share_of_the_audience_is_refused(gx_root):
    df = send_list()
    audience = {c: "valid_mobile" for c in df["customer_id"]}
    audience.update({f"X{i}": "landline" for i in range(10)})  # 10 of 110 = 9% > 5%
    with pytest.raises(GateRefused, match="invalid phones in the audience above 5%: 10 rows"):
        gate(df, gx_root, phone_classes=audience)


def test_warnings_only_pass_with_warnings(gx_root):
    df = send_list(message=LONG_MESSAGE)  # two-part messages, allowed by max_segments=2 but flagged
    df.loc[[2, 3], "offer_in_preview"] = False
    result = gate(df, gx_root, max_segments=2)
    assert result.passed
    assert sorted(result.warning_checks) == ["multipart_message", "offer_in_preview"]
    assert any("offer not in the first 20 characters: 2 rows" in w for w in result.warnings)
    assert any("multi-part message" in w for w in result.warnings)


def test_the_opt_out_line_checked_is_the_configured_footer(gx_root, monkeypatch):
    df = send_list()
    df.loc[[1, 2], "message"] = "【老客小店】生日周专享8折券已到账"  # no opt-out line
    with pytest.raises(GateRefused, match="message without the opt-out line 回T退订: 2 rows"):
        gate(df, gx_root)
    # A store that configures another footer: the gate checks that one, not a fixed text.
    configured = {"opt_out_footer": "拒收请回复R"}
    real_rule = suites.rule
    monkeypatch.setattr(suites, "rule", lambda name: configured.get(name, real_rule(name)))
    with pytest.raises(GateRefused, match=r"message without the opt-out line 拒收请回复R: 100 rows"):
        gate(send_list(), gx_root)
    assert gate(send_list(message="【老客小店】生日周专享8折券已到账 拒收请回复R"), gx_root).passed


def test_a_check_that_cannot_run_refuses(gx_root):
    df = send_list().drop(columns=["message"])
    with pytest.raises(GateRefused, match="could not be checked"):
        gate(df, gx_root)


def test_results_rows_are_written_and_a_rerun_replaces_them(gx_root, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    df = send_list()
    with duckdb.connect(str(warehouse)) as con:
        result = gate(df, gx_root, as_of=AS_OF, warehouse_con=con)
        gate(df, gx_root, as_of=AS_OF, warehouse_con=con)  # same run id: replaced, not appended
        bad = df.copy()
        bad.loc[1, "e164"] = "+8613900000002"
        with pytest.raises(GateRefused):
            gate(bad, gx_root, run_id="refused-run", warehouse_con=con)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select run_id, suite, expectation_type, \"column\", critical, success, unexpected_count, "
            "element_count, details from quality.validation_results order by run_id, expectation_type, \"column\""
        ).df()
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'quality' and table_name = 'validation_results'").fetchall())
    assert types["run_at"] == "TIMESTAMP" and types["critical"] == "BOOLEAN"
    ok = rows[rows["run_id"] == result.result_id]
    assert len(ok) == len(result.summary) and ok["success"].all() and (ok["suite"] == "send_list").all()
    refused = rows[rows["run_id"] == "refused-run"]
    opted = refused[refused["expectation_type"] == "expect_column_values_to_not_be_in_set"].iloc[0]
    assert bool(opted["critical"]) and not bool(opted["success"]) and opted["unexpected_count"] == 1
    assert opted["element_count"] == 100
    details = json.loads(opted["details"])
    assert details["check"] == "opted_out" and details["examples"] == ["C0000001 139****0002"]
    assert not rows["details"].str.contains(RAW_MOBILE).any()


def customers_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "masked_phone": ["138****5678", "13912345678", None, "******0898"],  # C2 is not masked
        "phone_class": ["valid_mobile", "valid_mobile", "missing", "landline"],
        "birthday": pd.to_datetime(["1990-01-02", "1985-05-05", None, "2001-12-31"]),
        "registered_at": pd.to_datetime(["2024-01-01 10:00", "2024-02-01 09:00", "2024-03-01 08:00", "2024-04-01 07:00"]),
        "first_purchase_date": pd.to_datetime(["2024-01-02", "2024-01-15", None, "2024-04-02"]),
        "registered_after_first_order": [False, True, False, False],
        "lifecycle_status": ["active", "sleeping", "prospect", "new"],
        "remark": ["", "call 13700001111", "", ""],  # a free-text column with a raw number
    })


def test_customers_suite_catches_an_unmasked_phone(gx_root):
    outcome = run_validation("customers", customers_frame(), gx_root=gx_root, suite_params={"as_of": AS_OF},
                             run_id="customers-test")
    failed = {e.check: e for e in outcome.critical_failures}
    assert set(failed) == {"masked_phone_shape", "masked_mobile_shape", "no_raw_phone:masked_phone", "no_raw_phone:remark"}
    assert failed["no_raw_phone:remark"].examples == ["C2 139****5678"]
    assert not any(RAW_MOBILE.search(e.describe()) for e in outcome.expectations)
    # 1 of 4 registered after the first order: above the 5% default, a warning only.
    assert [w.check for w in outcome.warnings] == ["registered_after_first_order_share"]


def test_validate_warehouse_reads_then_writes_results(gx_root, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    customers = customers_frame()
    customers.loc[1, ["masked_phone", "remark"]] = ["139****5678", ""]
    phones = pd.DataFrame({
        "raw_phone": ["+86 13912345678", "021-53690898", "12012345678"],
        "e164": ["+8613912345678", "+862153690898", "+8612012345678"],
        "national_number": ["13912345678", "2153690898", "12012345678"],
        "phone_class": ["valid_mobile", "landline", "invalid_prefix"],
        "phone_reason": [None, "landline", "bad_prefix"],
        "masked_phone": ["139****5678", "******0898", "120****5678"],
    })
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.register("c", customers)
        con.register("p", phones)
        con.execute("create table main.customers as select * from c")
        con.execute("create table raw.phone_numbers as select * from p")
    outcomes = validate_warehouse(warehouse, as_of=AS_OF, run_id="wh-1", gx_root=gx_root)
    assert outcomes["customers"].passed and outcomes["phone_numbers"].passed
    assert outcomes["phone_numbers"].success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = dict(con.execute(
            "select suite, count(*) from quality.validation_results where run_id = 'wh-1' group by suite").fetchall())
    assert counts == {"customers": len(outcomes["customers"].expectations),
                      "phone_numbers": len(outcomes["phone_numbers"].expectations)}
